"""Handlers of `elflow feed`, `elflow flow` and `elflow deadletters` (wired in deploy/cli.py)."""

from __future__ import annotations

import argparse
import time


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
    from flows.runner import start_flow
    from flows.stopping import FlowSupervisor
    from schemas.settings import settings

    supervisor = FlowSupervisor()  # SIGTERM/SIGINT: forwarded; exit 0 once the flow stopped
    procs = start_flow(settings(), processes=args.processes, until_end=args.until_end)
    return supervisor.wait(procs)


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
