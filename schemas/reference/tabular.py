"""Tabular reference files (CSV or Energi Data Service JSON) → records → typed fields.

Formats accepted:
- Energi Data Service API JSON, `{"records": [...]}` or a bare list of objects. Numbers are read
  straight from the JSON text into Decimal, never through float; NaN and Infinity become
  non-finite Decimals that the field readers refuse with the row.
- CSV with a header row; the delimiter (`;` or `,`) is taken from the header line. With `;` a
  decimal comma (`1093,53`) is accepted. UTF-8 with or without BOM. Empty cells are null.

Times: without a zone, `*UTC` columns are UTC and every other time is a local wall-clock time
(`schemas.calendar`, ELFLOW_TIMEZONE). An ambiguous local time (the repeated autumn hour)
resolves to its first occurrence; a local time that does not exist is an error.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.calendar import to_local, wall_time_to_utc
from schemas.reference.bounds import (
    FieldError,
    ReferenceDataError,
    bounded_amount,
    bounded_integer,
    bounded_text,
    in_window,
    shown,
)
from schemas.rsm012 import gsrn_check_digit, is_valid_gsrn

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d{1,18}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_JSON_INT_DIGITS = 18


class Frozen(BaseModel):
    """Base of every parsed reference record: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Record:
    number: int
    values: Mapping[str, object]
    decimal_comma: bool


