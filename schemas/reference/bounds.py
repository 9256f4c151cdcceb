"""What a reference data file may contain: the one error type, and the bounds every value obeys.

Every refusal is a `ReferenceDataError` whose `str()` is one line naming the file and the row
(`products.csv row 3: MarginOrePerKwh is negative: -1.5`). Values quoted in messages are
escaped (`repr`) and cut to `SHOWN_MAX` characters, so a hostile cell can neither flood the
terminal nor move its cursor.

The bounds (README "Import bounds" lists them for operators):
- text: no control characters (tab/newline allowed only in descriptions), no lone surrogates, and
  at most the length of its `*_MAX` constant below; DataHub's own limits where DataHub states one
  (ARCHIVED-geh-charges docs/business-processes/validations.md, rules VR.441/446/447);
- charge prices (tariffs, fees, subscriptions, the electricity tax): 0 ≤ price < 1 000 000 with at
  most 6 decimals (VR.457, VR.509; CIM `price.amount` has no sign, and DatahubPricelist has no
  credit flag, so a negative charge price is refused everywhere);
- spot prices may be negative (they are, in real markets), within ±SPOT_LIMIT DKK/MWh;
- every number is finite: NaN, Infinity and out-of-range exponents (`1e400`) are refused;
- dates and times lie in [1900-01-01, 2100-01-01).
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from schemas.errors import ElflowError

NAME_MAX: Final = 200  # customer, product, grid operator and charge owner names (ours)
EMAIL_MAX: Final = 254  # RFC 5321: the longest forward-path a mail server must accept
ADDRESS_MAX: Final = 1000  # customer.address (migration 0014)
PHONE_MAX: Final = 32  # E.164 has at most 15 digits; room for "+45 " and spaces
WORD_MAX: Final = 20  # ContactType, VATClass and other one-word codes (ours)
CHARGE_CODE_MAX: Final = 10  # DataHub VR.441: a charge id has at most 10 characters
CHARGE_NAME_MAX: Final = 50  # DataHub VR.446: charge name (DatahubPricelist Note, CIM name)
DESCRIPTION_MAX: Final = 2048  # DataHub VR.447: charge description
MRID_MAX: Final = 36  # CIM mRID of a document or activity (a UUID's length)
PARTY_ID_MAX: Final = 16  # GLN (13 digits) or EIC (16 characters)
SHOWN_MAX: Final = 60  # characters of a bad value quoted in a message

CHARGE_PRICE_BELOW: Final = Decimal(1_000_000)  # VR.509
CHARGE_PRICE_DECIMALS: Final = 6  # VR.457: 99999999.999999
SPOT_LIMIT: Final = Decimal(100_000)  # DKK/MWh; SDAC clears within -500..+4 000 EUR/MWh
SPOT_DECIMALS: Final = 6  # as Energi Data Service publishes DKK/MWh
ORE_PER_KWH_BELOW: Final = Decimal(100_000)  # margin, supplement, fixed price: < 1 000 kr/kWh
ORE_DECIMALS: Final = 6
SUBSCRIPTION_BELOW: Final = Decimal(1_000_000)  # kr/month
SUBSCRIPTION_DECIMALS: Final = 6
SHARE_DECIMALS: Final = 6  # SpotShare, 0..1
ACONTO_BELOW: Final = Decimal(10_000_000)  # kr incl. VAT per billing period
ACONTO_DECIMALS: Final = 2
PAYMENT_TERM_DAYS_MAX: Final = 365
BINDING_MONTHS_MAX: Final = 120
POSITION_MAX: Final = 10_000  # CIM Point position (a month of quarter-hours is 2 976)

EARLIEST: Final = date(1900, 1, 1)
END_OF_WINDOW: Final = date(2100, 1, 1)


class ReferenceDataError(ElflowError):
    """A reference data file is refused; `str()` is one line naming the file and the row.

    `row` is the 1-based data row (CSV rows after the header, JSON records, charge items of an
    XML document), or None when the problem is with the file as a whole.
    """

    def __init__(self, source: str, row: int | None, message: str) -> None:
        self.source = source
        self.row = row
        self.message = " ".join(message.split())
        super().__init__(source, row, message)

    def __str__(self) -> str:
        where = self.source if self.row is None else f"{self.source} row {self.row}"
        return f"{where}: {self.message}"


class FieldError(Exception):
    """A bad value in one row; whoever knows the file and row turns it into ReferenceDataError."""


def shown(value: object) -> str:
    """A value as quoted in a message: escaped, and cut when long."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= SHOWN_MAX:
        return repr(text)
    return f"{text[:SHOWN_MAX]!r}… ({len(text)} characters)"


def shown_number(value: Decimal) -> str:
    """A Decimal as quoted in a message (only digits, sign, point and exponent), cut when long."""
    text = str(value)
    return text if len(text) <= SHOWN_MAX else f"{text[:SHOWN_MAX]}… ({len(text)} characters)"


def bounded_text(name: str, value: str, limit: int, *, multiline: bool = False) -> str:
    """`value` if it is at most `limit` characters of printable text."""
    if len(value) > limit:
        raise FieldError(f"{name} is longer than {limit} characters ({len(value)})")
    for character in value:
        category = unicodedata.category(character)
        if category == "Cs":
            raise FieldError(f"{name} contains a lone surrogate: {shown(value)}")
        if category == "Cc" and not (multiline and character in "\t\n\r"):
            raise FieldError(f"{name} contains a control character: {shown(value)}")
    return value


def bounded_amount(
    name: str,
    value: Decimal,
    *,
    below: Decimal,
    decimals: int,
    negative_allowed: bool = False,
    why_not_negative: str = "",
) -> Decimal:
    """`value` if it is finite, not negative (unless allowed), below `below` in magnitude and
    has at most `decimals` decimals."""
    if not value.is_finite():
        raise FieldError(f"{name} is not a finite number: {shown_number(value)}")
    if value < 0 and not negative_allowed:
        raise FieldError(f"{name} is negative: {shown_number(value)}{why_not_negative}")
    if value.copy_abs() >= below:  # copy_abs is exact; abs() overflows on 1e999999999999
        lowest = f"-{below}" if negative_allowed else "0"
        raise FieldError(
            f"{name} is out of range: {shown_number(value)} (allowed {lowest} to {below})"
        )
    step = Decimal(1).scaleb(-decimals)
    if value != value.quantize(step):
        raise FieldError(f"{name} has more than {decimals} decimals: {shown_number(value)}")
    exponent = value.as_tuple().exponent
    # Trailing zeros past the allowed decimals (0E-1000000) are dropped; PostgreSQL refuses them.
    return value if isinstance(exponent, int) and exponent >= -decimals else value.quantize(step)


def bounded_integer(name: str, value: int, lowest: int, highest: int) -> int:
    if not lowest <= value <= highest:
        raise FieldError(f"{name} must be between {lowest} and {highest}: {value}")
    return value


def in_window(name: str, moment: date | datetime) -> None:
    """Refuse dates and times outside [EARLIEST, END_OF_WINDOW) (before any time zone sum)."""
    day = moment.date() if isinstance(moment, datetime) else moment
    if not EARLIEST <= day < END_OF_WINDOW:
        raise FieldError(
            f"{name} {day.isoformat()} is outside {EARLIEST.isoformat()}..{END_OF_WINDOW.year - 1}"
        )
