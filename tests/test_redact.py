"""Secrets never printed: schemas.secrets.redact on every connection-string and Kafka form, and
the real CLI failing to connect with a password in its URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.secrets import MASK, redact, redact_config, secret_fragments
from schemas.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]

# (text, what must remain, secret pieces that must be gone)
CASES: list[tuple[str, str, list[str]]] = [
    (
        "postgresql://elflow:hunter2@db.example:5432/elflow",
        f"postgresql://elflow:{MASK}@db.example:5432/elflow",
        ["hunter2"],
    ),
    (
        "postgres://u:p%40ss@h/d",
        f"postgres://u:{MASK}@h/d",
        ["p%40ss"],
    ),
    (
        # an unencoded @ (and :) in the password: everything to the last @ is the password
        "cannot connect (postgresql://ingest:s3cr@t:x@10.0.0.5:5432/elflow): timeout",
        f"cannot connect (postgresql://ingest:{MASK}@10.0.0.5:5432/elflow): timeout",
        ["s3cr", "t:x", "s3cr@t:x"],
    ),
    (
        "postgresql://:onlypass@h/d",
        f"postgresql://:{MASK}@h/d",
        ["onlypass"],
    ),
    (
        "postgresql://elflow@h:5432/elflow?sslmode=require&password=qwerty42&application_name=x",
        f"postgresql://elflow@h:5432/elflow?sslmode=require&password={MASK}&application_name=x",
        ["qwerty42"],
    ),
    (
        "postgresql://elflow@h/elflow?password=qwerty42",
        f"postgresql://elflow@h/elflow?password={MASK}",
        ["qwerty42"],
    ),
    (
        "host=db user=elflow password=plain42 dbname=elflow",
        f"host=db user=elflow password={MASK} dbname=elflow",
        ["plain42"],
    ),
    (
        "host=db password = 'with space and \\' quote' dbname=elflow",
        f"host=db password = {MASK} dbname=elflow",
        ["with space", "quote"],
    ),
    (
        "host=db PASSWORD=Upper9 port=1",
        f"host=db PASSWORD={MASK} port=1",
        ["Upper9"],
    ),
    (
        '{"security.protocol": "SASL_SSL", "sasl.password": "kafka-pw", "sasl.username": "u"}',
        f'{{"security.protocol": "SASL_SSL", "sasl.password": {MASK}, "sasl.username": "u"}}',
        ["kafka-pw"],
    ),
    (
        "{'ssl.key.password': 'keypw', 'bootstrap.servers': 'b:9093'}",
        f"{{'ssl.key.password': {MASK}, 'bootstrap.servers': 'b:9093'}}",
        ["keypw"],
    ),
    (
        "Invalid value for sasl.password=abc123 in config",
        f"Invalid value for sasl.password={MASK} in config",
        ["abc123"],
    ),
    (
        "sasl.oauthbearer.client.secret=oauth-secret ssl.keystore.password=ks",
        f"sasl.oauthbearer.client.secret={MASK} ssl.keystore.password={MASK}",
        ["oauth-secret", "=ks"],
    ),
    (
        "PGPASSWORD=envpw psql",
        f"PGPASSWORD={MASK} psql",
        ["envpw"],
    ),
    # Nothing secret: unchanged.
    (
        "postgresql://elflow@127.0.0.1:54329/elflow",
        "postgresql://elflow@127.0.0.1:54329/elflow",
        [],
    ),
    (
        'FATAL:  password authentication failed for user "elflow_ingest"',
        'FATAL:  password authentication failed for user "elflow_ingest"',
        [],
    ),
]


@pytest.mark.parametrize(("text", "expected", "gone"), CASES)
def test_redact_hides_every_form(text: str, expected: str, gone: list[str]) -> None:
    result = redact(text)
    assert result == expected
    for piece in gone:
        assert piece not in result


def test_redact_is_idempotent() -> None:
    for text, expected, _gone in CASES:
        assert redact(redact(text)) == expected


def test_known_secrets_and_their_pieces_are_hidden_wherever_they_appear() -> None:
    # libpq echoes pieces of a string it cannot parse; the pieces of the password go too.
    conninfo = "host=db password=two words dbname=x"
    message = 'invalid connection string: missing "=" after "words" in connection info string'
    assert "words" not in redact(message, secret_fragments(conninfo))
    url = "postgresql://u:p@ss:w0rd@h:1/d"
    fragments = secret_fragments(url)
    assert "p@ss:w0rd" in fragments and "w0rd" in fragments
    assert redact('invalid port number: "w0rd@h:1"', fragments) == 'invalid port number: "***@h:1"'


def test_redact_config_masks_kafka_secrets_in_a_mapping() -> None:
    config = {
        "bootstrap.servers": "b:9093",
        "sasl.password": "kafka-pw",
        "ssl.key.password": "keypw",
        "sasl.username": "elflow",
        "note": "postgresql://a:leak@h/d",
        "retries": 3,
    }
    assert redact_config(config) == {
        "bootstrap.servers": "b:9093",
        "sasl.password": MASK,
        "ssl.key.password": MASK,
        "sasl.username": "elflow",
        "note": f"postgresql://a:{MASK}@h/d",
        "retries": 3,
    }


def test_settings_never_show_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELFLOW_DATABASE_URL", "postgresql://elflow:dbpw1@h/elflow")
    monkeypatch.setenv("ELFLOW_KAFKA_CONFIG", '{"sasl.password": "kpw1"}')
    shown = repr(Settings()) + str(Settings())
    assert "dbpw1" not in shown and "kpw1" not in shown
    monkeypatch.setenv("ELFLOW_FINANCE_DATABASE_URL", "mysql://u:finpw@h/d")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "finpw" not in str(caught.value)
    assert str(caught.value).startswith("bad setting ELFLOW_FINANCE_DATABASE_URL")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("ELFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args],
        cwd=ROOT,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


SECRET = "Tr0ub4dor@3:x y"

FAILING = [
    # an unreachable server, the password in each form
    ({"ELFLOW_DATABASE_URL": "postgresql://elflow:Tr0ub4dor@3:x y@127.0.0.1:1/elflow"}, "db"),
    ({"ELFLOW_DATABASE_URL": "host=127.0.0.1 port=1 user=elflow password=Tr0ub4dor@3:x y"}, "db"),
    ({"ELFLOW_DATABASE_URL": "postgresql://elflow@127.0.0.1:1/e?password=Tr0ub4dor@3:x y"}, "db"),
    (
        {"ELFLOW_LOADER_DATABASE_URL": "postgresql://l:Tr0ub4dor@3:x y@127.0.0.1:1/elflow"},
        "load",
    ),
    (
        {
            "ELFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "ELFLOW_KAFKA_CONFIG": '{"sasl.password": "Tr0ub4dor@3:x y", "socket.timeout.ms": "x"}',
        },
        "feed",
    ),
]


@pytest.mark.services
@pytest.mark.parametrize(("env", "command"), FAILING, ids=lambda v: str(v)[:40])
def test_a_failing_command_prints_no_part_of_the_password(
    env: dict[str, str], command: str, tmp_path: Path
) -> None:
    args = {
        "db": ["db", "migrate"],
        "load": ["load", "grid_areas", str(ROOT / "tests/fixtures/reference/grid_areas.csv")],
        "feed": ["feed", "--metering-points", "1", "--days", "1"],
    }[command]
    result = _cli(env, *args)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("elflow: ")
    for piece in ("Tr0ub4dor", "Tr0ub4dor@3", "3:x", "x y", SECRET):
        assert piece not in output, (piece, output)
