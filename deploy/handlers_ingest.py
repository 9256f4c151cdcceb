"""Handlers of `elflow feed`, `elflow flow` and `elflow deadletters` (wired in deploy/cli.py)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

PROGRESS_SECONDS = 5.0  # how often `flow run` prints a progress line on a terminal


def feed(args: argparse.Namespace) -> int:
    from flows.feed import FeedSpec
    from flows.publisher import describe_kinds, publish_feed
    from schemas.settings import settings

    cfg = settings()
    topic = args.topic or cfg.readings_topic
    spec = FeedSpec(
        metering_points=args.metering_points,
        days=args.days,
        start=args.start,
        seed=args.seed,
        correction_rate=args.correction_rate,
        duplicate_rate=args.duplicate_rate,
        malformed_rate=args.malformed_rate,
    )
    started = time.perf_counter()
    count, kinds = publish_feed(cfg, topic, spec, partitions=args.partitions)
    elapsed = time.perf_counter() - started
    print(f"published {count} documents to {topic} in {elapsed:.1f} s ({describe_kinds(kinds)})")
    return 0


def run(args: argparse.Namespace) -> int:
    """Start the flow, print a start line, progress on a terminal, and a summary at the end.
    SIGTERM/SIGINT stop it like a service (flows.stopping)."""
    import shutil
    import sys
    import tempfile

    from flows.runner import launch
    from flows.stats import progress_line, read_counts, summary_line
    from flows.stopping import FlowSupervisor
    from schemas.cluster import parse_addresses, plan_cluster
    from schemas.settings import settings

    supervisor = FlowSupervisor()  # SIGTERM/SIGINT: forwarded; exit 0 once the flow stopped
    cfg = settings()
    if args.topic:
        dead = cfg.deadletter_topic
        if "deadletter_topic" not in cfg.model_fields_set:
            dead = f"{args.topic}.deadletter"
        cfg = cfg.model_copy(update={"readings_topic": args.topic, "deadletter_topic": dead})
    addresses = parse_addresses(args.addresses) if args.addresses else cfg.flow_address_list()
    process_id = args.process_id if args.process_id is not None else cfg.flow_process_id
    plan = plan_cluster(args.processes, addresses, process_id)

    stats_dir = Path(tempfile.mkdtemp(prefix="elflow-flow-"))
    try:
        started = launch(cfg, plan, until_end=args.until_end, stats_dir=stats_dir)
        print(started.start_line(), flush=True)
        on_terminal = sys.stdout.isatty()
        next_progress = time.monotonic() + PROGRESS_SECONDS

        def progress() -> None:
            nonlocal next_progress
            if on_terminal and time.monotonic() >= next_progress:
                print(progress_line(read_counts(started.stats_files)), flush=True)
                next_progress += PROGRESS_SECONDS

        code = supervisor.wait(started.procs, tick=progress)
        print(summary_line(read_counts(started.stats_files)), flush=True)
        return code
    finally:
        shutil.rmtree(stats_dir, ignore_errors=True)


def reset_offsets(args: argparse.Namespace) -> int:
    from flows.offsets import request_reset
    from schemas.settings import settings

    request, lines = request_reset(settings(), args.to)
    print(f"offset reset {request.generation} recorded; applied when the flow next starts:")
    for line in lines:
        print(f"  {line}")
    return 0


def deadletters_list(args: argparse.Namespace) -> int:
    from flows.replay import format_dead_letter
    from storage.db import connect
    from storage.deadletters import list_dead_letters

    with connect(job="ingest") as conn:
        rows = list_dead_letters(conn, include_resolved=args.all, limit=args.limit)
    if not rows:
        print("no dead letters" if args.all else "no open dead letters")
        return 0
    for row in rows:
        print("\n".join(format_dead_letter(row)))  # escaped: payload text never reaches the tty
    return 0


def deadletters_replay(args: argparse.Namespace) -> int:
    """Readings' dead letters are re-parsed as RSM-012; without --id, master data waiting for an
    earlier document and unreadable master-data documents are retried too (`elflow mp replay`)."""
    from deploy.handlers_mp import mp_replay
    from flows.replay import replay_dead_letters
    from schemas.settings import settings
    from storage.db import connect

    with connect(job="ingest") as conn:
        outcomes = replay_dead_letters(conn, settings(), ids=args.id or None)
    fixed = sum(1 for o in outcomes if o.resolved)
    for outcome in outcomes:
        print(
            f"{outcome.id}  {'resolved' if outcome.resolved else 'still fails'}: {outcome.message}"
        )
    print(f"replayed {len(outcomes)}: {fixed} resolved, {len(outcomes) - fixed} still failing")
    if not args.id:
        print("master data: ", end="")
        mp_replay(args)
    return 0 if fixed == len(outcomes) else 1


def bench_idle(args: argparse.Namespace) -> int:
    from deploy.bench.service import bench_idle as run
    from deploy.bench.service import print_idle

    print_idle(run(args.metering_points, float(args.seconds)))
    return 0


def bench_memory(args: argparse.Namespace) -> int:
    from datetime import date

    from deploy.bench.service import bench_memory as run
    from deploy.bench.service import print_memory, quiet_spec

    spec = quiet_spec(args.metering_points, args.days, date(2026, 10, 1))
    print_memory(spec, run(spec, args.processes), args.processes)
    return 0