def decode(data: bytes | str, name: str) -> str:
    """UTF-8 text (a BOM is dropped); a `str` is taken as already decoded."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReferenceDataError(
            name, None, f"not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


def load_records(data: bytes | str, name: str) -> list[Record]:
    text = decode(data, name)
    stripped = text.lstrip()
    if not stripped:
        raise ReferenceDataError(name, None, "file is empty")
    if stripped[0] in "[{":
        return _json_records(name, text)
    return _csv_records(name, stripped)


def _json_int(text: str) -> int | Decimal:
    # Very long integers stay Decimal: int() refuses more than 4 300 digits with a traceback.
    return int(text) if len(text.lstrip("-")) <= _JSON_INT_DIGITS else Decimal(text)


def parse_json(name: str, text: str) -> object:
    """JSON text with every number as int or Decimal (never float)."""
    try:
        return json.loads(text, parse_float=Decimal, parse_int=_json_int, parse_constant=Decimal)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ReferenceDataError(name, None, f"not valid JSON: {exc}") from None


def _json_records(name: str, text: str) -> list[Record]:
    return json_records(name, parse_json(name, text))


def json_records(name: str, document: object) -> list[Record]:
    """The records of a parsed JSON document: `{"records": [...]}` or a list of objects."""
    if isinstance(document, dict):
        if "records" not in document:
            raise ReferenceDataError(name, None, 'JSON object has no "records" list')
        document = document["records"]
    if not isinstance(document, list):
        raise ReferenceDataError(name, None, "JSON records are not a list")
    records = []
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise ReferenceDataError(name, index + 1, "record is not a JSON object")
        records.append(Record(index + 1, item, decimal_comma=False))
    return records


def _csv_rows(name: str, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(data row number, cells) of every non-blank row after the header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ReferenceDataError(name, number or None, f"not valid CSV: {exc}") from None
        if any(cell.strip() for cell in cells) or number == 0:
            yield number, cells
            number += 1


def _csv_records(name: str, text: str) -> list[Record]:
    header_line = text.splitlines()[0]
    if ";" in header_line:
        delimiter = ";"
    elif "," in header_line:
        delimiter = ","
    else:
        raise ReferenceDataError(
            name, None, "cannot find the CSV delimiter (';' or ',') in the header"
        )
    rows = _csv_rows(name, text, delimiter)
    header = [cell.strip() for cell in next(rows)[1]]
    for position, column in enumerate(header):
        if not column:
            raise ReferenceDataError(name, None, f"header column {position + 1} has no name")
        if header.index(column) != position:
            raise ReferenceDataError(name, None, f"header names column {shown(column)} twice")
    records = []
    for number, cells in rows:
        if len(cells) != len(header):
            raise ReferenceDataError(
                name, number, f"has {len(cells)} fields but the header has {len(header)}"
            )
        values = {
            column: (cell.strip() or None) for column, cell in zip(header, cells, strict=True)
        }
        records.append(Record(number, values, decimal_comma=delimiter == ";"))
    return records


class Fields:
    """Typed, bounded access to one record's fields; every failure is a one-line FieldError."""

    def __init__(self, record: Record) -> None:
        self._record = record

    def raw(self, name: str) -> object:
        if name not in self._record.values:
            raise FieldError(f"{name} is missing")
        value = self._record.values[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            raise FieldError(f"{name} is empty")
        return value

    def has(self, name: str) -> bool:
        value = self._record.values.get(name)
        return value is not None and not (isinstance(value, str) and not value.strip())

    def optional(self, name: str, read: Callable[[str], _T]) -> _T | None:
        return read(name) if self.has(name) else None

    def token(self, name: str) -> str:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise FieldError(f"{name} is not text: {shown(value)}")
        return str(value).strip()

    def text(self, name: str, limit: int, *, multiline: bool = False) -> str:
        return bounded_text(name, self.token(name), limit, multiline=multiline)

    def digits(self, name: str, count: int) -> str:
        value = self.token(name)
        if len(value) != count or not value.isascii() or not value.isdigit():
            raise FieldError(f"{name} must be {count} digits: {shown(value)}")
        return value

    def gsrn(self, name: str) -> str:
        """An 18-digit GSRN starting with 57 whose GS1 check digit is right: the same check as
        ingest (`schemas.rsm012.is_valid_gsrn`), so no metering point is loaded whose readings
        ingest would refuse."""
        value = self.digits(name, 18)
        if not value.startswith("57"):
            raise FieldError(f"{name} {value} is not a Danish GSRN (it must start with 57)")
        if not is_valid_gsrn(value):
            raise FieldError(
                f"{name} {value} has a wrong check digit: {value[17]}, but the GS1 check digit"
                f" of its first 17 digits is {gsrn_check_digit(value[:17])}"
            )
        return value

    def gln(self, name: str) -> str:
        return self.digits(name, 13)

    def decimal(self, name: str) -> Decimal:
        value = self.raw(name)
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, str):
            number = text_to_decimal(name, value.strip(), self._record.decimal_comma)
        else:
            raise FieldError(f"{name} is not a number: {shown(value)}")
        if not number.is_finite():
            raise FieldError(f"{name} is not a finite number: {shown(value)}")
        return number

    def amount(
        self, name: str, *, below: Decimal, decimals: int, why_not_negative: str = ""
    ) -> Decimal:
        """A non-negative number below `below` with at most `decimals` decimals."""
        return bounded_amount(
            name,
            self.decimal(name),
            below=below,
            decimals=decimals,
            why_not_negative=why_not_negative,
        )

    def integer(self, name: str, lowest: int, highest: int) -> int:
        value = self.raw(name)
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(
                f"{name} is not a whole number from {lowest} to {highest}: {shown(value)}"
            )
        return bounded_integer(name, value, lowest, highest)

    def boolean(self, name: str) -> bool:
        value = self.raw(name)
        if isinstance(value, bool):
            return value
        token = str(value).strip().lower()
        if token in _TRUE:
            return True
        if token in _FALSE:
            return False
        raise FieldError(f"{name} is not true/false: {shown(value)}")

    def uuid(self, name: str) -> uuid.UUID:
        value = self.token(name)
        try:
            return uuid.UUID(value)
        except ValueError:
            raise FieldError(f"{name} is not a UUID: {shown(value)}") from None

    def enum(self, name: str, kind: type[_E]) -> _E:
        value = self.token(name)
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise FieldError(f"{name} must be one of {allowed}: {shown(value)}") from None

    def _datetime(self, name: str) -> datetime:
        value = self.token(name)
        if not _DATETIME.fullmatch(value):
            raise FieldError(
                f"{name} is not a date-time: {shown(value)} (YYYY-MM-DD HH:MM[:SS], optionally"
                " followed by Z or an offset such as +01:00)"
            )
        try:
            moment = datetime.fromisoformat(value.replace(" ", "T", 1))
        except ValueError:
            raise FieldError(f"{name} is not a real date-time: {shown(value)}") from None
        in_window(name, moment)
        return moment

    def utc_datetime(self, name: str) -> datetime:
        """A UTC time; without zone it is taken as UTC (EDS `*UTC` columns)."""
        moment = self._datetime(name)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def local_wall_time(self, name: str) -> datetime:
        """A local wall-clock time, naive (EDS `*DK` columns)."""
        moment = self._datetime(name)
        if moment.tzinfo is None:
            return moment
        return to_local(moment).replace(tzinfo=None)

    def local_datetime(self, name: str) -> datetime:
        """An instant, aware UTC; without zone it is a local wall-clock time."""
        moment = self._datetime(name)
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
        try:
            return wall_time_to_utc(moment)
        except ValueError as exc:
            raise FieldError(f"{name}: {exc}") from None

    def local_date(self, name: str) -> date:
        """A local date: `YYYY-MM-DD`, or a date-time at local midnight."""
        value = self.token(name)
        if _DATE.fullmatch(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise FieldError(f"{name} is not a date: {shown(value)}") from None
            in_window(name, day)
            return day
        if not _DATETIME.fullmatch(value):
            raise FieldError(f"{name} is not a date (YYYY-MM-DD): {shown(value)}")
        moment = self._datetime(name)
        local = moment if moment.tzinfo is None else to_local(moment)
        if local.time() != time(0):
            raise FieldError(f"{name} must be a date (local midnight): {shown(value)}")
        return local.date()


def text_to_decimal(name: str, text: str, decimal_comma: bool = False) -> Decimal:
    candidate = text
    if decimal_comma and text.count(",") == 1 and "." not in text:
        candidate = text.replace(",", ".")
    if not _NUMBER.fullmatch(candidate):
        raise FieldError(f"{name} is not a number: {shown(text)}")
    try:
        return Decimal(candidate)
    except InvalidOperation:
        raise FieldError(f"{name} is not a number: {shown(text)}") from None


def validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    return f"{location}: {first['msg']}" if location else str(first["msg"])


def parse_rows(
    data: bytes | str,
    name: str,
    build: Callable[[Fields], _T],
    key: Callable[[_T], Hashable],
    key_name: str,
) -> list[_T]:
    """One item per record of file `name`; a duplicate `key` names the earlier row."""
    items: list[_T] = []
    seen: dict[Hashable, int] = {}
    for record in load_records(data, name):
        try:
            item = build(Fields(record))
        except FieldError as exc:
            raise ReferenceDataError(name, record.number, str(exc)) from None
        except ValidationError as exc:
            raise ReferenceDataError(name, record.number, validation_message(exc)) from None
        identity = key(item)
        if identity in seen:
            raise ReferenceDataError(
                name, record.number, f"duplicate {key_name} (same as row {seen[identity]})"
            )
        seen[identity] = record.number
        items.append(item)
    return items
