"""The `elflow` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from confluent_kafka import KafkaException

from schemas.settings import ConfigError

STACK_SCRIPT = Path(__file__).with_name("stack.sh")

Handler = Callable[[argparse.Namespace], int]


def _db_migrate(args: argparse.Namespace) -> int:
    from storage.db import connect
    from storage.migrate import migrate

    with connect() as conn:
        applied = migrate(conn)
    print("applied: " + ", ".join(applied) if applied else "database schema is up to date")
    return 0


def _db_edition(args: argparse.Namespace) -> int:
    from storage.db import connect
    from storage.edition import timescaledb_edition

    with connect() as conn:
        print(timescaledb_edition(conn))
    return 0


def _stack(args: argparse.Namespace) -> int:
    return subprocess.call([str(STACK_SCRIPT), args.action])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("migrate", help="apply pending migrations").set_defaults(handler=_db_migrate)
    db.add_parser("edition", help="print the TimescaleDB edition").set_defaults(handler=_db_edition)

    stack = sub.add_parser("stack", help="the local TimescaleDB + broker (deploy/stack.sh)")
    stack.add_argument("action", choices=["up", "down", "status", "install", "env"])
    stack.set_defaults(handler=_stack)

    for register in _extensions():
        register(sub)
    return parser


# Modules that define subcommands (each a `register(sub)` function).
_COMMAND_MODULES = (
    "deploy.commands",
    "deploy.demo",
    "deploy.commands_settlement",
    "deploy.commands_invoice",
)


def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    """Subcommands defined beside the code they drive."""
    import importlib

    found: list[Callable[[argparse._SubParsersAction], None]] = []  # type: ignore[type-arg]
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.extend(getattr(module, "REGISTRY", []))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"elflow: {exc}", file=sys.stderr)
        return 2
    except KafkaException as exc:
        from schemas.settings import settings

        bootstrap = settings().kafka_bootstrap
        print(
            f"elflow: Kafka at ELFLOW_KAFKA_BOOTSTRAP={bootstrap}: {exc.args[0]}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
