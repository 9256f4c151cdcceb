"""Subcommands beyond the schema and stack ones; each registers itself in REGISTRY."""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable
from datetime import date
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.feed import FeedSpec

Registrar = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]

REGISTRY: list[Registrar] = []


def register(fn: Registrar) -> Registrar:
    REGISTRY.append(fn)
    return fn


def _feed_spec_args(parser: argparse.ArgumentParser, *, points: int, days: int) -> None:
    parser.add_argument("--metering-points", type=int, default=points)
    parser.add_argument("--days", type=int, default=days)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 10, 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--correction-rate", type=float, default=0.02)
    parser.add_argument("--duplicate-rate", type=float, default=0.01)
    parser.add_argument("--malformed-rate", type=float, default=0.005)


def _feed_spec(args: argparse.Namespace) -> FeedSpec:
    from flows.feed import FeedSpec

    return FeedSpec(
        metering_points=args.metering_points,
        days=args.days,
        start=args.start,
        seed=args.seed,
        correction_rate=args.correction_rate,
        duplicate_rate=args.duplicate_rate,
        malformed_rate=args.malformed_rate,
    )


# ---------------------------------------------------------------------------------------- feed
def _feed(args: argparse.Namespace) -> int:
    from flows.publisher import describe_kinds, publish_feed
    from schemas.settings import settings

    cfg = settings()
    topic = args.topic or cfg.readings_topic
    started = time.perf_counter()
    count, kinds = publish_feed(cfg, topic, _feed_spec(args), partitions=args.partitions)
    elapsed = time.perf_counter() - started
    print(f"published {count} documents to {topic} in {elapsed:.1f} s ({describe_kinds(kinds)})")
    return 0


@register
def _feed_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("feed", help="publish a deterministic RSM-012 feed to Kafka")
    _feed_spec_args(parser, points=300, days=30)
    parser.add_argument("--topic", help="default: ELFLOW_READINGS_TOPIC")
    parser.add_argument("--partitions", type=int, default=2, help="partitions if the topic is new")
    parser.set_defaults(handler=_feed)


# ---------------------------------------------------------------------------------------- flow
def _flow_run(args: argparse.Namespace) -> int:
    from flows.runner import start_flow
    from schemas.settings import settings

    procs = start_flow(settings(), processes=args.processes, until_end=args.until_end)

    def stop(signum: int, _frame: FrameType | None) -> None:
        for proc in procs:
            proc.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [proc.wait() for proc in procs]
    return max(codes)


@register
def _flow_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    flow = sub.add_parser("flow", help="the ingest dataflow").add_subparsers(
        dest="flow_command", required=True
    )
    run = flow.add_parser("run", help="run the Bytewax ingest flow (recovery on)")
    run.add_argument("--processes", type=int, default=1)
    run.add_argument(
        "--until-end", action="store_true", help="stop at the end of the topic (default: tail)"
    )
    run.set_defaults(handler=_flow_run)


# --------------------------------------------------------------------------------- deadletters
def _deadletters_list(args: argparse.Namespace) -> int:
    from storage.db import connect
    from storage.deadletters import list_dead_letters

    with connect(job="ingest") as conn:
        rows = list_dead_letters(conn, include_resolved=args.all, limit=args.limit)
    if not rows:
        print("no dead letters" if args.all else "no open dead letters")
        return 0
    for row in rows:
        state = "resolved" if row.resolved else "open"
        where = f"{row.queue_name}[{row.kafka_partition}]@{row.kafka_offset}"
        print(
            f"{row.id}  {row.failed_at:%Y-%m-%d %H:%M:%S}  {state:8}  {row.reason_code:26}  {where}"
        )
        print(f"    {row.error_reason}")
    return 0


def _deadletters_replay(args: argparse.Namespace) -> int:
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
    return 0 if fixed == len(outcomes) else 1


@register
def _deadletters_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dl = sub.add_parser("deadletters", help="inspect and replay dead letters").add_subparsers(
        dest="dl_command", required=True
    )
    ls = dl.add_parser("list", help="list open dead letters")
    ls.add_argument("--all", action="store_true", help="include resolved ones")
    ls.add_argument("--limit", type=int, default=100)
    ls.set_defaults(handler=_deadletters_list)
    replay = dl.add_parser("replay", help="re-process open dead letters with the current code")
    replay.add_argument("--id", action="append", help="only this dead letter (repeatable)")
    replay.set_defaults(handler=_deadletters_replay)


# --------------------------------------------------------------------------------------- bench
def _bench_ingest(args: argparse.Namespace) -> int:
    from flows.bench import bench_ingest, default_spec, print_figures

    spec = default_spec(args.metering_points, args.days, args.start)
    figures = bench_ingest(spec, processes=args.processes)
    print_figures(spec, figures, args.processes)
    return 0


@register
def _bench_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bench = sub.add_parser("bench", help="benchmarks that print figures").add_subparsers(
        dest="bench_command", required=True
    )
    ingest = bench.add_parser("ingest", help="end-to-end ingest vs raw COPY, peak RSS")
    ingest.add_argument("--metering-points", type=int, default=1000)
    ingest.add_argument("--days", type=int, default=7)
    ingest.add_argument("--start", type=date.fromisoformat, default=date(2026, 10, 1))
    ingest.add_argument("--processes", type=int, default=1)
    ingest.set_defaults(handler=_bench_ingest)
    for register_more in BENCH_REGISTRY:
        register_more(bench)


# Benchmarks defined elsewhere add themselves under `elflow bench` through this list.
BENCH_REGISTRY: list[Registrar] = []
