"""The `elflow` command: one argparse tree, every subcommand and its options in this file.

The handlers live beside it by area (`handlers_ops`, `handlers_ingest`, `handlers_finance`,
`demo`) and are imported only when their command runs, so `elflow --help` stays fast. Every
failure meant for a person is one line on stderr: a bad argument (`elflow … : argument …`,
exit 2), a bad setting (read before the command runs), any ElflowError (`elflow: …`, exit 2);
a Kafka client error names the bootstrap servers; anything unexpected is one line too (exit 1,
ELFLOW_DEBUG=1 shows the traceback); Ctrl-C exits 130. Over 400 lines: it is the one place
every command's arguments are declared.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from deploy.cli_args import (
    DefaultsHelp,
    OneLineParser,
    database_name,
    day_text,
    fraction,
    gln,
    grid_area,
    gsrn,
    invoice_number,
    non_negative,
    offset_target,
    port,
    uuid_text,
    version_text,
)
from deploy.cli_args import day as _day
from deploy.cli_args import period as _period
from deploy.cli_args import positive as _positive
from schemas.errors import ElflowError
from schemas.secrets import redact

Handler = Callable[[argparse.Namespace], int]

DEBUG_HINT = "run with ELFLOW_DEBUG=1 for the traceback"


def _handler(name: str) -> Handler:
    """`module:function` of this package, imported when the command runs."""
    module, function = name.split(":")

    def run(args: argparse.Namespace) -> int:
        fn: Handler = getattr(importlib.import_module(f"deploy.{module}"), function)
        return fn(args)

    return run


def _group(sub: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    parser = sub.add_parser(name, help=help, description=help)
    group: argparse._SubParsersAction = parser.add_subparsers(  # type: ignore[type-arg]
        dest=f"{name}_command", required=True, metavar="command"
    )
    return group


def _command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    help: str,
    handler: str,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=help, formatter_class=DefaultsHelp
    )
    parser.set_defaults(handler=_handler(handler))
    return parser


def _feed_options(parser: argparse.ArgumentParser, *, points: int, days: int) -> None:
    parser.add_argument("--metering-points", type=_positive, default=points, help="how many")
    parser.add_argument("--days", type=_positive, default=days, help="how many local days")
    parser.add_argument("--start", type=_day, default=date(2026, 10, 1), help="first local day")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same feed")


def _flow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--processes",
        type=_positive,
        default=1,
        help="Bytewax processes started by this command (default: 1)",
    )
    parser.add_argument(
        "--until-end", action="store_true", help="stop at the end of the topic (default: tail)"
    )


def _ops(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = _group(sub, "db", "database schema")
    _command(db, "migrate", "apply pending migrations", "handlers_ops:db_migrate")
    _command(db, "edition", "print the TimescaleDB edition", "handlers_ops:db_edition")
    roles = _command(
        db,
        "roles",
        "create the roles and the database (once, as ELFLOW_ADMIN_DATABASE_URL)",
        "handlers_ops:db_roles",
    )
    roles.add_argument(
        "--database",
        type=database_name,
        help="default: the database of ELFLOW_MIGRATE_DATABASE_URL",
    )

    stack = _command(
        sub, "stack", "the local TimescaleDB + broker (deploy/stack.sh)", "handlers_ops:stack"
    )
    stack.add_argument("action", choices=["up", "down", "status", "install", "env"])
    stack.set_defaults(needs_settings=False)  # deploy/stack.sh reads its own variables
    _command(
        sub,
        "config",
        "check the ELFLOW_* settings and print them (passwords hidden)",
        "handlers_ops:config_show",
    )

    exporter = _command(
        sub,
        "exporter",
        "serve the latest settlement runs' status to Prometheus (as elflow_grafana)",
        "exporter:run",
    )
    exporter.add_argument(
        "--address", default="127.0.0.1", help="bind address (default: %(default)s)"
    )
    exporter.add_argument(
        "--port", type=int, default=9484, help="port of /metrics (default: %(default)s)"
    )

    bench = _group(sub, "bench", "benchmarks that print figures")
    ingest = _command(
        bench, "ingest", "end-to-end ingest against raw COPY, RSS", "handlers_ops:bench_ingest"
    )
    ingest.add_argument("--metering-points", type=_positive, default=1000)
    ingest.add_argument("--days", type=_positive, default=7)
    ingest.add_argument("--start", type=_day, default=date(2026, 10, 1))
    ingest.add_argument("--processes", type=_positive, default=1)
    idle = _command(
        bench,
        "idle",
        "a caught-up flow: idle CPU, latency, stop time",
        "handlers_ingest:bench_idle",
    )
    idle.add_argument("--metering-points", type=_positive, default=200)
    idle.add_argument("--seconds", type=_positive, default=10)
    memory = _command(
        bench, "memory", "the flow's RSS through a backlog", "handlers_ingest:bench_memory"
    )
    memory.add_argument("--metering-points", type=_positive, default=1000)
    memory.add_argument("--days", type=_positive, default=7)
    memory.add_argument("--processes", type=_positive, default=1)
    store = _command(
        bench, "store", "bytes per reading of slimmer layouts", "handlers_ops:bench_store"
    )
    store.add_argument("--metering-points", type=_positive, default=1000)
    store.add_argument("--days", type=_positive, default=14)
    store.add_argument("--start", type=_day, default=date(2026, 10, 1))
    settle = _command(
        bench, "settle", "a settlement run against a plain scan", "handlers_ops:bench_settle"
    )
    settle.add_argument("--metering-points", type=_positive, default=1000)
    settle.add_argument("--period", type=_period, default="2026-10")
    settle.add_argument("--keep", action="store_true", help="keep the scratch database")
    settle.add_argument(
        "--reuse", metavar="URL", help="re-run on the database a --keep run left (no generation)"
    )
    grafana = _command(
        bench, "grafana", "every Grafana panel's query as its role", "handlers_ops:bench_grafana"
    )
    grafana.add_argument("--metering-points", type=_positive, default=1000)
    grafana.add_argument("--period", type=_period, default="2026-10")
    grafana.add_argument("--keep", action="store_true", help="keep the scratch database")
    grafana.add_argument("--reuse", metavar="URL", help="a database bench settle --keep left")
    grafana.add_argument(
        "--also", action="append", default=[], metavar="SPAN", help="another range, e.g. 30d"
    )


def _ingest(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    feed = _command(
        sub, "feed", "publish a deterministic RSM-012 feed to Kafka", "handlers_ingest:feed"
    )
    _feed_options(feed, points=300, days=30)
    feed.add_argument(
        "--correction-rate", type=fraction, default=0.02, help="share of documents corrected later"
    )
    feed.add_argument(
        "--duplicate-rate", type=fraction, default=0.01, help="share of documents sent twice"
    )
    feed.add_argument(
        "--malformed-rate",
        type=fraction,
        default=0.005,
        help="extra malformed documents per document",
    )
    feed.add_argument("--topic", help="default: ELFLOW_READINGS_TOPIC")
    feed.add_argument("--partitions", type=_positive, default=2, help="if the topic is new")

    flow = _group(sub, "flow", "the ingest dataflow")
    run = _command(flow, "run", "run the Bytewax ingest flow (recovery on)", "handlers_ingest:run")
    _flow_options(run)
    run.set_defaults(processes=None)  # 1, or as many as --addresses names
    run.add_argument(
        "--topic",
        help="readings topic (default: ELFLOW_READINGS_TOPIC); dead letters go to "
        "<topic>.deadletter unless ELFLOW_DEADLETTER_TOPIC is set",
    )
    run.add_argument(
        "--addresses",
        help="host:port,… of every process of a cluster spanning machines "
        "(default: ELFLOW_FLOW_ADDRESSES); this command starts one of them",
    )
    run.add_argument(
        "--process-id",
        type=int,
        help="which of --addresses this is (default: ELFLOW_FLOW_PROCESS_ID)",
    )

    reset = _command(
        flow,
        "reset-offsets",
        "after an offset alarm: where the flow resumes on its next start",
        "handlers_ingest:reset_offsets",
    )
    reset.add_argument(
        "--to",
        required=True,
        type=offset_target,
        help="earliest | latest | PARTITION:OFFSET[,PARTITION:OFFSET…]",
    )

    dead = _group(sub, "deadletters", "inspect and replay dead letters")
    ls = _command(dead, "list", "list open dead letters", "handlers_ingest:deadletters_list")
    ls.add_argument("--all", action="store_true", help="include resolved ones")
    ls.add_argument("--limit", type=_positive, default=100)
    replay = _command(
        dead,
        "replay",
        "re-process open dead letters with the current code",
        "handlers_ingest:deadletters_replay",
    )
    replay.add_argument(
        "--id", action="append", type=uuid_text, help="only this dead letter (repeatable)"
    )


def _metering_points(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    mp = _group(sub, "mp", "metering points as DataHub keeps them (RSM-022 master data)")
    show = _command(mp, "show", "current master data and its history", "handlers_mp:mp_show")
    show.add_argument("gsrn", type=gsrn, help="the metering point's 18-digit GSRN")
    listing = _command(mp, "list", "metering points and their current state", "handlers_mp:mp_list")
    listing.add_argument("--grid-area", type=grid_area, help="only this grid area")
    flow = _group(mp, "flow", "the master-data dataflow")
    run = _command(flow, "run", "run the Bytewax master-data flow", "handlers_mp:mp_flow_run")
    _flow_options(run)
    relay = _command(
        mp, "relay", "publish metering-point events from the outbox", "handlers_mp:mp_relay"
    )
    relay.add_argument("--until-empty", action="store_true", help="stop when the outbox is empty")
    _command(
        mp,
        "replay",
        "retry master-data records waiting for an earlier document",
        "handlers_mp:mp_replay",
    )


def _processes(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from deploy.handlers_process import START_TYPES

    process = _group(sub, "process", "customer lifecycle: DataHub market processes")
    start = _command(
        process,
        "start",
        "validate and start a process; the request document is sent by `process relay`",
        "handlers_process:process_start",
    )
    start.add_argument("type", choices=sorted(START_TYPES))
    start.add_argument(
        "--gsrn", type=gsrn, help="the metering point (not for incorrect-switch/move)"
    )
    start.add_argument("--customer", type=uuid_text, help="customer id (UUID)")
    start.add_argument(
        "--product", type=uuid_text, help="product id (UUID), for a switch or move-in"
    )
    start.add_argument("--effective", type=day_text, help="the local effective date, YYYY-MM-DD")
    start.add_argument("--billing-frequency", choices=["Monthly", "Quarterly"], default="Monthly")
    start.add_argument("--payment-model", choices=["Aconto", "PostPayment"], default="PostPayment")
    start.add_argument("--payment-term-days", type=non_negative, default=14)
    start.add_argument(
        "--target", type=uuid_text, help="the request to correct (incorrect-switch/move)"
    )
    cancel = _command(
        process,
        "cancel",
        "cancel a request before its effective date",
        "handlers_process:process_cancel",
    )
    cancel.add_argument("request", type=uuid_text, help="the request id")
    listing = _command(process, "list", "process requests", "handlers_process:process_list")
    listing.add_argument("--gsrn", type=gsrn, help="only this metering point")
    listing.add_argument("--open", action="store_true", help="only requests not yet ended")
    listing.add_argument(
        "--stuck", action="store_true", help="only requests whose answer is overdue"
    )
    show = _command(
        process, "show", "a request and its event history", "handlers_process:process_show"
    )
    show.add_argument("request", type=uuid_text, help="the request id")
    relay = _command(
        process,
        "relay",
        "send queued request documents to DataHub",
        "handlers_process:process_relay",
    )
    relay.add_argument("--until-empty", action="store_true", help="stop when nothing is queued")
    _command(
        process,
        "advance",
        "time-driven steps: complete effectuated requests, time out unanswered ones (cron)",
        "handlers_process:process_advance",
    )


def _service(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from schemas.process_codes import SERVICE_TYPES

    service = _group(sub, "service", "services from the grid access provider (BRS-039)")
    request = _command(
        service,
        "request",
        "queue a service request; `elflow process relay` sends it, `process show` follows it",
        "handlers_mp:service_request",
    )
    request.add_argument("--gsrn", required=True, type=gsrn, help="the metering point (18 digits)")
    request.add_argument("--type", required=True, choices=sorted(SERVICE_TYPES))
    request.add_argument(
        "--effective", required=True, type=day_text, help="the local date, YYYY-MM-DD"
    )


def _finance(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from storage.importers import KINDS

    load = _command(
        sub,
        "load",
        "import reference data (prices, price lists, master data); one transaction per file;"
        " `load portfolio PATH`: a whole portfolio (JSON file or folder) in one transaction",
        "handlers_finance:load",
    )
    load.add_argument("kind", choices=(*KINDS, "portfolio"))
    load.add_argument("files", nargs="+", metavar="file", type=Path)

    settle = _command(
        sub,
        "settle",
        "close a billing period: versioned settlement runs",
        "handlers_finance:settle",
    )
    settle.add_argument(
        "--period", type=_period, required=True, help="YYYY-MM (monthly) or YYYY-Qn (quarterly)"
    )
    settle.add_argument(
        "--grid-area", type=grid_area, help="only this grid area (default: all supplied ones)"
    )
    settle.add_argument("--dry-run", action="store_true", help="compute and print, write nothing")
    settle.add_argument(
        "--allow-open", action="store_true", help="settle a period that has not ended (tests)"
    )
    settle.add_argument(
        "--no-refresh",
        action="store_true",
        help="skip the daily summary refresh (when an orchestrator already refreshed)",
    )
    settle.add_argument(
        "--prepare",
        action="store_true",
        help="only bring the per-day charge sums up to date (no run; also for an open period)",
    )

    invoice = _command(
        sub, "invoice", "build invoices from the latest settlement runs", "handlers_finance:invoice"
    )
    invoice.add_argument(
        "--period", type=_period, help="a month (2026-10) or a quarter (2026-Q4); required"
    )
    invoice.add_argument("--issue", action="store_true", help="issue the period's Draft invoices")
    invoice.add_argument(
        "--export-dir", type=Path, help="write <invoice id>.json files here (mode 0600)"
    )
    invoice.add_argument("--force", action="store_true", help="overwrite existing export files")
    documents = invoice.add_subparsers(title="documents", metavar="{pdf,ubl}", required=False)
    pdf = _command(
        documents,
        "pdf",
        "the issued invoices as PDF files the customer reads, <invoice number>.pdf",
        "handlers_finance:invoice_pdf",
    )
    pdf.add_argument("--period", type=_period, help="every issued invoice of this period")
    pdf.add_argument(
        "--invoice",
        action="append",
        metavar="NUMBER",
        type=invoice_number,
        help="one invoice number (repeatable)",
    )
    pdf.add_argument("--out", type=Path, required=True, help="the directory to write to")
    pdf.add_argument("--force", action="store_true", help="overwrite existing files")
    ubl = _command(
        documents,
        "ubl",
        "Peppol BIS 3.0 (UBL 2.1) files of the period's issued business invoices",
        "handlers_ubl:invoice_ubl",
    )
    ubl.add_argument(
        "--period", type=_period, required=True, help="a month (2026-10) or a quarter (2026-Q4)"
    )
    ubl.add_argument("--out", type=Path, required=True, help="write <invoice number>.xml here")
    ubl.add_argument("--force", action="store_true", help="overwrite existing files")

    close = _command(
        sub,
        "close",
        "the period-close report: runs, left out, invoices, every customer once, aconto",
        "handlers_finance:close",
    )
    close.add_argument(
        "--period", type=_period, required=True, help="a month (2026-10) or a quarter (2026-Q4)"
    )
    close.add_argument("--out", type=Path, help="also write CSV and Parquet files here")
    close.add_argument("--force", action="store_true", help="overwrite existing report files")

    export = _group(sub, "export", "export data files")
    lines = _command(
        export,
        "lines",
        "settlement lines of a period's latest runs (Parquet)",
        "handlers_finance:export_lines",
    )
    lines.add_argument(
        "--period", type=_period, required=True, help="a month (2026-10) or a quarter (2026-Q4)"
    )
    lines.add_argument("--out", type=Path, required=True, help="the Parquet file to write")
    lines.add_argument("--force", action="store_true", help="overwrite an existing file")


def _demo(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = _command(
        sub, "demo", "the local demo: feed → Kafka → Bytewax → TimescaleDB → invoices", "demo:run"
    )
    _feed_options(demo, points=300, days=31)
    demo.add_argument(
        "--data-dir", type=Path, default=Path(".local/demo"), help="where demo files are written"
    )


def _datahub(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    datahub = _group(sub, "datahub", "the DataHub B2B connector (issue 11)")
    pull = _command(
        datahub,
        "pull",
        "peek DataHub's queues → Kafka, dequeue when acknowledged",
        "handlers_datahub:pull",
    )
    pull.add_argument("--until-empty", action="store_true", help="stop when every queue is empty")
    send = _command(
        datahub,
        "send",
        "outbound requests (Kafka) → DataHub's request endpoints",
        "handlers_datahub:send",
    )
    send.add_argument("--until-empty", action="store_true", help="stop at the end of the topic")
    fake = _command(datahub, "fake", "serve a fake DataHub on loopback", "handlers_datahub:fake")
    fake.add_argument("--port", type=port, default=18765)
    fake.add_argument("--client-id", default="elflow-local")
    fake.add_argument(
        "--actor", type=gln, default=None, help="our GLN (default: ELFLOW_SUPPLIER_GLN)"
    )
    bench = _command(
        datahub,
        "bench",
        "the connector against the fake: docs/s and readings/s",
        "handlers_datahub:bench",
    )
    bench.add_argument("--documents", type=_positive, default=10_000)
    bench.add_argument("--series-per-document", type=_positive, default=1, help="bundle size")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="elflow",
        description="Metering and settlement for a Danish electricity supplier on DataHub 3."
        " Settings come from ELFLOW_* variables (`elflow config` shows them).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version_text()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    _ops(sub)
    _ingest(sub)
    _metering_points(sub)
    _processes(sub)
    _service(sub)
    _finance(sub)
    _demo(sub)
    _datahub(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from schemas.settings import configure_logging, debug_requested, settings

    configure_logging()
    handler: Handler = args.handler
    try:
        if getattr(args, "needs_settings", True):
            settings()  # a bad setting stops the command here, before it does anything
        return handler(args)
    except ElflowError as exc:
        print(redact(f"elflow: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        line = _known_failure(exc)
        if line is not None:
            print(line, file=sys.stderr)
            return 2
        if debug_requested():
            raise
        from schemas.printable import escape

        text = str(exc).strip()
        what = escape(text.splitlines()[0], limit=300) if text else "(no message)"
        print(
            redact(f"elflow: unexpected {type(exc).__name__}: {what} ({DEBUG_HINT})"),
            file=sys.stderr,
        )
        return 1


def _known_failure(exc: Exception) -> str | None:
    """One line for a database, Kafka or file failure; None for anything else."""
    import psycopg
    from confluent_kafka import KafkaException

    if isinstance(exc, psycopg.Error):
        # The database refused this job (e.g. its role lacks the privilege): one line.
        text = str(exc).strip()
        return redact(f"elflow: database: {text.splitlines()[0] if text else exc!r}")
    if isinstance(exc, OSError) and exc.filename is not None:
        # A path an operator gave (or its directory) cannot be used: not a bug of ours.
        return redact(f"elflow: {exc.filename}: {exc.strerror or exc}")
    if isinstance(exc, KafkaException):
        from schemas.settings import settings

        bootstrap = settings().kafka_bootstrap
        return redact(f"elflow: Kafka at ELFLOW_KAFKA_BOOTSTRAP={bootstrap}: {exc.args[0]}")
    return None


if __name__ == "__main__":
    sys.exit(main())
