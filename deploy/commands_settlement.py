"""Subcommands of period close: `elflow load`, `elflow settle`, `elflow bench settle`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

Registrar = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]

REGISTRY: list[Registrar] = []


def register(fn: Registrar) -> Registrar:
    REGISTRY.append(fn)
    return fn


# ---------------------------------------------------------------------------------------- load
def _load(args: argparse.Namespace) -> int:
    from schemas.reference import ReferenceDataError
    from schemas.settings import ConfigError
    from storage.db import connect
    from storage.reference_import import import_file

    with connect(job="loader", autocommit=True) as conn:
        for file in args.files:
            try:
                result = import_file(conn, args.kind, Path(file))
            except ReferenceDataError as exc:
                raise ConfigError(str(exc)) from None
            print(result.line())
    return 0


@register
def _load_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from storage.reference_import import KINDS

    parser = sub.add_parser(
        "load",
        help="import reference data (prices, price lists, master data); one transaction per file",
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("files", nargs="+", metavar="file")
    parser.set_defaults(handler=_load)


# -------------------------------------------------------------------------------------- settle
def _settle(args: argparse.Namespace) -> int:
    from settlement.run import RunReport, parse_period, settle
    from storage.db import url_for

    def show(report: RunReport) -> None:
        print(report.table(), flush=True)

    settle(
        parse_period(args.period),
        args.grid_area,
        url=url_for("finance"),
        dry_run=args.dry_run,
        allow_open=args.allow_open,
        refresh=not args.no_refresh,
        on_report=show,
    )
    return 0


@register
def _settle_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("settle", help="close a billing period: versioned settlement runs")
    parser.add_argument("--period", required=True, help="YYYY-MM (monthly) or YYYY-Qn (quarterly)")
    parser.add_argument("--grid-area", help="only this grid area (default: all supplied ones)")
    parser.add_argument(
        "--dry-run", action="store_true", help="compute and print, write no run or lines"
    )
    parser.add_argument(
        "--allow-open", action="store_true", help="settle a period that has not ended (tests)"
    )
    parser.add_argument(
        "--no-refresh",
        action="store_true",
        help="skip the daily summary refresh (when an orchestrator already refreshed)",
    )
    parser.set_defaults(handler=_settle)


# --------------------------------------------------------------------------------------- bench
def _bench_settle(args: argparse.Namespace) -> int:
    from settlement.bench import BenchSpec, run_bench

    report = run_bench(
        BenchSpec(metering_points=args.metering_points, period=args.period, keep=args.keep),
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(report)
    return 0


def _bench_settle_parser(bench: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    settle = bench.add_parser("settle", help="time a settlement run against a plain scan")
    settle.add_argument("--metering-points", type=int, default=1000)
    settle.add_argument("--period", default="2026-10")
    settle.add_argument("--keep", action="store_true", help="keep the scratch database")
    settle.set_defaults(handler=_bench_settle)


def _register_bench() -> None:
    """`elflow bench` is defined in deploy.commands; benchmarks join it via BENCH_REGISTRY."""
    try:
        from deploy.commands import BENCH_REGISTRY
    except ImportError:

        @register
        def _bench_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
            bench = sub.add_parser("bench", help="benchmarks that print figures")
            _bench_settle_parser(bench.add_subparsers(dest="bench_command", required=True))

        return
    BENCH_REGISTRY.append(_bench_settle_parser)


_register_bench()
