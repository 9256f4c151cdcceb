"""Import bounds (issue 8 item 7), table-driven, through `import_file` against the real database.

Every hostile file has a good row 1 and the refused value in row 2 (row 1 where the file has one
row): the refusal is exactly one line naming file and row, never PostgreSQL's text, and the
table it would have gone to is unchanged afterwards (one file = one transaction). (Over 400
lines: it is the table of every refusal, one row each.)
Over 400 lines because the table is data: one case per refused value, read top to bottom.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schemas.reference import ReferenceDataError
from storage.db import Conn, connect
from storage.importers import import_file
from tests.conftest import scratch_database

pytestmark = pytest.mark.services

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "reference"
HOURLY_D08 = FIXTURES / "datahub3" / "ChargePriceSeriesTariffHourlySample.xml"
NO_CREDIT = " (DatahubPricelist marks no charge as a credit; net a discount into its tariff)"
TABLE = {
    "pricelist": "grid_tariff",
    "pricelist-xml": "grid_tariff",
    "spot": "spot_price",
    "products": "product",
    "customers": "customer",
    "contracts": "contract",
    "metering_points": "metering_point",
    "grid_areas": "grid_area",
    "aconto_payments": "aconto_payment",
}
SEED = (
    ("grid_areas", "grid_areas.csv"),
    ("customers", "customers.json"),
    ("products", "products.csv"),
    ("metering_points", "metering_points.csv"),
    ("contracts", "contracts.csv"),
)


@pytest.fixture(scope="module")
def seeded() -> Iterator[str]:
    """One database for the whole table: refused files write nothing, so cases cannot meet."""
    with scratch_database(migrated=True) as url:
        with connect(url, autocommit=True) as conn:
            for kind, name in SEED:
                import_file(conn, kind, REFERENCE / name)
        yield url


def price_list(**bad: str) -> str:
    """Two DatahubPricelist records: Energinet's system tariff, then an N1 tariff with `bad`."""
    good = {
        "ChargeOwner": '"Energinet Systemansvar A/S (SYO)"',
        "GLN_Number": '"5790000432752"',
        "ChargeType": '"D03"',
        "ChargeTypeCode": '"41000"',
        "Note": '"Systemtarif"',
        "ValidFrom": '"2026-01-01T00:00:00"',
        "Price1": "0.072",
        "ResolutionDuration": '"PT1H"',
    }
    second = {
        **good,
        "ChargeOwner": '"N1 A/S - 131"',
        "GLN_Number": '"5790001089030"',
        "ChargeTypeCode": '"CD"',
        "Note": '"Nettarif C"',
        **bad,
    }
    rows = [", ".join(f'"{k}": {v}' for k, v in record.items()) for record in (good, second)]
    return '{"records": [{' + "}, {".join(rows) + "}]}"


def spot(price: str) -> str:
    rows = [
        ("2026-01-09T23:00:00", "2026-01-10T00:00:00", "612.5"),
        ("2026-01-09T23:15:00", "2026-01-10T00:15:00", price),
    ]
    records = [
        f'{{"TimeUTC": "{u}", "TimeDK": "{d}", "PriceArea": "DK1", "DayAheadPriceDKK": {p}}}'
        for u, d, p in rows
    ]
    return "[" + ", ".join(records) + "]"


