"""`elflow flow run` as an operator runs it: real broker, real Bytewax processes, real TimescaleDB.

Two processes started separately with --addresses form one cluster; the recovery store lives
under the data directory whatever the working directory, and refuses another topic; the start
line and the summary name what happened."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from flows.feed import FeedSpec, generate_feed
from flows.publisher import publish
from flows.runner import free_ports
from flows.store import partition_files, read_marker
from schemas.rsm012 import InvalidDocument, document_readings, parse_document
from schemas.settings import settings
from storage.db import connect
from tests.oracle import database_current, database_summaries, expected_from

pytestmark = pytest.mark.services

SPEC = FeedSpec(
    metering_points=40,
    days=3,
    start=date(2026, 10, 24),  # spans the 25-hour day
    seed=14,
    correction_rate=0.05,
    duplicate_rate=0.05,
    malformed_rate=0.03,
)
MESSAGES = [(m.key, m.value) for m in generate_feed(SPEC)]
ROOT = Path(__file__).resolve().parents[1]


def _flow_run(
    *args: str, data_dir: Path | None, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    environment = {**os.environ, "ELFLOW_METRICS_PORT": "0", "PYTHONPATH": str(ROOT)}
    environment.pop("ELFLOW_RECOVERY_DIR", None)
    environment.pop("ELFLOW_DATA_DIR", None)
    if data_dir is not None:
        environment["ELFLOW_DATA_DIR"] = str(data_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "flow", "run", "--until-end", *args],
        cwd=cwd,
        env={**environment, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, list[str], str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out.splitlines(), err


def _summary(lines: list[str]) -> dict[str, int]:
    """The numbers of the `flow done:` line, by what they count."""
    (line,) = [x for x in lines if x.startswith("flow done:")]
    counts = {
        name: int(number.replace(" ", ""))
        for number, name in re.findall(
            r"(\d[\d ]*) (documents|readings|written|duplicates|corrections|dead letters)", line
        )
    }
    for reason, number in re.findall(r"([a-z_]+) (\d[\d ]*)(?=[,)])", line):
        counts[f"reason:{reason}"] = int(number.replace(" ", ""))
    return counts


def _feed_facts() -> tuple[int, int, int]:
    """From the feed itself: readings in its readable messages (each delivery counts),
    deliveries of a transaction after its first, and how many transactions could be a
    correction at most (a later transaction starting at a slot another one starts at)."""
    readings = deliveries = 0
    firsts: dict[tuple[str, str], tuple[str, object]] = {}
    for _key, value in MESSAGES:
        try:
            document = parse_document(value)
        except InvalidDocument:
            continue
        points = document_readings(document)
        readings += len(points)
        for point in points:
            firsts.setdefault((point.document_id, point.transaction_id), (point.gsrn, point.ts))
        deliveries += len(document.series)
    starts = Counter(firsts.values())
    return readings, deliveries - len(firsts), sum(n - 1 for n in starts.values())


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}


def test_two_processes_started_separately_consume_one_topic_exactly_once(
    db: str, topic: str, tmp_path: Path
) -> None:
    cfg = settings()
    publish(cfg, topic, MESSAGES, partitions=4)
    addresses = ",".join(f"127.0.0.1:{port}" for port in free_ports(2))
    procs = [
        _flow_run(
            "--topic",
            topic,
            "--addresses",
            addresses,
            "--process-id",
            str(i),
            data_dir=tmp_path / f"machine-{i}",
            cwd=tmp_path,
        )
        for i in (0, 1)
    ]
    results = [_finish(proc) for proc in procs]
    assert [code for code, _out, _err in results] == [0, 0], [err[-2000:] for *_r, err in results]

    expected = expected_from(value for _key, value in MESSAGES)
    with connect(db) as conn:
        assert database_summaries(conn) == expected.summaries()
        assert database_current(conn) == {k: r.quantity for k, r in expected.current.items()}
        assert conn.execute("SELECT count(*) FROM metering_data").fetchone() == (expected.versions,)
        assert conn.execute("SELECT count(*) FROM dead_letter_message").fetchone() == (
            expected.dead_letters,
        )
        reasons: dict[str, int] = dict(
            conn.execute("SELECT reason_code, count(*) FROM dead_letter_message GROUP BY 1")
        )

    # Each machine's store holds its share of the partitions; together every one once.
    shares = [
        {p.name for p in partition_files(tmp_path / f"machine-{i}" / "recovery")} for i in (0, 1)
    ]
    assert shares == [{"part-0.sqlite3", "part-2.sqlite3"}, {"part-1.sqlite3", "part-3.sqlite3"}]
    # stdout is only our lines (Bytewax's "error connecting to worker … retrying" goes to stderr).
    assert [[x.split(":")[0] for x in out] for _c, out, _e in results] == [
        ["flow start", "flow done"]
    ] * 2
    starts = [[x for x in out if x.startswith("flow start:")] for _c, out, _e in results]
    for i, (line,) in enumerate(starts):
        assert f"topic {topic} (4 partitions" in line
        assert f"2 processes, this is process {i} at {addresses.split(',')[i]}" in line
        assert str(tmp_path / f"machine-{i}" / "recovery") in line

    # The two summaries add up to the whole topic.
    total = _add(_summary(results[0][1]), _summary(results[1][1]))
    assert total["documents"] == len(MESSAGES)
    assert total["written"] == expected.versions
    assert total["dead letters"] == expected.dead_letters
    assert {k.removeprefix("reason:"): v for k, v in total.items() if ":" in k} == reasons


def test_summary_counts_what_the_database_holds_and_a_rerun_from_elsewhere_resumes(
    db: str, topic: str, tmp_path: Path
) -> None:
    cfg = settings()
    publish(cfg, topic, MESSAGES, partitions=2)
    data = tmp_path / "data"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # A relative recovery dir lies under the data dir, whichever directory the command runs in.
    relative = {"ELFLOW_RECOVERY_DIR": "store"}
    code, out, err = _finish(
        _flow_run("--topic", topic, data_dir=data, cwd=tmp_path / "a", env=relative)
    )
    assert code == 0, err[-2000:]
    assert out[0] == (
        f"flow start: topic {topic} (2 partitions, dead letters to {topic}.deadletter), "
        f"1 process (all here), recovery {data / 'store'} (new)"
    )
    assert not any(line.startswith("flow:") for line in out)  # no progress lines when piped
    expected = expected_from(value for _key, value in MESSAGES)
    readings, duplicates, corrections_at_most = _feed_facts()
    with connect(db) as conn:
        dead: dict[str, int] = dict(
            conn.execute("SELECT reason_code, count(*) FROM dead_letter_message GROUP BY 1")
        )
    counts = _summary(out)
    assert counts["documents"] == len(MESSAGES)
    assert counts["readings"] == readings
    assert counts["written"] == expected.versions
    assert counts["duplicates"] == duplicates > 0
    assert counts["corrections"] <= corrections_at_most
    assert counts["dead letters"] == sum(dead.values()) == expected.dead_letters > 0
    assert {k.removeprefix("reason:"): v for k, v in counts.items() if ":" in k} == dead
    assert read_marker(data / "store") is not None

    code, out, err = _finish(
        _flow_run("--topic", topic, data_dir=data, cwd=tmp_path / "b", env=relative)
    )
    assert code == 0, err[-2000:]
    assert out[0].endswith(f"recovery {data / 'store'} (resumed)")
    assert _summary(out)["documents"] == 0  # every offset was kept: nothing read twice


def test_every_document_dead_lettered_is_said_and_a_store_of_another_topic_is_refused(
    db: str, topic: str, tmp_path: Path
) -> None:
    cfg = settings()
    garbage = [(f"doc-{i}".encode(), b"{not json" + bytes([i])) for i in range(3)]
    publish(cfg, topic, garbage, partitions=1)
    data = tmp_path / "data"
    code, out, err = _finish(_flow_run("--topic", topic, data_dir=data, cwd=tmp_path))
    assert code == 0, err[-2000:]
    counts = _summary(out)
    assert counts["documents"] == counts["dead letters"] == 3
    assert out[-1].endswith("every document was dead-lettered: see `elflow deadletters list`")
    marker = read_marker(data / "recovery")
    assert marker is not None and marker.topic == topic and marker.cluster_size == 1

    other = f"{topic}.other"
    code, out, err = _finish(_flow_run("--topic", other, data_dir=data, cwd=tmp_path))
    assert code == 2
    assert out == []
    assert err.count("\n") == 1, err
    assert err.startswith(f"elflow: recovery store {data / 'recovery'} belongs to topic {topic}")
    # Refused before anything was made for the other topic.
    assert other not in AdminClient(cfg.kafka_client_config()).list_topics(timeout=10).topics
