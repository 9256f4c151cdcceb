"""`elflow bench ingest`: end-to-end readings/s (Kafka → flow → hypertable + summaries) beside a
raw binary COPY of the same rows into the same hypertable, in one run.

Prints figures; asserts nothing. Runs in a scratch database and a fresh topic, both removed."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from datetime import date

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from deploy.bench.service import RssSampler, rss_mb, scratch_flow
from flows.feed import FeedSpec, generate_feed
from flows.ingest import CONSUMER_DEFAULTS
from flows.publisher import publish
from flows.runner import start_flow
from schemas.settings import Settings
from storage.blocks import BLOCK_COLUMNS, BLOCK_TYPES, BLOCK_VERSIONS_SQL
from storage.db import Conn, connect

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
    # hypertable_size (heap, indexes, TOAST of every chunk) ÷ reading versions, after the flow
    # wrote them and after the raw COPY wrote them again into an empty hypertable.
    bytes_per_reading_flow: float = 0.0
    bytes_per_reading_copy: float = 0.0
    # RSS a bare consumer with the flow's settings gains from the backlog alone (see
    # consumer_backlog_mb); None when its fetch failed.
    consumer_backlog_mb: float | None = None
    # CPU seconds (user + system) of the flow's processes: unlike wall time, not inflated by
    # other work on a shared machine.
    flow_cpu_seconds: float = 0.0

    @property
    def flow_rate(self) -> float:
        return self.readings / self.flow_seconds

    @property
    def copy_rate(self) -> float:
        return self.readings / self.copy_seconds


def bench_ingest(spec: FeedSpec, processes: int = 1) -> IngestFigures:
    with scratch_flow() as scratch:
        cfg, url, env = scratch.cfg, scratch.url, scratch.env
        topic = cfg.readings_topic
        documents = publish(
            cfg, topic, ((m.key, m.value) for m in generate_feed(spec)), partitions=2
        )
        backlog_mb = consumer_backlog_mb(cfg, topic)
        cpu_before = _children_cpu()
        started = time.perf_counter()
        procs = start_flow(cfg, processes=processes, until_end=True, env=env)
        sampler = RssSampler(procs, 0.5)
        codes = [p.wait() for p in procs]
        flow_seconds = time.perf_counter() - started
        flow_cpu = _children_cpu() - cpu_before
        samples = sampler.join()
        if any(codes):
            raise RuntimeError(f"flow exited with {codes}")
        with connect(url) as conn:
            span = conn.execute(
                "SELECT extract(epoch FROM max(received_at) - min(received_at)) FROM metering_block"
            ).fetchone()
            flow_bytes = _store_bytes(conn)
            # The same day blocks the flow wrote (storage.blocks), copied back in.
            rows = conn.execute(f"SELECT {BLOCK_COLUMNS} FROM metering_block").fetchall()
            versions = conn.execute(
                f"SELECT sum({BLOCK_VERSIONS_SQL.format(q='quality')}) FROM metering_block"
            ).fetchone()
            conn.execute("TRUNCATE metering_block")
            conn.commit()
            started = time.perf_counter()
            for first in range(0, len(rows), COPY_BATCH):
                with (
                    conn.transaction(),
                    conn.cursor().copy(
                        f"COPY metering_block ({BLOCK_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.set_types(BLOCK_TYPES)
                    for row in rows[first : first + COPY_BATCH]:
                        copy.write_row(row)
            copy_seconds = time.perf_counter() - started
            copy_bytes = _store_bytes(conn)
        steady = float(span[0]) if span and span[0] else flow_seconds
        readings = max(1, int(versions[0]) if versions and versions[0] else 0)
        return IngestFigures(
            documents,
            readings,
            flow_seconds,
            copy_seconds,
            samples,
            steady,
            flow_bytes / readings,
            copy_bytes / readings,
            backlog_mb,
            flow_cpu,
        )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def consumer_backlog_mb(cfg: Settings, topic: str, seconds: float = 3.0) -> float | None:
    """How much RSS consumers configured like the flow's (one per partition, as Bytewax's
    KafkaSource has) gain by fetching `topic` from the start without handing anything on: what
    the client library holds of the backlog. With a broker that honours the fetch limits this
    stays near queued.max.messages.kbytes per partition. None when a fetch failed."""
    config = {
        **cfg.kafka_client_config(),
        **CONSUMER_DEFAULTS,
        **{k: str(v) for k, v in cfg.kafka_config.items()},
        "group.id": "elflow-bench-backlog",
        "enable.auto.commit": "false",
        "error_cb": lambda _err: None,
    }
    probe = Consumer(config)
    partitions = list(probe.list_topics(topic, timeout=10).topics[topic].partitions)
    probe.close()
    consumers = []
    try:
        before = rss_mb(os.getpid())
        fetched = True
        for partition in partitions:
            consumer = Consumer(config)
            consumers.append(consumer)
            consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
            got = consumer.consume(1, timeout=seconds)
            fetched = fetched and bool(got) and got[0].error() is None
        time.sleep(seconds)
        after = rss_mb(os.getpid())
    finally:
        for consumer in consumers:
            consumer.close()
    return after - before if fetched else None


def _store_bytes(conn: Conn) -> int:
    """Bytes the readings take on disk: every chunk's heap, indexes and TOAST."""
    row = conn.execute("SELECT hypertable_size('metering_block')").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


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
        f"  flow CPU (user + system): {figures.flow_cpu_seconds:.1f} s, "
        f"{figures.flow_cpu_seconds * 1e6 / max(1, figures.readings):.1f} µs per reading"
    )
    print(
        f"  raw binary COPY of the same day blocks, same table:  {figures.copy_seconds:8.1f} s "
        f"{figures.copy_rate:10,.0f} readings/s"
    )
    print(
        f"  ratio end-to-end / raw COPY: {figures.flow_rate / figures.copy_rate:.2f} "
        f"(steady state: {figures.readings / figures.steady_seconds / figures.copy_rate:.2f})"
    )
    print(f"  flow RSS over the run (MB): {rss_trace}; peak {max(rss, default=0):.0f} MB")
    backlog = figures.consumer_backlog_mb
    print(
        "  of which bare consumers (one per partition) holding the backlog: "
        + (f"{backlog:.0f} MB" if backlog is not None else "its fetch failed")
    )
    print(
        f"  store: {figures.bytes_per_reading_flow:.1f} bytes per reading as the flow wrote it, "
        f"{figures.bytes_per_reading_copy:.1f} after the raw COPY (table + indexes)"
    )


def default_spec(metering_points: int, days: int, start: date) -> FeedSpec:
    return FeedSpec(metering_points=metering_points, days=days, start=start, seed=42)