def replaced(name: str, old: str, new: str) -> str:
    text = (REFERENCE / name).read_text("utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


def customers(**bad: object) -> str:
    records = json.loads((REFERENCE / "customers.json").read_text("utf-8"))["records"]
    records[1].update(bad)
    return json.dumps({"records": records}, ensure_ascii=True)


def d08(old: str, new: str) -> bytes:
    text = HOURLY_D08.read_text("utf-8-sig")
    assert old in text, old
    return text.replace(old, new, 1).encode()


LONG_DIGITS = "1" * 5000
CASES: list[tuple[str, str, str | bytes | Callable[[], str], str]] = [
    # ---- charge prices: never negative, finite, < 1 000 000, 6 decimals
    (
        "pricelist",
        "p.json",
        price_list(Price1="-0.2755", ChargeTypeCode='"CD R"'),
        "row 2: Price1 is negative: -0.2755" + NO_CREDIT,
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price5="-0.01"),
        "row 2: Price5 is negative: -0.01" + NO_CREDIT,
    ),
    (
        "pricelist",
        "p.json",
        price_list(
            GLN_Number='"5790000432752"',
            ChargeTypeCode='"EA-001"',
            Note='"Elafgift"',
            Price1="-0.008",
        ),
        "row 2: Price1 is negative: -0.008" + NO_CREDIT,
    ),
    (
        "pricelist",
        "p.json",
        price_list(
            ChargeType='"D01"',
            ChargeTypeCode='"CD-ABON"',
            ResolutionDuration='"P1M"',
            Price1="-33.36",
        ),
        "row 2: Price1 is negative: -33.36" + NO_CREDIT,
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price1="1e400"),
        "row 2: Price1 is out of range: 1E+400 (allowed 0 to 1000000)",
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price1="1e999999999999"),
        "row 2: Price1 is out of range: 1E+999999999999 (allowed 0 to 1000000)",
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price1="-1e-999999999999"),
        "row 2: Price1 is negative: -1E-999999999999" + NO_CREDIT,
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price1="1000000"),
        "row 2: Price1 is out of range: 1000000 (allowed 0 to 1000000)",
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price1="NaN"),
        "row 2: Price1 is not a finite number: 'NaN'",
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price2="Infinity"),
        "row 2: Price2 is not a finite number: 'Infinity'",
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price2='"-Infinity"'),
        "row 2: Price2 is not a number: '-Infinity'",
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price1="0.1234567"),
        "row 2: Price1 has more than 6 decimals: 0.1234567",
    ),
    (
        "pricelist",
        "p.json",
        price_list(Price1=LONG_DIGITS),
        f"row 2: Price1 is out of range: {LONG_DIGITS[:60]}… (5000 characters) (allowed 0 to 1000000)",
    ),
    (
        "pricelist",
        "p.json",
        price_list(ResolutionDuration='"P1M"'),
        "row 2: a tariff (ChargeType D03) must have ResolutionDuration PT1H or P1D",
    ),
    # ---- price-list texts and dates
    (
        "pricelist",
        "p.json",
        price_list(ChargeTypeCode='"CD-12345678"'),
        "row 2: ChargeTypeCode is longer than 10 characters (11)",
    ),
    (
        "pricelist",
        "p.json",
        price_list(Note='"Nettarif\\u0000C"'),
        "row 2: Note contains a control character: 'Nettarif\\x00C'",
    ),
    (
        "pricelist",
        "p.json",
        price_list(ChargeOwner='"N1 \\ud800"'),
        "row 2: ChargeOwner contains a lone surrogate: 'N1 \\ud800'",
    ),
    (
        "pricelist",
        "p.json",
        price_list(Description='"' + "x" * 2049 + '"'),
        "row 2: Description is longer than 2048 characters (2049)",
    ),
    (
        "pricelist",
        "p.json",
        price_list(ValidFrom='"0001-01-01T00:00:00"'),
        "row 2: ValidFrom 0001-01-01 is outside 1900-01-01..2099",
    ),
    (
        "pricelist",
        "p.json",
        price_list(ValidFrom='"9999-12-31T23:00:00"'),
        "row 2: ValidFrom 9999-12-31 is outside 1900-01-01..2099",
    ),
    # ---- D08 documents: the CIM price has no sign
    (
        "pricelist-xml",
        "d08.xml",
        d08("<cim:price.amount>2.002<", "<cim:price.amount>-2.002<"),
        "row 1: price.amount of position 2 is negative: -2.002",
    ),
    (
        "pricelist-xml",
        "d08.xml",
        d08("<cim:price.amount>2.002<", "<cim:price.amount>1e400<"),
        "row 1: price.amount of position 2 is out of range: 1E+400 (allowed 0 to 1000000)",
    ),
    (
        "pricelist-xml",
        "d08.xml",
        d08("<cim:price.amount>2.002<", "<cim:price.amount>NaN<"),
        "row 1: price.amount of position 2 is not a number: 'NaN'",
    ),
    (
        "pricelist-xml",
        "d08.xml",
        d08("<cim:mRID>TestTariff<", "<cim:mRID>TestTariff-2024<"),
        "row 1: mRID is longer than 10 characters (15)",
    ),
    (
        "pricelist-xml",
        "d08.xml",
        d08("<cim:position>1<", f"<cim:position>{LONG_DIGITS}<"),
        "row 1: position is longer than 36 characters (5000)",
    ),
    (
        "pricelist-xml",
        "d08.xml",
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'.encode(
            "utf-16-le"
        ),
        ": XML with a DTD is not accepted",
    ),
    # ---- spot prices may be negative, but not absurd
    (
        "spot",
        "s.json",
        spot("-100001"),
        "row 2: DayAheadPriceDKK is out of range: -100001 (allowed -100000 to 100000)",
    ),
    (
        "spot",
        "s.json",
        spot("1e400"),
        "row 2: DayAheadPriceDKK is out of range: 1E+400 (allowed -100000 to 100000)",
    ),
    (
        "spot",
        "s.json",
        spot("Infinity"),
        "row 2: DayAheadPriceDKK is not a finite number: 'Infinity'",
    ),
    # ---- products: margins, supplements, fixed prices, subscriptions
    (
        "products",
        "products.csv",
        replaced("products.csv", "Grøn Spot,Spot,4.50", "Grøn Spot,Spot,-4.50"),
        "row 2: MarginOrePerKwh is negative: -4.50",
    ),
    (
        "products",
        "products.csv",
        replaced("products.csv", ",1.25,29.00", ",-1.25,29.00"),
        "row 2: SupplementOrePerKwh is negative: -1.25",
    ),
    (
        "products",
        "products.csv",
        replaced("products.csv", ",1.25,29.00", ",1.25,-29.00"),
        "row 2: SubscriptionKrPerMonth is negative: -29.00",
    ),
    (
        "products",
        "products.csv",
        replaced("products.csv", ",true,89.95,", ",true,1e400,"),
        "row 3: FixedPriceOrePerKwh is out of range: 1E+400 (allowed 0 to 100000)",
    ),
    (
        "products",
        "products.csv",
        replaced("products.csv", ",Grøn Spot,", ",N" + "a" * 200 + ","),
        "row 2: Name is longer than 200 characters (201)",
    ),
    (
        "products",
        "products.csv",
        replaced("products.csv", ",Grøn Spot,", ",N" + "a" * 200_000 + ","),
        "row 2: not valid CSV: field larger than field limit (131072)",
    ),
    # ---- customers: bounded texts without control characters
    (
        "customers",
        "customers.json",
        lambda: customers(Name="x" * 20_000_000),  # built only when the case runs
        "row 2: Name is longer than 200 characters (20000000)",
    ),
    (
        "customers",
        "customers.json",
        customers(Name="Bageriet\x00ApS"),
        "row 2: Name contains a control character: 'Bageriet\\x00ApS'",
    ),
    (
        "customers",
        "customers.json",
        customers(Name="Bageriet \ud800"),
        "row 2: Name contains a lone surrogate: 'Bageriet \\ud800'",
    ),
    (
        "customers",
        "customers.json",
        customers(Email="a" * 250 + "@x.dk"),
        "row 2: Email is longer than 254 characters (255)",
    ),
    (
        "customers",
        "customers.json",
        customers(Phone="\x1b[2J+45 1"),
        "row 2: Phone contains a control character: '\\x1b[2J+45 1'",
    ),
    (
        "customers",
        "customers.json",
        customers(ContactType="Robot"),
        "row 2: ContactType must be Private or Business: 'Robot'",
    ),
    # ---- contracts and aconto payments
    (
        "contracts",
        "contracts.csv",
        replaced("contracts.csv", ";PostPayment;8;", ";PostPayment;400;"),
        "row 2: PaymentTermDays must be between 0 and 365: 400",
    ),
    (
        "contracts",
        "contracts.csv",
        replaced("contracts.csv", ";PostPayment;8;", f";PostPayment;{LONG_DIGITS};"),
        f"row 2: PaymentTermDays is not a whole number from 0 to 365: '{LONG_DIGITS[:60]}'… (5000 characters)",
    ),
    (
        "aconto_payments",
        "aconto_payments.json",
        replaced("aconto_payments.json", '"2140.00"', '"-2140.00"'),
        "row 2: Amount is negative: -2140.00",
    ),
    (
        "aconto_payments",
        "aconto_payments.json",
        replaced("aconto_payments.json", '"2140.00"', "1e400"),
        "row 2: Amount is out of range: 1E+400 (allowed 0 to 10000000)",
    ),
    # ---- refused by a look-up before the database would refuse it
    (
        "metering_points",
        "metering_points.csv",
        replaced("metering_points.csv", ";Disconnected;740;", ";Disconnected;999;"),
        "row 2: GridAreaCode 999 is not a known grid area; load grid_areas first",
    ),
]


