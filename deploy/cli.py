"""The `elflow` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg
from confluent_kafka import KafkaException

from schemas.secrets import redact
from schemas.settings import ConfigError

STACK_SCRIPT = Path(__file__).with_name("stack.sh")

Handler = Callable[[argparse.Namespace], int]


def _db_migrate(args: argparse.Namespace) -> int:
    from storage.db import connect
    from storage.migrate import MigrationError, migrate

    with connect(job="migrate") as conn:
        try:
            applied = migrate(conn)
        except MigrationError as exc:
            raise ConfigError(str(exc)) from None
    print("applied: " + ", ".join(applied) if applied else "database schema is up to date")
    return 0


def _db_edition(args: argparse.Namespace) -> int:
    from storage.db import connect
    from storage.edition import timescaledb_edition

    with connect(job="migrate") as conn:
        print(timescaledb_edition(conn))
    return 0


def _db_roles(args: argparse.Namespace) -> int:
    from storage.db import url_for
    from storage.roles import database_of, set_up

    for line in set_up(url_for("admin"), args.database or database_of(url_for("migrate"))):
        print(line)
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
    roles = db.add_parser(
        "roles", help="create the roles and the database (ELFLOW_ADMIN_DATABASE_URL, once)"
    )
    roles.add_argument("--database", help="default: the database of ELFLOW_MIGRATE_DATABASE_URL")
    roles.set_defaults(handler=_db_roles)

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
        print(redact(f"elflow: {exc}"), file=sys.stderr)
        return 2
    except KafkaException as exc:
        from schemas.settings import settings

        bootstrap = settings().kafka_bootstrap
        print(
            redact(f"elflow: Kafka at ELFLOW_KAFKA_BOOTSTRAP={bootstrap}: {exc.args[0]}"),
            file=sys.stderr,
        )
        return 2
    except psycopg.Error as exc:
        # A refusal by the database (e.g. a role without the privilege for this job).
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(redact(f"elflow: database: {first}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
