"""Handlers of `elflow db`, `elflow stack` and `elflow bench` (wired in deploy/cli.py)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from schemas.settings import ConfigError

STACK_SCRIPT = Path(__file__).with_name("stack.sh")


def db_migrate(args: argparse.Namespace) -> int:
    from schemas.settings import settings
    from storage.compression import apply_compression_policy
    from storage.db import connect
    from storage.migrate import MigrationError, migrate

    with connect(job="migrate") as conn:
        try:
            applied = migrate(conn)
        except MigrationError as exc:
            raise ConfigError(str(exc)) from None
        print("applied: " + ", ".join(applied) if applied else "database schema is up to date")
        print(apply_compression_policy(conn, settings().compress_after_days))
    return 0


def db_edition(args: argparse.Namespace) -> int:
    from storage.db import connect
    from storage.edition import timescaledb_edition

    with connect(job="migrate") as conn:
        print(timescaledb_edition(conn))
    return 0


def db_roles(args: argparse.Namespace) -> int:
    from storage.db import url_for
    from storage.roles import database_of, set_up

    for line in set_up(url_for("admin"), args.database or database_of(url_for("migrate"))):
        print(line)
    return 0


def is_checkout(directory: Path) -> bool:
    return (directory / "pyproject.toml").is_file() and (directory / "deploy/stack.sh").is_file()


def stack_root(cwd: Path, module_dir: Path = STACK_SCRIPT.parent) -> Path:
    """The checkout whose local stack `elflow stack` manages: the one around the current
    directory, else the one this module lives in (an editable install). The stack's state
    (.local/, .venv) belongs to a checkout; an installed copy of stack.sh would look for it in
    site-packages and report a running stack as stopped."""
    for directory in (cwd, *cwd.parents):
        if is_checkout(directory):
            return directory
    if is_checkout(module_dir.parent):
        return module_dir.parent
    raise ConfigError(
        "elflow stack manages the local stack of a checkout of elflow: run it inside one"
    )


def stack(args: argparse.Namespace) -> int:
    root = stack_root(Path.cwd().resolve())
    return subprocess.call(["bash", str(root / "deploy/stack.sh"), args.action])


def bench_ingest(args: argparse.Namespace) -> int:
    from deploy.bench.ingest import bench_ingest as run
    from deploy.bench.ingest import default_spec, print_figures

    spec = default_spec(args.metering_points, args.days, args.start)
    figures = run(spec, processes=args.processes)
    print_figures(spec, figures, args.processes)
    return 0


def bench_store(args: argparse.Namespace) -> int:
    from deploy.bench.store import bench_store as run
    from deploy.bench.store import print_store

    print_store(args.metering_points, args.days, run(args.metering_points, args.days, args.start))
    return 0


def bench_grafana(args: argparse.Namespace) -> int:
    from deploy.bench.grafana import GrafanaBenchSpec, run_bench

    report = run_bench(
        GrafanaBenchSpec(
            metering_points=args.metering_points,
            period=args.period.label,
            keep=args.keep,
            reuse=args.reuse,
            extra_ranges=tuple(args.also),
        ),
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(report)
    return 0


def bench_settle(args: argparse.Namespace) -> int:
    from deploy.bench.settle import BenchSpec, run_bench

    report = run_bench(
        BenchSpec(
            metering_points=args.metering_points,
            period=args.period.label,
            keep=args.keep,
            reuse=args.reuse,
        ),
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(report)
    return 0
