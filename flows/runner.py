"""Start the ingest dataflow as Bytewax processes, with recovery on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

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
    """Create Bytewax's recovery store once; later runs resume from it."""
    if recovery_dir.exists() and any(recovery_dir.iterdir()):
        return
    recovery_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "bytewax.recovery", str(recovery_dir), str(RECOVERY_PARTITIONS)],
        check=True,
        capture_output=True,
    )


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
) -> list[list[str]]:
    """The command line of each Bytewax process of the flow `target` (module:function(...))."""
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
) -> list[subprocess.Popen[bytes]]:
    """Start one process per command; with `log_dir`, process i logs to `<log_name>-i.log`."""
    procs = []
    for index, command in enumerate(commands):
        out = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            out = (log_dir / f"{log_name}-{index}.log").open("ab")
        procs.append(
            subprocess.Popen(
                command,
                env={**os.environ, **env_of(index)},
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
            )
        )
    return procs


def start_flow(
    cfg: Settings,
    *,
    processes: int = 1,
    until_end: bool = False,
    cluster_ports: list[int] | None = None,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start the flow's processes and return them (the caller waits or stops them by PID)."""
    ensure_topic(cfg, cfg.readings_topic, partitions=max(2, processes))
    ensure_topic(cfg, cfg.deadletter_topic, partitions=1)
    ensure_recovery(cfg.recovery_dir)
    commands = flow_commands(
        f"flows.ingest:build_flow(until_end={until_end})",
        cfg.recovery_dir,
        processes,
        cluster_ports,
    )

    def env_of(index: int) -> dict[str, str]:
        port = str(cfg.metrics_port + index) if cfg.metrics_port else "0"
        return {**(env or {}), "ELFLOW_METRICS_PORT": port}

    return start_processes(commands, log_name="flow", env_of=env_of, log_dir=log_dir)
