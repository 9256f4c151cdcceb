"""Issue 14 part 6: every bad setting and every bad argument is one line for the operator.

A bad setting: one line on stderr naming the variable and the form expected, exit 2, no
traceback, no password. A bad argument: argparse's complaint on one line, exit 2. Anything
unexpected: one line and a hint at ELFLOW_DEBUG=1, exit 1. Every setting is covered: a table of
bad values, and for a setting added later without an entry one derived from its type.
"""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from importlib.metadata import version
from pathlib import Path

import pytest
from pydantic.fields import FieldInfo

from deploy.cli import build_parser, main
from schemas.rsm012 import gsrn_check_digit
from schemas.settings import Settings, settings

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "pw-Zq81"

# One bad value per setting (the variable is ELFLOW_ + the name in capitals).
BAD: dict[str, str] = {
    "database_url": f"mysql://elflow:{PASSWORD}@db/elflow",
    "migrate_database_url": f"postgresql//elflow:{PASSWORD}@db/elflow",
    "ingest_database_url": "elflow_ingest@db",
    "finance_database_url": f"http://finance:{PASSWORD}@db/elflow",
    "loader_database_url": "",
    "datahub_database_url": "db:5432",
    "admin_database_url": "postgres",
    "kafka_bootstrap": "broker:not-a-port",
    "kafka_config": "{security.protocol: SASL_SSL}",
    "readings_topic": "my readings",
    "deadletter_topic": "",
    "masterdata_topic": "datahub/masterdata",
    "outbound_topic": "..",
    "recovery_dir": str(ROOT / "README.md"),
    "ubl_rules_dir": "",
    "metrics_port": "65536",
    "metrics_address": "0.0.0.0 ",
    "flow_addresses": "a:1,b",
    "timezone": "Europe/Kopenhagen",
    "compress_after_days": "0",
    "bands": '{"off_peak": [[0, 6]], "peak": [[6, 25]]}',
    "input_years_back": "-1",
    "input_years_ahead": "ten",
    "input_created_skew_seconds": "86401",
    "deadletter_max_bytes": "100",
    "supplier_gln": "579999993331",
    "balance_responsible_gln": "GLN5799999933340",
    "datahub_gln": "57900013305521",
    "invoice_number_prefix": "ef",
    "supplier_name": "",
    "supplier_address": "x" * 201,
    "supplier_cvr": "1234567",
    "supplier_email": "kundeservice",
    "supplier_phone": "1" * 33,
    "supplier_bank_reg": "12345",
    "supplier_bank_account": "12345678901",
    "supplier_iban": "DK08 1234 0001 2345 67",
    "supplier_bic": "ABC",
    "process_answer_timeout_hours": "0",
    "datahub_base_url": "ftp://b2b.datahub3.dk",
    "datahub_token_url": "https://login.microsoftonline.com",
    "datahub_client_id": "",
    "datahub_client_secret_file": str(ROOT / "tests"),
    "datahub_scope": "s" * 501,
    "datahub_categories": "MeasureData,MeasureData",
    "datahub_format": "csv",
    "datahub_poll_seconds": "soon",
    "datahub_timeout_seconds": "601",
    "datahub_token_margin_seconds": "-1",
    "datahub_max_message_bytes": "1e6",
    "datahub_metrics_port": "-1",
    "datahub_request_paths": '{"RequestService_MarketDocument": 7}',
}
# Settings any text is good for.
ANY_VALUE = {"datahub_client_secret"}


def _derived_bad_value(field: FieldInfo) -> str | None:
    """A bad value from the type of a setting that has no entry in BAD."""
    kinds = set(typing.get_args(field.annotation)) | {field.annotation}
    if kinds & {int, float}:
        return "not-a-number"
    if bool in kinds:
        return "perhaps"
    if Path in kinds:
        return ""
    if {typing.get_origin(k) for k in kinds} & {dict, list, tuple}:
        return "{not json"
    return None


