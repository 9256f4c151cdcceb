"""The ingest flow's recovery store: Bytewax's partitions plus a marker naming what they belong to.

The store holds the flow's Kafka offsets. Started against a different topic, another cluster
size or another Kafka cluster, it would resume at offsets that mean nothing there (or skip
documents), so the marker file written when the store is created is checked at every start and
a mismatch stops `flow run` in one line.

Bytewax finds the partitions of every process of the cluster and needs each exactly once. On
one machine every process shares one store holding all of them; a process started with
`--addresses` keeps only its share (partition j lives with process j mod size), so each machine
has its own store on its own persistent volume and together they hold the whole set.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from schemas.errors import ElflowError

log = logging.getLogger("flows.store")

MARKER = "elflow-store.json"
MIN_PARTITIONS = 4


class StoreMismatch(ElflowError):
    """The recovery store belongs to another topic, cluster or broker."""


@dataclass(frozen=True)
class StoreIdentity:
    """What a store's offsets are offsets of."""

    topic: str
    cluster_size: int
    process_ids: tuple[int, ...]
    kafka_cluster_id: str | None
    bootstrap: str

    @property
    def partitions(self) -> int:
        return max(MIN_PARTITIONS, self.cluster_size)

    def describe_share(self) -> str:
        if self.process_ids == tuple(range(self.cluster_size)):
            return (
                f"{self.cluster_size} process{'es' if self.cluster_size > 1 else ''} on one machine"
            )
        procs = ",".join(str(i) for i in self.process_ids)
        return f"process {procs} of a {self.cluster_size}-process cluster"

    def describe(self) -> str:
        return (
            f"topic {self.topic}, {self.describe_share()}, "
            f"Kafka cluster {self.kafka_cluster_id or 'unknown'}"
        )


def partition_files(store: Path) -> list[Path]:
    return sorted(store.glob("part-*.sqlite3")) if store.is_dir() else []


def read_marker(store: Path) -> StoreIdentity | None:
    path = store / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return StoreIdentity(
            topic=str(data["topic"]),
            cluster_size=int(data["cluster_size"]),
            process_ids=tuple(int(i) for i in data["process_ids"]),
            kafka_cluster_id=data.get("kafka_cluster_id"),
            bootstrap=str(data.get("bootstrap", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreMismatch(f"recovery store {store}: unreadable {MARKER} ({exc})") from None


def _write_marker(store: Path, identity: StoreIdentity) -> None:
    data = {**asdict(identity), "partitions_here": len(partition_files(store))}
    tmp = store / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, store / MARKER)


def _whole(identity: StoreIdentity) -> bool:
    """A store holding every partition (all processes on one machine share it)."""
    return identity.process_ids == tuple(range(identity.cluster_size))


def check_identity(store: Path, found: StoreIdentity, wanted: StoreIdentity) -> None:
    """Refuse a store made for another topic or Kafka cluster, or for another process of a
    cluster spanning machines (one line). A whole store may change its number of processes:
    Bytewax spreads its partitions over the new workers."""
    same_kafka = (
        found.kafka_cluster_id is None
        or wanted.kafka_cluster_id is None
        or found.kafka_cluster_id == wanted.kafka_cluster_id
    )
    same_share = (_whole(found) and _whole(wanted)) or (
        found.cluster_size == wanted.cluster_size and found.process_ids == wanted.process_ids
    )
    if found.topic == wanted.topic and same_kafka and same_share:
        return
    differences = []
    if found.topic != wanted.topic:
        differences.append(f"topic {found.topic}, not {wanted.topic}")
    if not same_share:
        differences.append(f"{found.describe_share()}, not {wanted.describe_share()}")
    if not same_kafka:
        differences.append(f"Kafka cluster {found.kafka_cluster_id}, not {wanted.kafka_cluster_id}")
    raise StoreMismatch(
        f"recovery store {store} belongs to {'; '.join(differences)}: "
        "point ELFLOW_DATA_DIR (or ELFLOW_RECOVERY_DIR) at this flow's own store"
    )


def check_store(store: Path, wanted: StoreIdentity) -> None:
    """Refuse a store made for something else, before anything is created for this run."""
    found = read_marker(store)
    if found is not None:
        check_identity(store, found, wanted)


def open_store(store: Path, identity: StoreIdentity) -> bool:
    """Check the store, or create it if it has no partitions yet; True when created now."""
    check_store(store, identity)
    found = read_marker(store)
    if partition_files(store):
        if found != identity:  # made before stores had markers, or rescaled on one machine
            log.info("recording what recovery store %s belongs to: %s", store, identity.describe())
            _write_marker(store, identity)
        return False
    _create(store, identity)
    return True


def _create(store: Path, identity: StoreIdentity) -> None:
    """Init every partition in a scratch directory beside the store, keep this machine's share,
    then move them in and write the marker last (a store with partitions but no marker is one
    that was interrupted here, and is adopted)."""
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.parent, prefix=f".{store.name}.new-") as scratch:
        init_partitions(Path(scratch), identity.partitions)
        for part in partition_files(Path(scratch)):
            index = int(part.stem.removeprefix("part-"))
            if index % identity.cluster_size in identity.process_ids:
                shutil.move(part, store / part.name)
    _write_marker(store, identity)


def init_partitions(directory: Path, count: int) -> None:
    """Bytewax's own initialisation of `count` empty partitions in an existing directory."""
    subprocess.run(
        [sys.executable, "-m", "bytewax.recovery", str(directory), str(count)],
        check=True,
        capture_output=True,
    )
