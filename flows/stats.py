"""What `elflow flow run` tells its operator: counts written by each worker, read by the parent.

The workers are separate Bytewax processes. Each writes its counters (the same ones it serves
on /metrics) as a small JSON file, once a second and once more when it exits; the parent reads
the files of the workers it started for the progress line and the summary. A file rather than
the workers' /metrics pages because the counts must survive the worker: the summary is read
after the last worker has exited (and written its final file), and it also works with
ELFLOW_METRICS_PORT=0 and without a port per process to find.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bytewax.dataflow import Dataflow
from prometheus_client.metrics import MetricWrapperBase

from flows import metrics
from schemas.settings import settings

WRITE_SECONDS = 1.0


@dataclass
class Counts:
    """One worker's counters, or the sum over several."""

    documents: int = 0
    readings: int = 0
    readings_written: int = 0
    duplicates: int = 0
    corrections: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    lag: int | None = None  # messages behind the partitions' ends; None until first measured

    def __add__(self, other: Counts) -> Counts:
        dead = dict(self.dead_letters)
        for reason, count in other.dead_letters.items():
            dead[reason] = dead.get(reason, 0) + count
        lags = [lag for lag in (self.lag, other.lag) if lag is not None]
        return Counts(
            documents=self.documents + other.documents,
            readings=self.readings + other.readings,
            readings_written=self.readings_written + other.readings_written,
            duplicates=self.duplicates + other.duplicates,
            corrections=self.corrections + other.corrections,
            dead_letters=dead,
            lag=sum(lags) if lags else None,
        )


def _samples(metric: MetricWrapperBase) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in metric.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]


def _total(metric: MetricWrapperBase) -> int:
    return int(sum(value for _labels, value in _samples(metric)))


def current_counts() -> Counts:
    """This process's counters now (flows.metrics)."""
    lag = _samples(metrics.CONSUMER_LAG)
    return Counts(
        documents=_total(metrics.DOCUMENTS_CONSUMED),
        readings=_total(metrics.READINGS_CONSUMED),
        readings_written=_total(metrics.READINGS_WRITTEN),
        duplicates=_total(metrics.DUPLICATES),
        corrections=_total(metrics.CORRECTIONS),
        dead_letters={
            labels["reason"]: int(value)
            for labels, value in _samples(metrics.DEAD_LETTERS)
            if value
        },
        lag=int(sum(value for _labels, value in lag)) if lag else None,
    )


def write_counts(path: Path, counts: Counts) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(counts.__dict__))
    os.replace(tmp, path)  # the reader never sees half a file


def read_counts(paths: Iterable[Path]) -> Counts:
    """The sum over the workers' files (a worker that has not written yet counts nothing)."""
    total = Counts()
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            continue
        total = total + Counts(**data)
    return total


def _write_forever(path: Path) -> None:
    while True:
        write_counts(path, current_counts())
        time.sleep(WRITE_SECONDS)


def ingest_flow(until_end: bool = False) -> Dataflow:
    """flows.ingest.build_flow, plus the counts file when the runner asked for one."""
    from flows.ingest import build_flow

    flow = build_flow(until_end=until_end)
    path = settings().flow_stats_file
    if path is not None:
        threading.Thread(target=_write_forever, args=(path,), daemon=True).start()
        atexit.register(lambda: write_counts(path, current_counts()))
    return flow


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def progress_line(counts: Counts) -> str:
    lag = "not measured yet" if counts.lag is None else f"{_n(counts.lag)} messages"
    return (
        f"flow: {_n(counts.documents)} documents, {_n(counts.readings)} readings, "
        f"{_n(sum(counts.dead_letters.values()))} dead letters, lag {lag}"
    )


def summary_line(counts: Counts) -> str:
    dead = sum(counts.dead_letters.values())
    reasons = ", ".join(f"{r} {_n(c)}" for r, c in sorted(counts.dead_letters.items()))
    line = (
        f"flow done: {_n(counts.documents)} documents, {_n(counts.readings)} readings "
        f"({_n(counts.readings_written)} written), {_n(counts.duplicates)} duplicates, "
        f"{_n(counts.corrections)} corrections, {_n(dead)} dead letters"
        + (f" ({reasons})" if reasons else "")
    )
    if counts.documents and dead >= counts.documents:
        line += "; every document was dead-lettered: see `elflow deadletters list`"
    return line
