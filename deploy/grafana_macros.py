"""Turn a Grafana PostgreSQL panel query into the SQL Grafana would send, so tests can run it.

Grafana prepares a SQL panel's rawSql in two steps, both reproduced here:

1. the browser interpolates template variables (`$grid_area`, `${gsrn}`, `[[gsrn]]`) and the
   global `$__interval` / `$__interval_ms`. A multi-value or include-all variable becomes a
   list of quoted literals (`'791','804'`); a single-value variable is inserted as it is, with
   quotes doubled but no quotes around it (the query writes `'$var'` itself);
2. the server expands the macros `$__name(args)`: time filters as UTC RFC 3339 literals, and
   `$__timeGroup` as `time_bucket('<seconds>s', col)` when the data source has `timescaledb:
   true`, else as `floor(extract(epoch from col)/N)*N`.

Unknown variables and macros raise instead of passing through, so a typo fails the test rather
than producing SQL that merely happens to error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

__all__ = [
    "MacroError",
    "TimeRange",
    "Variable",
    "expand_macros",
    "format_interval",
    "interpolate_variables",
    "parse_interval",
    "render",
]


class MacroError(ValueError):
    """A query uses a macro or variable that cannot be expanded."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for ts in (self.start, self.end):
            if ts.tzinfo is None:
                raise ValueError(f"{ts!r} is naive; a time range is absolute")
        if self.end < self.start:
            raise ValueError("the time range ends before it starts")


@dataclass(frozen=True)
class Variable:
    """A dashboard variable with the values currently selected (for "All": every option)."""

    name: str
    values: Sequence[str]
    multi: bool = False
    include_all: bool = False


# ------------------------------------------------------------------ intervals

_UNITS: dict[str, timedelta] = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    # Grafana counts a month as 30 days and a year as 365 in bucket widths.
    "M": timedelta(days=30),
    "y": timedelta(days=365),
}
_INTERVAL = re.compile(r"^(\d+)(ms|s|m|h|d|w|M|y)$")


