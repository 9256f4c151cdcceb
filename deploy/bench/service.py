"""`elflow bench idle` and `elflow bench memory`: the flow as a service, measured.

- idle: a caught-up flow (tailing, nothing arriving): CPU of its processes over N seconds
  (utime + stime from /proc/PID/stat), the latency of one document sent while it idles, and
  how long a SIGTERM takes to stop it (and its exit code).
- memory: a backlog published first, then `flow run --until-end`: the flow's RSS sampled every
  second from the first to the last batch; max and a trace.

Both run in a scratch database and on a fresh topic, both removed afterwards. Prints figures;
asserts nothing (benchmarks are commands, not tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory

from confluent_kafka.admin import AdminClient

from flows.feed import FeedSpec, generate_feed
from flows.publisher import publish
from flows.runner import start_flow
from schemas.settings import Settings, settings
from storage.db import connect
from storage.scratch import scratch_database

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0


class RssSampler:
    """The summed RSS (MB) of `procs`, sampled every `interval` seconds in a thread until they
    have all exited; `join` waits for that and returns the samples."""

    def __init__(self, procs: list[subprocess.Popen[bytes]], interval: float) -> None:
        self._samples: list[float] = []
        self._thread = threading.Thread(target=self._run, args=(procs, interval), daemon=True)
        self._thread.start()

    def _run(self, procs: list[subprocess.Popen[bytes]], interval: float) -> None:
        while any(p.poll() is None for p in procs):
            total = sum(rss_mb(p.pid) for p in procs)
            if total:
                self._samples.append(total)
            time.sleep(interval)

    def join(self) -> list[float]:
        self._thread.join()
        return self._samples


def quiet_spec(metering_points: int, days: int, start: date, seed: int = 7) -> FeedSpec:
    """A feed of distinct documents only (no duplicates, corrections or malformed ones), so
    'caught up' is: every document's id is in processed_message_id."""
    return FeedSpec(
        metering_points=metering_points,
        days=days,
        start=start,
        seed=seed,
        correction_rate=0.0,
        duplicate_rate=0.0,
        malformed_rate=0.0,
    )


@dataclass
class Scratch:
    cfg: Settings
    env: dict[str, str]
    url: str


@contextmanager
def scratch_flow() -> Iterator[Scratch]:
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
        env = {
            "ELFLOW_DATABASE_URL": url,
            "ELFLOW_READINGS_TOPIC": topic,
            "ELFLOW_DEADLETTER_TOPIC": f"{topic}.dlq",
            "ELFLOW_RECOVERY_DIR": str(cfg.recovery_dir),
        }
        try:
            yield Scratch(cfg, env, url)
        finally:
            AdminClient(cfg.kafka_client_config()).delete_topics([topic, f"{topic}.dlq"])


def processed_documents(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT count(DISTINCT message_id) FROM processed_message_id").fetchone()
    return int(row[0]) if row else 0


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return False


@dataclass
class IdleFigures:
    documents: int
    seconds: float
    cpu_percent: float
    latency_seconds: float | None
    stop_seconds: float
    exit_codes: list[int | None]
    windows_percent: list[float]
    publish_seconds: float


def bench_idle(metering_points: int, seconds: float) -> IdleFigures:
    spec = quiet_spec(metering_points, 1, date(2026, 10, 1))
    with scratch_flow() as scratch:
        messages = [(m.key, m.value) for m in generate_feed(spec)]
        publish(scratch.cfg, scratch.cfg.readings_topic, messages, partitions=2)
        procs = start_flow(scratch.cfg, until_end=False, env=scratch.env)
        try:
            caught_up = wait_until(
                lambda: processed_documents(scratch.url) >= len(messages), timeout=300
            )
            if not caught_up:
                raise RuntimeError("the flow did not catch up within 300 s")
            time.sleep(2.0)  # let the last snapshot and the lag probe settle
            windows = []
            for _ in range(max(1, round(seconds / 2))):
                before = sum(cpu_seconds(p.pid) for p in procs)
                time.sleep(2.0)
                windows.append(sum(cpu_seconds(p.pid) for p in procs) - before)
            cpu = sum(windows)
            seconds = 2.0 * len(windows)
            # One more document while it idles: how long until it is in the database.
            extra = [
                (m.key, m.value)
                for m in generate_feed(replace(spec, metering_points=1, start=date(2026, 11, 1)))
            ]
            sent = time.monotonic()
            publish(scratch.cfg, scratch.cfg.readings_topic, extra, partitions=2)
            published = time.monotonic()
            arrived = wait_until(
                lambda: processed_documents(scratch.url) >= len(messages) + len(extra), 30, 0.01
            )
            latency = time.monotonic() - published if arrived else None
            publish_seconds = published - sent
            stop_started = time.monotonic()
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [_wait(proc, 60) for proc in procs]
            stopped = time.monotonic() - stop_started
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return IdleFigures(
        len(messages),
        seconds,
        100 * cpu / seconds,
        latency,
        stopped,
        codes,
        [100 * w / 2.0 for w in windows],
        publish_seconds,
    )


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def print_idle(figures: IdleFigures) -> None:
    latency = (
        f"{figures.latency_seconds:.2f} s" if figures.latency_seconds is not None else "> 30 s"
    )
    print(f"bench idle: {figures.documents} documents caught up, {os.cpu_count()} cores")
    print(
        f"  idle CPU of the flow over {figures.seconds:.0f} s: "
        f"{figures.cpu_percent:.1f} % of one core "
        f"(2-s windows: {' '.join(f'{w:.1f}' for w in figures.windows_percent)})"
    )
    print(
        f"  one document sent while idle: in the database {latency} after the producer had "
        f"it acknowledged ({figures.publish_seconds:.2f} s to publish)"
    )
    print(
        f"  SIGTERM to the flow's processes: stopped in {figures.stop_seconds:.1f} s, "
        f"exit codes {figures.exit_codes}"
    )


@dataclass
class MemoryFigures:
    documents: int
    backlog_mb: float
    seconds: float
    exit_codes: list[int]
    samples: list[float] = field(default_factory=list)


def bench_memory(spec: FeedSpec, processes: int = 1) -> MemoryFigures:
    with scratch_flow() as scratch:
        messages = [(m.key, m.value) for m in generate_feed(spec)]
        backlog_mb = sum(len(k) + len(v) for k, v in messages) / 2**20
        publish(scratch.cfg, scratch.cfg.readings_topic, messages, partitions=2)
        count = len(messages)
        del messages
        started = time.monotonic()
        procs = start_flow(scratch.cfg, processes=processes, until_end=True, env=scratch.env)
        sampler = RssSampler(procs, 1.0)
        codes = [p.wait() for p in procs]
        samples = sampler.join()
        return MemoryFigures(count, backlog_mb, time.monotonic() - started, codes, samples)


def print_memory(spec: FeedSpec, figures: MemoryFigures, processes: int) -> None:
    rss = figures.samples
    step = max(1, len(rss) // 8)
    trace = " ".join(f"{rss[i]:.0f}" for i in range(0, len(rss), step)) if rss else "n/a"
    print(
        f"bench memory: {spec.metering_points} metering points × {spec.days} days, "
        f"{figures.documents} documents ({figures.backlog_mb:.0f} MB on the topic, 2 partitions), "
        f"{processes} flow process(es)"
    )
    print(f"  flow run --until-end: {figures.seconds:.1f} s, exit codes {figures.exit_codes}")
    print(f"  RSS every second (MB): {trace}")
    print(f"  RSS max {max(rss, default=0):.0f} MB over {len(rss)} samples")
