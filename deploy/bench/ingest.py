"""`elflow bench ingest`: end-to-end readings/s (Kafka → flow → hypertable + summaries) beside a
raw binary COPY of the same rows into the same hypertable, in one run.

Prints figures; asserts nothing. Runs in a scratch database and a fresh topic, both removed."""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory

from confluent_kafka.admin import AdminClient

from flows.feed import FeedSpec, generate_feed
from flows.publisher import publish
from flows.runner import start_flow
from schemas.settings import Settings, settings
from storage.db import connect
from storage.readings import METERING_COLUMNS, METERING_TYPES
from storage.scratch import scratch_database

COPY_BATCH = 20_000


@dataclass
class IngestFigures:
    documents: int
    readings: int
    flow_seconds: float
    copy_seconds: float
    rss_samples_mb: list[float]
    # From the first batch written to the last: the rate once the processes are up.
    steady_seconds: float

    @property
    def flow_rate(self) -> float:
        return self.readings / self.flow_seconds

    @property
    def copy_rate(self) -> float:
        return self.readings / self.copy_seconds


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def bench_ingest(spec: FeedSpec, processes: int = 1) -> IngestFigures:
    base = settings()
    with scratch_database() as url, TemporaryDirectory() as tmp:
        topic = f"bench.{uuid.uuid4().hex[:8]}"
        cfg = Settings(
            **{
                **base.model_dump(),
                "database_url": url,
                "readings_topic": topic,
                "deadletter_topic": f"{topic}.dlq",
                "recovery_dir": Path(tmp) / "recovery",
                "metrics_port": 0,
            }
        )
        documents = publish(
            cfg, topic, ((m.key, m.value) for m in generate_feed(spec)), partitions=2
        )
        env = {
            "ELFLOW_DATABASE_URL": url,
            "ELFLOW_READINGS_TOPIC": topic,
            "ELFLOW_DEADLETTER_TOPIC": f"{topic}.dlq",
            "ELFLOW_RECOVERY_DIR": str(cfg.recovery_dir),
        }
        started = time.perf_counter()
        procs = start_flow(cfg, processes=processes, until_end=True, env=env)
        samples: list[float] = []

        def sample() -> None:
            while any(p.poll() is None for p in procs):
                total = sum(_rss_mb(p.pid) or 0.0 for p in procs)
                if total:
                    samples.append(total)
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        codes = [p.wait() for p in procs]
        flow_seconds = time.perf_counter() - started
        sampler.join()
        if any(codes):
            raise RuntimeError(f"flow exited with {codes}")
        with connect(url) as conn:
            span = conn.execute(
                "SELECT extract(epoch FROM max(received_at) - min(received_at)) FROM metering_data"
            ).fetchone()
            rows = conn.execute(f"SELECT {METERING_COLUMNS} FROM metering_data").fetchall()
            conn.execute("TRUNCATE metering_data")
            conn.commit()
            started = time.perf_counter()
            for first in range(0, len(rows), COPY_BATCH):
                with (
                    conn.transaction(),
                    conn.cursor().copy(
                        f"COPY metering_data ({METERING_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.set_types(METERING_TYPES)
                    for row in rows[first : first + COPY_BATCH]:
                        copy.write_row(row)
            copy_seconds = time.perf_counter() - started
        AdminClient(cfg.kafka_client_config()).delete_topics([topic, f"{topic}.dlq"])
        steady = float(span[0]) if span and span[0] else flow_seconds
        return IngestFigures(documents, len(rows), flow_seconds, copy_seconds, samples, steady)


def print_figures(spec: FeedSpec, figures: IngestFigures, processes: int) -> None:
    quarter = max(1, len(figures.rss_samples_mb) // 4)
    rss = figures.rss_samples_mb
    rss_trace = " → ".join(f"{rss[i]:.0f}" for i in range(0, len(rss), quarter)) if rss else "n/a"
    print(
        f"bench ingest: {spec.metering_points} metering points × {spec.days} days, "
        f"{figures.documents} documents, {figures.readings} reading versions, "
        f"{processes} flow process(es), {os.cpu_count()} cores"
    )
    print(
        f"  end to end (Kafka → flow → hypertable + summaries): {figures.flow_seconds:8.1f} s "
        f"{figures.flow_rate:10,.0f} readings/s"
    )
    print(
        f"  of which steady state (first to last batch written): {figures.steady_seconds:8.1f} s "
        f"{figures.readings / figures.steady_seconds:10,.0f} readings/s"
    )
    print(
        f"  raw binary COPY of the same rows, same hypertable:   {figures.copy_seconds:8.1f} s "
        f"{figures.copy_rate:10,.0f} readings/s"
    )
    print(
        f"  ratio end-to-end / raw COPY: {figures.flow_rate / figures.copy_rate:.2f} "
        f"(steady state: {figures.readings / figures.steady_seconds / figures.copy_rate:.2f})"
    )
    print(f"  flow RSS over the run (MB): {rss_trace}; peak {max(rss, default=0):.0f} MB")


def default_spec(metering_points: int, days: int, start: date) -> FeedSpec:
    return FeedSpec(metering_points=metering_points, days=days, start=start, seed=42)