def parse_interval(text: str) -> timedelta:
    """'15m', '1h', '900s', '500ms' → timedelta (a bare number counts as seconds)."""
    value = text.strip().strip("'")
    if value.isdigit():
        return timedelta(seconds=int(value))
    match = _INTERVAL.match(value)
    if not match:
        raise MacroError(f"error parsing interval {text}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_interval(interval: timedelta) -> str:
    """The text Grafana shows for an interval: the largest unit that divides it exactly."""
    ms = interval // timedelta(milliseconds=1)
    if ms <= 0:
        raise ValueError("an interval is positive")
    for unit in ("y", "w", "d", "h", "m", "s"):
        size = _UNITS[unit] // timedelta(milliseconds=1)
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _go_float(value: float) -> str:
    """A float64 as Go's fmt %v prints it (shortest digits; exponent from 1e6 or below 1e-4).

    Grafana writes the bucket width of time_bucket with %v, so '900s' but '1e+06s'.
    """
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp10 = len(text) + exponent - 1
    minus = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    return minus + format(Decimal(repr(abs(value))).normalize(), "f")


def _rfc3339(ts: datetime) -> str:
    """UTC, RFC 3339 with as many fraction digits as needed (Go's time.RFC3339Nano)."""
    utc = ts.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _epoch(ts: datetime) -> int:
    return int(ts.timestamp())


def _epoch_nano(ts: datetime) -> int:
    delta = ts.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta // timedelta(microseconds=1)) * 1000


# ------------------------------------------------------------------ step 1: variables

# $name, ${name}, ${name:format}, [[name]], [[name:format]]
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format_value(variable: Variable, fmt: str | None) -> str:
    if fmt not in (None, "sqlstring", "csv", "raw"):
        raise MacroError(f"variable format {fmt!r} of ${variable.name} is not supported here")
    values = list(variable.values)
    if not values:
        raise MacroError(f"${variable.name} has no value selected")
    if fmt == "raw":
        return ",".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "sqlstring" or variable.multi or variable.include_all:
        return ",".join(_quote(v) for v in values)
    if len(values) != 1:
        raise MacroError(f"${variable.name} is single-valued but has {len(values)} values")
    return values[0].replace("'", "''")


def interpolate_variables(
    sql: str, variables: Mapping[str, Variable], interval: timedelta | None = None
) -> str:
    """Replace template variables and $__interval / $__interval_ms as Grafana's browser does.

    Built-ins starting with `__` other than the interval ones are left for the macro step.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(5)
        if name in ("__interval", "__interval_ms"):
            if interval is None:
                raise MacroError(f"${name} needs an interval")
            if name == "__interval":
                return format_interval(interval)
            return str(interval // timedelta(milliseconds=1))
        if name.startswith("__"):
            return match.group(0)
        if name not in variables:
            raise MacroError(f"unknown template variable ${name}")
        return _format_value(variables[name], fmt)

    return _VARIABLE.sub(replace, sql)


# ------------------------------------------------------------------ step 2: macros

# Grafana's own rule: a macro's arguments cannot contain ")".
_MACRO = re.compile(r"\$(\w+)\(([^)]*)\)")


def _group(column: str, width: str, timescaledb: bool) -> str:
    seconds = _go_float(parse_interval(width).total_seconds())
    if timescaledb:
        return f"time_bucket('{seconds}s',{column})"
    return f"floor(extract(epoch from {column})/{seconds})*{seconds}"


def _unix_group(column: str, width: str) -> str:
    seconds = _go_float(parse_interval(width).total_seconds())
    return f"floor({column}/{seconds})*{seconds}"


def _evaluate(name: str, args: list[str], time_range: TimeRange, timescaledb: bool) -> str:
    start, end = time_range.start, time_range.end
    column = args[0] if args and args[0] else None

    def need_column() -> str:
        if column is None:
            raise MacroError(f"missing time column argument for macro ${name}")
        return column

    def need_width() -> str:
        if len(args) < 2:
            raise MacroError(f"macro ${name} needs time column and interval and optional fill")
        return args[1]

    match name:
        case "__time":
            return f'{need_column()} AS "time"'
        case "__timeEpoch":
            return f'extract(epoch from {need_column()}) as "time"'
        case "__timeFilter":
            return f"{need_column()} BETWEEN '{_rfc3339(start)}' AND '{_rfc3339(end)}'"
        case "__timeFrom":
            return f"'{_rfc3339(start)}'"
        case "__timeTo":
            return f"'{_rfc3339(end)}'"
        case "__timeGroup":
            # A third argument (fill value) only changes how Grafana fills gaps in the result.
            return _group(need_column(), need_width(), timescaledb)
        case "__timeGroupAlias":
            return _group(need_column(), need_width(), timescaledb) + ' AS "time"'
        case "__unixEpochFilter":
            col = need_column()
            return f"{col} >= {_epoch(start)} AND {col} <= {_epoch(end)}"
        case "__unixEpochNanoFilter":
            col = need_column()
            return f"{col} >= {_epoch_nano(start)} AND {col} <= {_epoch_nano(end)}"
        case "__unixEpochFrom":
            return str(_epoch(start))
        case "__unixEpochTo":
            return str(_epoch(end))
        case "__unixEpochNanoFrom":
            return str(_epoch_nano(start))
        case "__unixEpochNanoTo":
            return str(_epoch_nano(end))
        case "__unixEpochGroup":
            return _unix_group(need_column(), need_width())
        case "__unixEpochGroupAlias":
            return _unix_group(need_column(), need_width()) + ' AS "time"'
    raise MacroError(f"unknown macro ${name}")


def expand_macros(
    sql: str, time_range: TimeRange, *, timescaledb: bool, interval: timedelta | None = None
) -> str:
    """Expand `$__macro(args)` as Grafana's PostgreSQL data source does on the server."""
    if interval is not None:
        # The server replaces these too, for queries that did not come through a dashboard.
        sql = sql.replace("$__interval_ms", str(interval // timedelta(milliseconds=1)))
        sql = sql.replace("$__interval", format_interval(interval))

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        # Before Grafana 5.3 $__timeGroup added the alias itself; a comma right after the call
        # still means "alias it".
        if name == "__timeGroup" and sql[match.end() : match.end() + 1] == ",":
            name = "__timeGroupAlias"
        args = [a.strip() for a in match.group(2).split(",")] if match.group(2).strip() else []
        return _evaluate(name, args, time_range, timescaledb)

    expanded = _MACRO.sub(replace, sql)
    leftover = re.search(r"\$__\w+", expanded)
    if leftover:
        raise MacroError(f"{leftover.group(0)} is not expanded (a macro needs parentheses)")
    return expanded


def render(
    sql: str,
    time_range: TimeRange,
    interval: timedelta,
    variables: Mapping[str, Variable],
    *,
    timescaledb: bool,
) -> str:
    """Both steps: the SQL Grafana would run for this panel query."""
    interpolated = interpolate_variables(sql, variables, interval)
    return expand_macros(interpolated, time_range, timescaledb=timescaledb, interval=interval)