def _bad_values() -> list[tuple[str, str | None]]:
    return [
        (name, BAD.get(name, _derived_bad_value(field)))
        for name, field in Settings.model_fields.items()
        if name not in ANY_VALUE
    ]


def _env(**extra: str) -> dict[str, str]:
    """This environment without ELFLOW_* settings, plus `extra`."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("ELFLOW_")}
    return {**keep, **extra}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fresh_settings() -> typing.Iterator[None]:
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.mark.parametrize(("name", "value"), _bad_values(), ids=lambda v: str(v)[:30])
def test_every_bad_setting_is_one_line_naming_the_variable_and_the_form(
    name: str,
    value: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    fresh_settings: None,
) -> None:
    variable = f"ELFLOW_{name.upper()}"
    assert value is not None, f"give {variable} a bad value in BAD (or list it in ANY_VALUE)"
    monkeypatch.setenv(variable, value)
    assert main(["config"]) == 2
    out, err = capfd.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"elflow: bad setting {variable}"), lines[0]
    assert "expected " in lines[0] and "Traceback" not in err
    assert PASSWORD not in err


# The kinds of mistakes, each through the installed command line as an operator runs it.
AS_A_PROCESS = [
    ("ELFLOW_KAFKA_CONFIG", "{security.protocol: SASL_SSL}", "not JSON"),
    ("ELFLOW_KAFKA_CONFIG", f'{{"sasl.password": "{PASSWORD}", }}', "not JSON"),
    ("ELFLOW_BANDS", '{"peak": [[0, 24]', "not JSON"),
    ("ELFLOW_TIMEZONE", "Europe/Kopenhagen", "not in the tz database"),
    ("ELFLOW_METRICS_PORT", "9x", "expected a port number"),
    ("ELFLOW_RECOVERY_DIR", "", "is empty"),
]


@pytest.mark.parametrize(("variable", "value", "says"), AS_A_PROCESS, ids=lambda v: str(v)[:24])
def test_a_bad_setting_stops_the_command_with_one_line(
    variable: str, value: str, says: str
) -> None:
    result = _cli(_env(**{variable: value}), "config")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"elflow: bad setting {variable}") and says in lines[0]
    assert PASSWORD not in result.stderr


@pytest.mark.services
def test_a_time_zone_the_database_does_not_know_stops_at_the_first_connection(
    tmp_path: Path,
) -> None:
    # A zone Python's tz database has (a copy of UTC under a made-up name) and PostgreSQL's not.
    zones = tmp_path / "zoneinfo"
    (zones / "Mars").mkdir(parents=True)
    (zones / "Mars" / "Olympus_Mons").write_bytes(Path("/usr/share/zoneinfo/UTC").read_bytes())
    env = {**os.environ, "PYTHONTZPATH": f"{zones}{os.pathsep}/usr/share/zoneinfo"}
    result = _cli({**env, "ELFLOW_TIMEZONE": "Mars/Olympus_Mons"}, "db", "edition")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "elflow: bad setting ELFLOW_TIMEZONE='Mars/Olympus_Mons': the database does not know "
        "this time zone; expected a name in PostgreSQL's pg_timezone_names, e.g. Europe/Copenhagen"
    ]
    good = _cli({**env, "ELFLOW_TIMEZONE": "Europe/Copenhagen"}, "db", "edition")
    assert good.returncode == 0, good.stderr


@pytest.mark.services
def test_the_database_time_zone_check_leaves_the_connection_as_it_was() -> None:
    from psycopg.pq import TransactionStatus

    from schemas.settings import ConfigError
    from storage.db import check_time_zone, connect

    with connect(job="migrate") as conn:
        check_time_zone(conn, "Europe/Copenhagen")
        assert conn.info.transaction_status == TransactionStatus.IDLE
        with pytest.raises(ConfigError, match="ELFLOW_TIMEZONE='Europe/Kopenhagen'"):
            check_time_zone(conn, "Europe/Kopenhagen")
        assert conn.info.transaction_status == TransactionStatus.IDLE
        assert conn.execute("SELECT 1").fetchone() == (1,)


def _wrong_check_digit(body: str) -> str:
    return body + str((gsrn_check_digit(body) + 1) % 10)


GOOD_GSRN = "57131318040000000" + str(gsrn_check_digit("57131318040000000"))
BAD_ARGUMENTS = [
    (["deadletters", "list", "--limit", "-1"], "argument --limit: -1 is not at least 1"),
    (["deadletters", "replay", "--id", "nope"], "argument --id: 'nope' is not an id"),
    (["mp", "show", "1234"], "argument gsrn: '1234' is not a GSRN"),
    (["mp", "show", _wrong_check_digit("57131318040000000")], "is not a GSRN"),
    (["mp", "list", "--grid-area", "79"], "'79' is not a grid area"),
    (["process", "start", "switch", "--gsrn", "x"], "argument --gsrn: 'x' is not a GSRN"),
    (["process", "start", "switch", "--customer", "42"], "argument --customer: '42' is not an id"),
    (["process", "start", "move-in", "--effective", "2026-02-30"], "is not a date (YYYY-MM-DD)"),
    (["process", "start", "switch", "--payment-term-days", "-3"], "-3 is negative"),
    (["process", "start", "switch", "--target", "t"], "argument --target: 't' is not an id"),
    (["process", "cancel", "nope"], "argument request: 'nope' is not an id"),
    (["process", "show", "nope"], "argument request: 'nope' is not an id"),
    (["process", "list", "--gsrn", "5713"], "is not a GSRN"),
    (
        ["service", "request", "--gsrn", GOOD_GSRN, "--type", "disconnect", "--effective", "x"],
        "argument --effective: 'x' is not a date",
    ),
    (["settle", "--period", "2026-13"], "argument --period: period '2026-13' is neither"),
    (["settle", "--period", "2026-10", "--grid-area", "DK1"], "'DK1' is not a grid area"),
    (["settle"], "the following arguments are required: --period"),
    (["invoice", "pdf", "--invoice", "17", "--out", "x"], "'17' is not an invoice number"),
    (["feed", "--correction-rate", "1.5"], "argument --correction-rate: 1.5 is not from 0 to 1"),
    (["feed", "--metering-points", "many"], "'many' is not a whole number"),
    (["feed", "--start", "2026-10-32"], "'2026-10-32' is not a date"),
    (["flow", "reset-offsets", "--to", "nowhere"], "argument --to: expected earliest, latest"),
    (["datahub", "fake", "--port", "70000"], "70000 is not a port (0-65535)"),
    (["datahub", "fake", "--actor", "12"], "'12' is not a GLN (13 digits)"),
    (["bench", "ingest", "--days", "0"], "0 is not at least 1"),
    (["db", "roles", "--database", 'x"; drop'], "is not a database name"),
    (["stack", "sideways"], "invalid choice: 'sideways'"),
    (["setle"], "invalid choice: 'setle'"),
]


@pytest.mark.parametrize(("argv", "says"), BAD_ARGUMENTS, ids=lambda v: " ".join(v)[:40])
def test_every_bad_argument_is_one_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert says in lines[0]
    assert lines[0].endswith("--help)") and lines[0].startswith("elflow")


@pytest.mark.parametrize(
    "argv", [["deadletters", "list", "--limit", "-1"], ["deadletters", "replay", "--id", "nope"]]
)
def test_the_issues_bad_arguments_as_a_process(argv: list[str]) -> None:
    result = _cli(_env(), *argv)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_good_arguments_pass_the_checks_in_their_canonical_form() -> None:
    args = build_parser().parse_args(
        [
            "process",
            "start",
            "switch",
            "--gsrn",
            GOOD_GSRN,
            "--customer",
            "0B5E9C1E5D2A4C3B8E1F2A3B4C5D6E7F",
            "--effective",
            "2026-10-01",
            "--payment-term-days",
            "0",
        ]
    )
    assert (args.gsrn, args.customer) == (GOOD_GSRN, "0b5e9c1e-5d2a-4c3b-8e1f-2a3b4c5d6e7f")
    assert (args.effective, args.payment_term_days) == ("2026-10-01", 0)
    assert build_parser().parse_args(["flow", "reset-offsets", "--to", "0:12,1:0"]).to == "0:12,1:0"
    pdf = build_parser().parse_args(["invoice", "pdf", "--invoice", "EF-2026-000123", "--out", "x"])
    assert pdf.invoice == ["EF-2026-000123"]


def test_version_comes_from_the_installed_package() -> None:
    result = _cli(_env(ELFLOW_METRICS_PORT="not read"), "--version")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"elflow {version('elflow')}\n"


def test_help_shows_the_defaults_worth_showing(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["feed", "--help"], ["settle", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    out = " ".join(capsys.readouterr().out.split())
    assert "--metering-points METERING_POINTS how many (default: 300)" in out
    assert "--seed SEED the same seed gives the same feed (default: 1)" in out
    assert "(default: None)" not in out and "(default: False)" not in out


def test_config_prints_every_setting_without_a_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh_settings: None
) -> None:
    monkeypatch.setenv("ELFLOW_DATABASE_URL", f"postgresql://elflow:{PASSWORD}@db/elflow")
    monkeypatch.setenv("ELFLOW_KAFKA_CONFIG", f'{{"sasl.password": "{PASSWORD}"}}')
    monkeypatch.setenv("ELFLOW_DATAHUB_CLIENT_SECRET", PASSWORD)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out
    names = [line.split("=", 1)[0] for line in out.splitlines()]
    assert names == [f"ELFLOW_{name.upper()}" for name in Settings.model_fields]
    assert "ELFLOW_DATABASE_URL=postgresql://elflow:***@db/elflow" in out.splitlines()


def test_an_unexpected_error_is_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh_settings: None
) -> None:
    import deploy.handlers_ops

    def broken(_args: object) -> int:
        raise RuntimeError(f"no such thing\n  at postgresql://u:{PASSWORD}@h/d")

    monkeypatch.setattr(deploy.handlers_ops, "config_show", broken)
    assert main(["config"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "elflow: unexpected RuntimeError: no such thing "
        "(run with ELFLOW_DEBUG=1 for the traceback)\n"
    )
    monkeypatch.setenv("ELFLOW_DEBUG", "1")
    with pytest.raises(RuntimeError, match="no such thing"):
        main(["config"])


def test_a_path_that_cannot_be_used_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh_settings: None
) -> None:
    import deploy.handlers_ops

    def writes(_args: object) -> int:
        (Path("/proc") / "elflow-test" / "out.csv").write_text("x")
        return 0

    monkeypatch.setattr(deploy.handlers_ops, "config_show", writes)
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert err == "elflow: /proc/elflow-test/out.csv: No such file or directory\n"


def test_a_misspelt_variable_is_named_not_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_settings: None
) -> None:
    from schemas.settings import load_settings, misspelt_variables

    monkeypatch.setenv("ELFLOW_TIMEZON", "UTC")
    monkeypatch.setenv("ELFLOW_PG_PORT", "54400")  # deploy/stack.sh's, not a setting
    monkeypatch.setenv("ELFLOW_SOMETHING_ELSE", "1")  # near no setting: nothing to suggest
    assert misspelt_variables(os.environ) == [("ELFLOW_TIMEZON", "ELFLOW_TIMEZONE")]
    load_settings()
    assert "ELFLOW_TIMEZON is not a setting and is ignored: did you mean ELFLOW_TIMEZONE?" in [
        r.getMessage() for r in caplog.records
    ]
