"""The flow's cluster options, its recovery store's identity and data directory, and the lines
`flow run` prints: no broker, no database (the flows themselves: tests/test_flow_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.stats import Counts, progress_line, summary_line
from flows.store import (
    MARKER,
    StoreIdentity,
    StoreMismatch,
    check_identity,
    open_store,
    partition_files,
    read_marker,
)
from schemas.cluster import ClusterError, ClusterPlan, parse_addresses, plan_cluster
from schemas.settings import ConfigError, Settings, load_settings

TWO = ("10.0.0.1:2101", "10.0.0.2:2101")


@pytest.mark.parametrize(
    ("processes", "addresses", "process_id", "plan"),
    [
        (None, (), None, ClusterPlan(size=1, local=(0,))),
        (3, (), None, ClusterPlan(size=3, local=(0, 1, 2))),
        (None, TWO, 1, ClusterPlan(size=2, local=(1,), addresses=TWO)),
        (2, TWO, 0, ClusterPlan(size=2, local=(0,), addresses=TWO)),
    ],
)
def test_cluster_plans(
    processes: int | None, addresses: tuple[str, ...], process_id: int | None, plan: ClusterPlan
) -> None:
    assert plan_cluster(processes, addresses, process_id) == plan


@pytest.mark.parametrize(
    ("processes", "addresses", "process_id", "message"),
    [
        (None, (), 0, "--process-id needs --addresses"),
        (None, TWO, None, "give --process-id (0 to 1)"),
        (None, TWO, 2, "process id 2 is out of range: the cluster has 2 processes"),
        (None, TWO, -1, "process id -1 is out of range"),
        (3, TWO, 0, "--processes 3 does not match the 2 addresses"),
    ],
)
def test_cluster_options_that_do_not_fit_are_one_line(
    processes: int | None, addresses: tuple[str, ...], process_id: int | None, message: str
) -> None:
    with pytest.raises(ClusterError) as caught:
        plan_cluster(processes, addresses, process_id)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_addresses_parse_host_port_lists() -> None:
    assert parse_addresses(" a:1, b.example:65535 ,[::1]:2101") == (
        "a:1",
        "b.example:65535",
        "[::1]:2101",
    )
    assert parse_addresses("") == ()
    for bad, message in [
        ("a", "is not host:port"),
        (":1", "is not host:port"),
        ("a:0", "port must be a number from 1 to 65535"),
        ("a:x", "port must be"),
        ("::1:2101", "IPv6 host in brackets"),
        ("a:1,a:1", "named twice"),
    ]:
        with pytest.raises(ClusterError, match=message):
            parse_addresses(bad)


def test_a_bad_addresses_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELFLOW_FLOW_ADDRESSES", "a:1,b")
    with pytest.raises(ConfigError, match=r"^bad setting ELFLOW_FLOW_ADDRESSES: .*'b' is not"):
        load_settings()


def test_the_store_is_the_same_absolute_path_from_any_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ELFLOW_DATA_DIR", raising=False)
    monkeypatch.delenv("ELFLOW_RECOVERY_DIR", raising=False)
    stores = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        stores.append(Settings().recovery_dir)
    assert stores[0] == stores[1]
    assert stores[0].is_absolute()
    assert stores[0] == Path(__file__).resolve().parents[1] / ".local" / "recovery"

    # A relative data dir is anchored where it is read, once: later cwd changes do not move it.
    monkeypatch.setenv("ELFLOW_DATA_DIR", "state")
    monkeypatch.setenv("ELFLOW_RECOVERY_DIR", "offsets")
    cfg = Settings()
    monkeypatch.chdir(tmp_path / "a")
    assert cfg.recovery_dir == tmp_path / "b" / "state" / "offsets"
    monkeypatch.setenv("ELFLOW_RECOVERY_DIR", str(tmp_path / "elsewhere"))
    assert Settings().recovery_dir == tmp_path / "elsewhere"


def _identity(
    topic: str = "t", size: int = 1, ids: tuple[int, ...] = (0,), kafka: str | None = "K"
) -> StoreIdentity:
    return StoreIdentity(topic, size, ids, kafka, "broker:9092")


@pytest.mark.parametrize(
    ("found", "wanted", "refused"),
    [
        (_identity(), _identity(), None),
        (_identity(kafka=None), _identity(), None),  # a broker without a cluster id
        (_identity(), _identity(size=3, ids=(0, 1, 2)), None),  # one machine, rescaled
        (_identity(), _identity(topic="u"), "topic t, not u"),
        (_identity(), _identity(kafka="L"), "Kafka cluster K, not L"),
        (
            _identity(size=2, ids=(0,)),
            _identity(size=2, ids=(1,)),
            "process 0 of a 2-process cluster, not process 1 of a 2-process cluster",
        ),
        (
            _identity(size=2, ids=(0,)),
            _identity(size=3, ids=(0,)),
            "process 0 of a 2-process cluster, not process 0 of a 3-process cluster",
        ),
        (_identity(), _identity(size=2, ids=(0,)), "1 process on one machine, not process 0"),
    ],
)
def test_a_store_refuses_another_topic_kafka_cluster_or_share(
    found: StoreIdentity, wanted: StoreIdentity, refused: str | None, tmp_path: Path
) -> None:
    if refused is None:
        check_identity(tmp_path, found, wanted)
        return
    with pytest.raises(StoreMismatch) as caught:
        check_identity(tmp_path, found, wanted)
    message = str(caught.value)
    assert message.startswith(f"recovery store {tmp_path} belongs to ")
    assert refused in message
    assert "\n" not in message


def test_a_process_of_a_cluster_keeps_its_share_of_the_partitions(tmp_path: Path) -> None:
    shares = []
    for pid in (0, 1, 2):
        store = tmp_path / f"machine-{pid}"
        assert open_store(store, _identity(size=3, ids=(pid,)))
        shares.append({p.name for p in partition_files(store)})
        assert read_marker(store) == _identity(size=3, ids=(pid,))
    assert shares == [
        {"part-0.sqlite3", "part-3.sqlite3"},
        {"part-1.sqlite3"},
        {"part-2.sqlite3"},
    ]
    # Opening again resumes; another share is refused.
    assert not open_store(tmp_path / "machine-1", _identity(size=3, ids=(1,)))
    with pytest.raises(StoreMismatch):
        open_store(tmp_path / "machine-1", _identity(size=3, ids=(2,)))


def test_a_store_without_a_marker_is_adopted(tmp_path: Path) -> None:
    assert open_store(tmp_path / "s", _identity())
    (tmp_path / "s" / MARKER).unlink()  # as stores were made before markers
    assert not open_store(tmp_path / "s", _identity(topic="older"))
    assert read_marker(tmp_path / "s") == _identity(topic="older")


def test_progress_and_summary_lines() -> None:
    one = Counts(documents=1200, readings=115_200, dead_letters={"bad_json": 2}, lag=None)
    two = Counts(
        documents=34,
        readings=3264,
        readings_written=118_000,
        duplicates=3,
        corrections=7,
        dead_letters={"bad_json": 1, "unknown_resolution": 4},
        lag=12,
    )
    both = one + two
    assert progress_line(one) == (
        "flow: 1 200 documents, 115 200 readings, 2 dead letters, lag not measured yet"
    )
    assert progress_line(both) == (
        "flow: 1 234 documents, 118 464 readings, 7 dead letters, lag 12 messages"
    )
    assert summary_line(both) == (
        "flow done: 1 234 documents, 118 464 readings (118 000 written), 3 duplicates, "
        "7 corrections, 7 dead letters (bad_json 3, unknown_resolution 4)"
    )
    assert summary_line(Counts()) == (
        "flow done: 0 documents, 0 readings (0 written), 0 duplicates, 0 corrections, "
        "0 dead letters"
    )
    assert summary_line(Counts(documents=2, dead_letters={"bad_json": 2})).endswith(
        "2 dead letters (bad_json 2); every document was dead-lettered: see "
        "`elflow deadletters list`"
    )
