"""Start the ingest dataflow as Bytewax processes, with recovery on.

On one machine (`--processes N`) every process runs here on loopback ports; across machines
(`--addresses`, schemas.cluster) each `flow run` starts its own process of the cluster. Either
way the recovery store is checked against the topic and cluster first (flows.store).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from flows.store import StoreIdentity, check_store, init_partitions, open_store
from schemas.cluster import ClusterPlan
from schemas.settings import Settings

# Bytewax snapshots every SNAPSHOT_SECONDS; after a crash at most that much input is replayed.
SNAPSHOT_SECONDS = 2
RECOVERY_PARTITIONS = 4


def quiet_client_config(cfg: Settings, **extra: str) -> dict[str, str | int | float | bool]:
    """Settings for a short-lived client of a command: librdkafka's own log lines (one per
    reconnect attempt) are silenced, because the command reports a failure in one line itself."""
    return {"log_level": 2, **cfg.kafka_client_config(**extra)}


def ensure_topic(cfg: Settings, topic: str, partitions: int) -> None:
    """Create the topic if it does not exist (an existing topic is left as it is)."""
    admin = AdminClient(quiet_client_config(cfg))
    if topic in admin.list_topics(timeout=15).topics:
        return
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    )
    try:
        futures[topic].result(timeout=30)
    except Exception as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def ensure_recovery(recovery_dir: Path) -> None:
    """Create a Bytewax recovery store without a marker once (the master-data flow's)."""
    if recovery_dir.exists() and any(recovery_dir.iterdir()):
        return
    recovery_dir.mkdir(parents=True, exist_ok=True)
    init_partitions(recovery_dir, RECOVERY_PARTITIONS)


def free_ports(count: int) -> list[int]:
    """Loopback ports that are free now (held open together, so they are distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def flow_commands(
    target: str,
    recovery_dir: Path,
    processes: int,
    ports: list[int] | None = None,
    plan: ClusterPlan | None = None,
) -> list[list[str]]:
    """The command line of each Bytewax process of the flow `target` (module:function(...));
    with a `plan` spanning machines, only this machine's process, told every address."""
    common = [
        sys.executable,
        "-m",
        "bytewax.run",
        target,
        "-r",
        str(recovery_dir),
        "-s",
        str(SNAPSHOT_SECONDS),
        "-b",
        "0",
    ]
    if plan is not None and plan.spans_machines:
        everyone = ";".join(plan.addresses)
        return [[*common, "-i", str(pid), "-a", everyone] for pid in plan.local]
    if processes == 1:
        return [common]
    addresses = ";".join(f"127.0.0.1:{port}" for port in (ports or free_ports(processes)))
    return [[*common, "-i", str(i), "-a", addresses] for i in range(processes)]


def start_processes(
    commands: list[list[str]],
    *,
    log_name: str,
    env_of: Callable[[int], dict[str, str]] = lambda _index: {},
    log_dir: Path | None = None,
    stdout_to_stderr: bool = False,
) -> list[subprocess.Popen[bytes]]:
    """Start one process per command; with `log_dir`, process i logs to `<log_name>-i.log`;
    else with `stdout_to_stderr` whatever they print goes to our stderr (stdout stays ours)."""
    procs = []
    for index, command in enumerate(commands):
        out: IO[bytes] | int | None = 2 if stdout_to_stderr else None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            out = (log_dir / f"{log_name}-{index}.log").open("ab")
        procs.append(
            subprocess.Popen(
                command,
                env={**os.environ, **env_of(index)},
                stdout=out,
                stderr=subprocess.STDOUT if log_dir is not None else None,
            )
        )
    return procs


@dataclass(frozen=True)
class FlowStart:
    """The started flow: its processes and what the start line names."""

    procs: list[subprocess.Popen[bytes]]
    plan: ClusterPlan
    topic: str
    deadletter_topic: str
    partitions: int
    recovery_dir: Path
    store_created: bool
    stats_files: list[Path]

    def start_line(self) -> str:
        store = "new" if self.store_created else "resumed"
        return (
            f"flow start: topic {self.topic} ({self.partitions} partitions, dead letters to "
            f"{self.deadletter_topic}), {self.plan.describe()}, recovery {self.recovery_dir} "
            f"({store})"
        )


def topic_facts(cfg: Settings, topic: str) -> tuple[int, str | None]:
    """The topic's partition count and the Kafka cluster's id (None if the broker has none)."""
    # All topics, not list_topics(topic=…): asking for one topic creates it on brokers that
    # auto-create, and a refused start must leave nothing behind.
    meta = AdminClient(quiet_client_config(cfg)).list_topics(timeout=15)
    partitions = len(meta.topics[topic].partitions) if topic in meta.topics else 0
    return partitions, meta.cluster_id or None


def launch(
    cfg: Settings,
    plan: ClusterPlan,
    *,
    until_end: bool = False,
    stats_dir: Path | None = None,
    cluster_ports: list[int] | None = None,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
) -> FlowStart:
    """Check or create the recovery store for this topic and cluster, then start this machine's
    processes of the flow; with `stats_dir` each writes its counts there (flows.stats)."""
    _partitions, kafka_cluster = topic_facts(cfg, cfg.readings_topic)
    identity = StoreIdentity(
        topic=cfg.readings_topic,
        cluster_size=plan.size,
        process_ids=plan.local if plan.spans_machines else tuple(range(plan.size)),
        kafka_cluster_id=kafka_cluster,
        bootstrap=cfg.kafka_bootstrap,
    )
    check_store(cfg.recovery_dir, identity)  # before this run creates any topic
    ensure_topic(cfg, cfg.readings_topic, partitions=max(2, plan.size))
    ensure_topic(cfg, cfg.deadletter_topic, partitions=1)
    partitions, _cluster = topic_facts(cfg, cfg.readings_topic)
    created = open_store(cfg.recovery_dir, identity)
    commands = flow_commands(
        f"flows.stats:ingest_flow(until_end={until_end})",
        cfg.recovery_dir,
        plan.size,
        cluster_ports,
        plan,
    )
    stats_files = [stats_dir / f"flow-{pid}.json" for pid in plan.local] if stats_dir else []

    def env_of(index: int) -> dict[str, str]:
        pid = plan.local[index]
        port = str(cfg.metrics_port + pid) if cfg.metrics_port else "0"
        worker = {
            **(env or {}),
            "ELFLOW_METRICS_PORT": port,
            "ELFLOW_DATA_DIR": str(cfg.data_dir),
            "ELFLOW_RECOVERY_DIR": str(cfg.recovery_dir),
            "ELFLOW_READINGS_TOPIC": cfg.readings_topic,
            "ELFLOW_DEADLETTER_TOPIC": cfg.deadletter_topic,
        }
        if stats_files:
            worker["ELFLOW_FLOW_STATS_FILE"] = str(stats_files[index])
        return worker

    procs = start_processes(
        commands, log_name="flow", env_of=env_of, log_dir=log_dir, stdout_to_stderr=True
    )
    return FlowStart(
        procs=procs,
        plan=plan,
        topic=cfg.readings_topic,
        deadletter_topic=cfg.deadletter_topic,
        partitions=partitions,
        recovery_dir=cfg.recovery_dir,
        store_created=created,
        stats_files=stats_files,
    )


def start_flow(
    cfg: Settings,
    *,
    processes: int = 1,
    until_end: bool = False,
    cluster_ports: list[int] | None = None,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start the flow's processes on this machine and return them (the caller waits or stops
    them by PID)."""
    plan = ClusterPlan(size=processes, local=tuple(range(processes)))
    started = launch(
        cfg, plan, until_end=until_end, cluster_ports=cluster_ports, env=env, log_dir=log_dir
    )
    return started.procs
