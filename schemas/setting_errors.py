"""One line for a bad setting: the variable, what is wrong with it and the form it must have.

`expected_form(name, field)` says what a setting accepts, from a short table of the settings
whose form a type cannot tell (JSON shapes, codes, topic names) and otherwise from the field's
type and bounds, so a setting added later gets a sensible sentence without an entry here.
`bad_setting_line(errors, fields)` turns pydantic's validation errors into that line. No I/O;
the caller redacts (schemas.secrets) before showing it.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from schemas.printable import escape

ENV_PREFIX = "ELFLOW_"

# Whose value is never echoed: connection strings and anything that may hold a password.
_SENSITIVE = ("url", "secret", "password", "kafka_config")
# The longest value echoed in a message (the rest is counted, not shown).
_ECHO_LIMIT = 60

_FORMS: Mapping[str, str] = {
    "kafka_config": (
        'a JSON object of librdkafka settings, e.g. {"security.protocol": "SASL_SSL", '
        '"sasl.mechanisms": "PLAIN"}'
    ),
    "kafka_bootstrap": "host:port[,host:port…] (Kafka bootstrap servers)",
    "bands": (
        "a JSON object {band: [[from_hour, to_hour], …]} giving each local hour 0-23 one band, "
        'e.g. {"off_peak": [[0, 6]], "peak": [[6, 17], [21, 24]], "super_peak": [[17, 21]]}'
    ),
    "datahub_request_paths": 'a JSON object {"<document root name>": "/<endpoint path>", …}',
    "timezone": "a time zone name such as Europe/Copenhagen",
    "datahub_categories": (
        "DataHub message categories, comma-separated, each once: MeasureData, Aggregations, "
        "TimeSeries, MasterData"
    ),
    "datahub_format": "json, xml or ebix",
    "datahub_base_url": "an http:// or https:// URL, e.g. https://prod.b2b.datahub3.dk",
    "datahub_token_url": "an http:// or https:// URL with a path, or unset",
    "invoice_number_prefix": "1-20 capital letters A-Z or digits, e.g. EF",
    "supplier_cvr": "a CVR number: 8 digits",
    "supplier_bank_reg": "a Danish bank registration number: 4 digits",
    "supplier_bank_account": "a Danish bank account number: 1-10 digits",
    "supplier_iban": "an IBAN without spaces, e.g. DK5000400440116243",
    "supplier_bic": "a BIC of 8 or 11 capital letters or digits, or empty",
    "supplier_email": "an e-mail address or empty",
    "metrics_address": "an IP address or host name to listen on, e.g. 127.0.0.1 or 0.0.0.0",
    "flow_addresses": "host:port,host:port,… (one per flow process), or empty",
}

# Settings named by a suffix share one form.
_SUFFIX_FORMS: Sequence[tuple[str, str]] = (
    ("database_url", "a postgresql:// URL or a libpq key=value string"),
    ("_topic", "a Kafka topic name: 1-249 of A-Z a-z 0-9 . _ -"),
    ("_gln", "a GLN: 13 digits"),
    ("_port", "a port number from 0 to 65535 (0 = off)"),
)


def env_name(field_name: str) -> str:
    """The environment variable of a setting."""
    return ENV_PREFIX + field_name.upper()


def _plain_type(annotation: Any) -> Any:
    """`X` of `X | None` (and of `Optional[X]`); anything else as it is."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        others = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(others) == 1:
            return others[0]
    return annotation


def _bounds(metadata: Sequence[Any]) -> str:
    low = high = ""
    for item in metadata:
        if getattr(item, "ge", None) is not None:
            low = f"at least {item.ge}"
        if getattr(item, "gt", None) is not None:
            low = f"greater than {item.gt}"
        if getattr(item, "le", None) is not None:
            high = f"at most {item.le}"
        if getattr(item, "lt", None) is not None:
            high = f"less than {item.lt}"
    if low.startswith("at least") and high.startswith("at most"):
        return f" from {low.removeprefix('at least ')} to {high.removeprefix('at most ')}"
    return "".join(f" {part}" for part in (low, high) if part).replace(" at most", " and at most")


def _lengths(metadata: Sequence[Any]) -> str:
    shortest = next((m.min_length for m in metadata if hasattr(m, "min_length")), None)
    longest = next((m.max_length for m in metadata if hasattr(m, "max_length")), None)
    if shortest and longest:
        return f"text of {shortest} to {longest} characters"
    if longest:
        return f"text of at most {longest} characters"
    if shortest:
        return f"text of at least {shortest} characters"
    return "text"


def expected_form(name: str, field: FieldInfo | None) -> str:
    """What setting `name` accepts, in words."""
    if name in _FORMS:
        return _FORMS[name]
    for suffix, form in _SUFFIX_FORMS:
        if name.endswith(suffix):
            return form
    if field is None:
        return "a valid value"
    kind = _plain_type(field.annotation)
    origin = typing.get_origin(kind)
    if kind is bool:
        return "true or false"
    if kind is int:
        return "a whole number" + _bounds(field.metadata)
    if kind is float:
        return "a number" + _bounds(field.metadata)
    if kind is Path:
        return "a file path" if name.endswith("_file") else "a directory path"
    if origin in (dict, list, tuple) or kind in (dict, list):
        return "JSON"
    if kind is SecretStr:
        return "any text"
    pattern = next((m.pattern for m in field.metadata if getattr(m, "pattern", None)), None)
    if pattern:
        return f"text matching {pattern}"
    return _lengths(field.metadata)


def is_sensitive(name: str) -> bool:
    """A setting whose value may hold a password: never repeated in a message."""
    return any(marker in name for marker in _SENSITIVE)


def _echo(name: str, field: FieldInfo | None, value: object) -> str:
    """`='value'` for a plain scalar setting; nothing for secrets and JSON."""
    if not isinstance(value, str) or is_sensitive(name) or field is None:
        return ""
    kind = _plain_type(field.annotation)
    if kind not in (str, int, float, bool, Path):
        return ""
    return f"='{escape(value, limit=_ECHO_LIMIT)}'"


def _problem(error: ErrorDetails) -> str:
    """What is wrong, when the expected form alone does not say it."""
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    inner = ".".join(str(part) for part in error["loc"][1:])
    if inner:
        return f"at {inner}: {message}"
    if error["type"] in ("value_error", "assertion_error"):
        return message
    if error["type"] == "missing":
        return "is missing"
    return ""


def bad_setting_line(errors: Sequence[ErrorDetails], fields: Mapping[str, FieldInfo]) -> str:
    """One line for the first bad setting, naming any others after it."""
    first = errors[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    field = fields.get(name)
    problem = _problem(first)
    line = (
        f"bad setting {env_name(name) if name else 'ELFLOW_*'}"
        f"{_echo(name, field, first.get('input'))}: "
        f"{problem + '; ' if problem else ''}expected {expected_form(name, field)}"
    )
    others = sorted({env_name(str(e["loc"][0])) for e in errors[1:] if e["loc"]} - {env_name(name)})
    if others:
        line += f" (also bad: {', '.join(others)})"
    return line


def undecodable_line(name: str, field: FieldInfo | None, reason: str) -> str:
    """A JSON setting that is not JSON (pydantic-settings decodes those before validation)."""
    return (
        f"bad setting {env_name(name)}: not JSON ({reason}); expected {expected_form(name, field)}"
    )
