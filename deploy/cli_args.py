"""The CLI's argument types and parser classes: every bad argument is one line.

Each type turns a command-line string into a checked value or raises ArgumentTypeError with a
sentence naming the form expected; `OneLineParser` prints argparse's complaint as one line
(`elflow settle: argument --period: … (see elflow settle --help)`), exit 2. Types whose handler
parses the text again (ids, effective dates) return the checked text.
"""

from __future__ import annotations

import argparse
import re
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any, NoReturn


def shows_default(action: argparse.Action) -> bool:
    """An option whose default is worth a `(default: …)` in its help."""
    default = action.default
    if not action.option_strings or "default" in (action.help or ""):
        return False
    return default not in (None, False, argparse.SUPPRESS, [])


class OneLineParser(argparse.ArgumentParser):
    """argparse whose complaint is one line (the usage is one `--help` away) and whose options
    without a help text still show their default."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.help is None and shows_default(action):
            action.help = "(default: %(default)s)"
        return action


class DefaultsHelp(argparse.HelpFormatter):
    """Help that shows an option's default wherever there is one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if not shows_default(action):
            return action.help
        return f"{action.help} (default: %(default)s)"


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("elflow")
    except PackageNotFoundError:
        return "(not installed: run from a source tree)"


def period(text: str) -> object:
    from schemas.calendar import BillingPeriod, PeriodError

    try:
        return BillingPeriod.parse(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def non_negative(text: str) -> int:
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def port(text: str) -> int:
    value = non_negative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535)")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not from 0 to 1")
    return value


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def day_text(text: str) -> str:
    """A local date, checked and kept as text (the handlers parse it again)."""
    return day(text).isoformat()


def uuid_text(text: str) -> str:
    """An id (UUID), checked and kept as text in its canonical form."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an id (a UUID such as 0b5e9c1e-…-4f7a)"
        ) from None


def gsrn(text: str) -> str:
    from schemas.rsm012 import is_valid_gsrn

    if not is_valid_gsrn(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a GSRN (18 digits, the last one the GS1 check digit)"
        )
    return text


def pattern(regex: str, form: str) -> Callable[[str], str]:
    compiled = re.compile(regex, re.ASCII)

    def check(text: str) -> str:
        if not compiled.fullmatch(text):
            raise argparse.ArgumentTypeError(f"{text!r} is not {form}")
        return text

    return check


grid_area = pattern(r"\d{3}", "a grid area (3 digits, e.g. 791)")
database_name = pattern(
    r"[A-Za-z_][A-Za-z0-9_$-]{0,62}", "a database name (letters, digits, _ $ -; at most 63)"
)
gln = pattern(r"\d{13}", "a GLN (13 digits)")
invoice_number = pattern(r"[A-Z0-9]{1,20}-\d{4}-\d{6,}", "an invoice number (e.g. EF-2026-000123)")


def offset_target(text: str) -> str:
    from flows.offsets import OffsetError, parse_target

    try:
        parse_target(text)
    except OffsetError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--to {text!r}: ")) from None
    return text