def _count(conn: Conn, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("kind", "name", "content", "message"),
    CASES,
    ids=[f"{i:02d}-{case[0]}" for i, case in enumerate(CASES)],
)
def test_refused_file_names_file_and_row_and_writes_nothing(
    seeded: str,
    tmp_path: Path,
    kind: str,
    name: str,
    content: str | bytes | Callable[[], str],
    message: str,
) -> None:
    path = tmp_path / name
    content = content() if callable(content) else content
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    with connect(seeded, autocommit=True) as conn:
        before = _count(conn, TABLE[kind])
        with pytest.raises(ReferenceDataError) as caught:
            import_file(conn, kind, path)
        assert _count(conn, TABLE[kind]) == before
    text = str(caught.value)
    assert text == f"{name}{'' if message.startswith(':') else ' '}{message}"
    assert "\n" not in text and "Failing row" not in text and len(text) < 400


def test_negative_spot_prices_are_imported(seeded: str, tmp_path: Path) -> None:
    path = tmp_path / "negative.json"
    path.write_text(spot("-87.25"), encoding="utf-8")
    with connect(seeded, autocommit=True) as conn:
        assert import_file(conn, "spot", path).inserted == 2
        row = conn.execute("SELECT min(price_per_kwh) FROM spot_price").fetchone()
    assert row is not None and str(row[0]) == "-0.08725000"


def test_a_constraint_the_database_still_enforces_is_one_line_with_the_row(
    seeded: str, tmp_path: Path
) -> None:
    """A rule only the database knows (here one added for the test) is reported by name."""
    path = tmp_path / "grid_areas.csv"
    path.write_text(
        "Code,GridOperatorGln,GridOperatorName,PriceArea\n"
        "500,5790000000005,Allowed A/S,DK1\n"
        "501,5790000000005,Forbidden A/S,DK1\n",
        encoding="utf-8",
    )
    with connect(seeded, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE grid_area ADD CONSTRAINT grid_area_not_forbidden "
            "CHECK (grid_operator_name <> 'Forbidden A/S')"
        )
        try:
            before = _count(conn, "grid_area")
            with pytest.raises(ReferenceDataError) as caught:
                import_file(conn, "grid_areas", path)
            assert _count(conn, "grid_area") == before
        finally:
            conn.execute("ALTER TABLE grid_area DROP CONSTRAINT grid_area_not_forbidden")
    assert str(caught.value) == (
        "grid_areas.csv row 2: the row breaks a rule of the table "
        "(constraint grid_area_not_forbidden)"
    )
