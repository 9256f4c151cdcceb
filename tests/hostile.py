"""A generator of hostile RSM-012 messages: every kind found in issue 8 and more.

Each kind is a name, the dead-letter reason it must get, and a function of an instance number
that returns the message's bytes. Kinds built from a document embed the instance number in the
document mRID, so every instance is a distinct payload; kinds of fixed bytes (the empty
message, a lone BOM, …) repeat themselves and must be one dead letter each (dead letters are
unique on the payload).

This file is long (one line or three per kind) on purpose: the list of kinds is the point.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.feed import DATAHUB_GLN, SUPPLIER_GLN, gsrn_for
from schemas.rsm012 import NAMESPACE

ROOT = "NotifyValidatedMeasureData_MarketDocument"
DAY_START = datetime(2026, 10, 4, 22, tzinfo=UTC)  # local 2026-10-05
HUGE = 10_000


@dataclass(frozen=True)
class Kind:
    name: str
    reason: str
    make: Callable[[int], bytes]


def _utc(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%MZ")


def base(n: int, gsrn_index: int = 900) -> dict[str, Any]:
    """A valid one-series PT1H document; `n` makes its ids unique."""
    points = [{"position": {"value": p}, "quantity": "@1.5@"} for p in range(1, 25)]
    return {
        ROOT: {
            "mRID": f"hostile-{n}",
            "businessSector.type": {"value": "23"},
            "createdDateTime": "2026-10-06T03:00:00Z",
            "process.processType": {"value": "E23"},
            "receiver_MarketParticipant.mRID": {"codingScheme": "A10", "value": SUPPLIER_GLN},
            "receiver_MarketParticipant.marketRole.type": {"value": "DDQ"},
            "sender_MarketParticipant.mRID": {"codingScheme": "A10", "value": DATAHUB_GLN},
            "sender_MarketParticipant.marketRole.type": {"value": "DGL"},
            "type": {"value": "E66"},
            "Series": [
                {
                    "mRID": f"hostile-{n}-s1",
                    "marketEvaluationPoint.mRID": {
                        "codingScheme": "A10",
                        "value": gsrn_for(gsrn_index + n % 7),
                    },
                    "marketEvaluationPoint.type": {"value": "E17"},
                    "product": "8716867000030",
                    "quantity_Measure_Unit.name": {"value": "KWH"},
                    "Period": {
                        "resolution": "PT1H",
                        "timeInterval": {
                            "start": {"value": _utc(DAY_START)},
                            "end": {"value": _utc(DAY_START + timedelta(days=1))},
                        },
                        "Point": points,
                    },
                }
            ],
        }
    }


def dump(doc: dict[str, Any], **raw: str) -> bytes:
    """JSON of `doc`; "@x@" strings become the number x; `raw` replaces "@name@" strings by
    arbitrary JSON text (NaN, 1e400, …)."""
    text = json.dumps(doc)
    for name, value in raw.items():
        text = text.replace(f'"@{name}@"', value)
    return text.replace('"@', "").replace('@"', "").encode()


def _header(field: str, value: object) -> Callable[[int], bytes]:
    def make(n: int) -> bytes:
        doc = base(n)
        current = doc[ROOT].get(field)
        doc[ROOT][field] = {**current, "value": value} if isinstance(current, dict) else value
        return dump(doc)

    return make


def _series(field: str, value: object) -> Callable[[int], bytes]:
    def make(n: int) -> bytes:
        doc = base(n)
        series = doc[ROOT]["Series"][0]
        current = series.get(field)
        series[field] = {**current, "value": value} if isinstance(current, dict) else value
        return dump(doc)

    return make


def _period(field: str, value: object) -> Callable[[int], bytes]:
    def make(n: int) -> bytes:
        doc = base(n)
        period = doc[ROOT]["Series"][0]["Period"]
        if field in ("start", "end"):
            period["timeInterval"][field] = {"value": value}
        else:
            period[field] = value
        return dump(doc)

    return make


def _point(index: int, **fields: object) -> Callable[[int], bytes]:
    """Replace fields of one point; a value None removes the field, a str "@raw:…@" is raw."""

    def make(n: int) -> bytes:
        doc = base(n)
        point = doc[ROOT]["Series"][0]["Period"]["Point"][index]
        raw = {}
        for key, value in fields.items():
            if value is None:
                point.pop(key, None)
            elif isinstance(value, str) and value.startswith("raw:"):
                point[key] = f"@R{key}@"
                raw[f"R{key}"] = value[4:]
            else:
                point[key] = value
        return dump(doc, **raw)

    return make


def _edit(change: Callable[[dict[str, Any]], object]) -> Callable[[int], bytes]:
    def make(n: int) -> bytes:
        doc = base(n)
        change(doc[ROOT])
        return dump(doc)

    return make


def _fixed(data: bytes) -> Callable[[int], bytes]:
    return lambda _n: data


def _xml(n: int, mrid: str | None = None, quantity: str = "1.5", prolog: str = "") -> str:
    points = "".join(
        f"<cim:Point><cim:position>{p}</cim:position><cim:quantity>{quantity}</cim:quantity>"
        "</cim:Point>"
        for p in range(1, 25)
    )
    return (
        f'{prolog}<cim:{ROOT} xmlns:cim="{NAMESPACE}">'
        f"<cim:mRID>{mrid or f'hostile-x{n}'}</cim:mRID><cim:type>E66</cim:type>"
        "<cim:process.processType>E23</cim:process.processType>"
        f'<cim:sender_MarketParticipant.mRID codingScheme="A10">{DATAHUB_GLN}'
        "</cim:sender_MarketParticipant.mRID>"
        "<cim:sender_MarketParticipant.marketRole.type>DGL"
        "</cim:sender_MarketParticipant.marketRole.type>"
        f'<cim:receiver_MarketParticipant.mRID codingScheme="A10">{SUPPLIER_GLN}'
        "</cim:receiver_MarketParticipant.mRID>"
        "<cim:receiver_MarketParticipant.marketRole.type>DDQ"
        "</cim:receiver_MarketParticipant.marketRole.type>"
        "<cim:createdDateTime>2026-10-06T03:00:00Z</cim:createdDateTime>"
        f"<cim:Series><cim:mRID>hostile-x{n}-s1</cim:mRID>"
        f'<cim:marketEvaluationPoint.mRID codingScheme="A10">{gsrn_for(950 + n % 7)}'
        "</cim:marketEvaluationPoint.mRID><cim:marketEvaluationPoint.type>E17"
        "</cim:marketEvaluationPoint.type><cim:quantity_Measure_Unit.name>KWH"
        "</cim:quantity_Measure_Unit.name><cim:Period><cim:resolution>PT1H</cim:resolution>"
        f"<cim:timeInterval><cim:start>{_utc(DAY_START)}</cim:start>"
        f"<cim:end>{_utc(DAY_START + timedelta(days=1))}</cim:end></cim:timeInterval>"
        f"{points}</cim:Period></cim:Series></cim:{ROOT}>"
    )


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
EXTERNAL_ENTITY = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _xml_kind(encoding: str, prolog: str = "", mrid: str | None = None) -> Callable[[int], bytes]:
    return lambda n: _xml(n, mrid=mrid, prolog=prolog).encode(encoding)


def _doc_with_entity(n: int, dtd: str, encoding: str = "utf-8") -> bytes:
    return _xml(n, mrid="&lol9;" if "lol" in dtd else "&xxe;", prolog=dtd).encode(encoding)


def _conflicting(change: Callable[[dict[str, Any]], None]) -> Callable[[int], bytes]:
    def make(n: int) -> bytes:
        doc = base(n)
        series = doc[ROOT]["Series"]
        twin = json.loads(json.dumps(series[0]))
        change(twin)
        series.append(twin)
        return dump(doc)

    return make


def _set_gsrn(series: dict[str, Any]) -> None:
    series["marketEvaluationPoint.mRID"]["value"] = gsrn_for(999)


def _set_quantity(series: dict[str, Any]) -> None:
    series["Period"]["Point"][0]["quantity"] = "@2.5@"


def _nested(depth: int) -> Callable[[int], bytes]:
    return lambda n: dump(base(n)).replace(b'"8716867000030"', b"[" * depth + b"]" * depth)


KINDS: list[Kind] = [
    # --- issue 8: five small messages that stopped ingest for good
    Kind("mrid with NUL", "bad_identifier", _header("mRID", "doc\x00nul")),
    Kind("mrid lone surrogate", "bad_identifier", _header("mRID", "doc\ud800")),
    Kind("period in year 9999", "time_out_of_range", _period("start", "9999-12-30T23:00Z")),
    Kind("period in year 0001", "time_out_of_range", _period("start", "0001-01-01T00:00Z")),
    Kind("mrid of 10 000 characters", "bad_identifier", _header("mRID", "M" * HUGE)),
    Kind("600 KB mrid (oversized dead letter)", "bad_identifier", _header("mRID", "B" * 600_000)),
    # --- issue 8: silent loss and late wins
    Kind("series mRID twice, other GSRN", "conflicting_series", _conflicting(_set_gsrn)),
    Kind("series mRID twice, other quantity", "conflicting_series", _conflicting(_set_quantity)),
    Kind(
        "created 9999-12-31",
        "time_out_of_range",
        _header("createdDateTime", "9999-12-31T00:00:00Z"),
    ),
    Kind(
        "created next year + 1",
        "time_out_of_range",
        _header("createdDateTime", "2030-01-01T00:00:00Z"),
    ),
    Kind(
        "created tomorrow",
        "created_in_future",
        lambda n: _header(
            "createdDateTime",
            (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )(n),
    ),
    Kind(
        "no quantity, quality A04",
        "schema_violation",
        _point(0, quantity=None, quality={"value": "A04"}),
    ),
    Kind(
        "no quantity, quality A03",
        "schema_violation",
        _point(1, quantity=None, quality={"value": "A03"}),
    ),
    Kind("quantity with quality A02", "schema_violation", _point(2, quality={"value": "A02"})),
    Kind(
        "DTD in UTF-16LE without BOM",
        "dtd_not_allowed",
        lambda n: _doc_with_entity(n, BILLION_LAUGHS, "utf-16-le"),
    ),
    Kind(
        "DTD in UTF-16BE without BOM",
        "dtd_not_allowed",
        lambda n: _doc_with_entity(n, BILLION_LAUGHS, "utf-16-be"),
    ),
    Kind(
        "DTD in UTF-32LE",
        "dtd_not_allowed",
        lambda n: _doc_with_entity(n, EXTERNAL_ENTITY, "utf-32-le"),
    ),
    Kind(
        "DTD in UTF-32BE",
        "dtd_not_allowed",
        lambda n: _doc_with_entity(n, EXTERNAL_ENTITY, "utf-32-be"),
    ),
    Kind(
        "DTD in UTF-16 with BOM",
        "dtd_not_allowed",
        lambda n: _doc_with_entity(n, EXTERNAL_ENTITY, "utf-16"),
    ),
    Kind("billion laughs", "dtd_not_allowed", lambda n: _doc_with_entity(n, BILLION_LAUGHS)),
    Kind("external entity", "dtd_not_allowed", lambda n: _doc_with_entity(n, EXTERNAL_ENTITY)),
    Kind("lowercase doctype", "dtd_not_allowed", lambda n: _xml(n, prolog="<!doctype x>").encode()),
    Kind(
        "DTD after a comment",
        "dtd_not_allowed",
        lambda n: _xml(n, prolog="<!-- hi --><!DOCTYPE x []>").encode(),
    ),
    Kind(
        "internal ENTITY without DOCTYPE",
        "dtd_not_allowed",
        lambda n: _xml(n, prolog='<!ENTITY a "b">').encode(),
    ),
    Kind("ESC sequence in mrid", "bad_identifier", _header("mRID", "doc\x1b[2J\x1b[31mRED")),
    Kind(
        "fake output line in mrid", "bad_identifier", _header("mRID", "x\n00000000  resolved  ok")
    ),
    # --- identifiers
    Kind("mrid 65 characters", "bad_identifier", _header("mRID", "a" * 65)),
    Kind("mrid with space", "bad_identifier", _header("mRID", "doc 1")),
    Kind("mrid with tab", "bad_identifier", _header("mRID", "doc\t1")),
    Kind("mrid with DEL", "bad_identifier", _header("mRID", "doc\x7f")),
    Kind("mrid with C1 control", "bad_identifier", _header("mRID", "doc\x9b31m")),
    Kind("mrid with bidi override", "bad_identifier", _header("mRID", "doc\u202egnp.exe")),
    Kind("mrid with zero-width space", "bad_identifier", _header("mRID", "doc\u200b")),
    Kind("mrid with emoji", "bad_identifier", _header("mRID", "doc\U0001f4a5")),
    Kind("mrid with Danish letter", "bad_identifier", _header("mRID", "måler")),
    Kind("mrid empty", "schema_violation", _header("mRID", "")),
    Kind("mrid null", "schema_violation", _header("mRID", None)),
    Kind("mrid number", "schema_violation", _header("mRID", 12345)),
    Kind("mrid list", "schema_violation", _header("mRID", ["a"])),
    Kind("mrid object", "schema_violation", _header("mRID", {"value": {"x": 1}})),
    Kind("series mrid NUL", "bad_identifier", _series("mRID", "s\x00")),
    Kind("series mrid surrogate", "bad_identifier", _series("mRID", "s\udfff")),
    Kind("series mrid 10 000", "bad_identifier", _series("mRID", "s" * HUGE)),
    Kind("series mrid ESC", "bad_identifier", _series("mRID", "s\x1b]0;title\x07")),
    Kind("series mrid empty", "schema_violation", _series("mRID", "")),
    Kind(
        "original transaction NUL",
        "bad_identifier",
        _series("originalTransactionIDReference_Series.mRID", "o\x00"),
    ),
    Kind(
        "original transaction 10 000",
        "bad_identifier",
        _series("originalTransactionIDReference_Series.mRID", "o" * HUGE),
    ),
    Kind(
        "original transaction number",
        "schema_violation",
        _series("originalTransactionIDReference_Series.mRID", 7),
    ),
    Kind(
        "sender GLN 17 characters",
        "bad_identifier",
        _header("sender_MarketParticipant.mRID", "5" * 17),
    ),
    Kind("sender GLN NUL", "bad_identifier", _header("sender_MarketParticipant.mRID", "579\x00")),
    Kind(
        "receiver GLN ESC", "bad_identifier", _header("receiver_MarketParticipant.mRID", "\x1b[0m")
    ),
    Kind(
        "receiver GLN missing", "schema_violation", _header("receiver_MarketParticipant.mRID", None)
    ),
    Kind("process type 10 000", "bad_identifier", _header("process.processType", "E" * HUGE)),
    Kind("process type NUL", "bad_identifier", _header("process.processType", "E2\x003")),
    Kind("business sector surrogate", "bad_identifier", _header("businessSector.type", "\ud83d")),
    Kind(
        "business sector object", "schema_violation", _header("businessSector.type", {"value": [1]})
    ),
    Kind(
        "sender role NUL",
        "bad_identifier",
        _header("sender_MarketParticipant.marketRole.type", "D\x00"),
    ),
    Kind(
        "receiver role 10 000",
        "bad_identifier",
        _header("receiver_MarketParticipant.marketRole.type", "D" * HUGE),
    ),
    Kind("product 10 000", "bad_identifier", _series("product", "8" * HUGE)),
    Kind("product NUL", "bad_identifier", _series("product", "87\x00")),
    Kind("product list", "schema_violation", _series("product", ["8716867000030"])),
    Kind("document type E66 + NUL", "wrong_document_type", _header("type", "E66\x00")),
    Kind("document type E31", "wrong_document_type", _header("type", "E31")),
    Kind("document type 10 000", "wrong_document_type", _header("type", "E" * HUGE)),
    # --- GSRN
    Kind("gsrn NUL", "bad_gsrn", _series("marketEvaluationPoint.mRID", "5713131\x00")),
    Kind("gsrn 10 000", "bad_gsrn", _series("marketEvaluationPoint.mRID", "5" * HUGE)),
    Kind("gsrn surrogate", "bad_gsrn", _series("marketEvaluationPoint.mRID", "\udc80")),
    Kind(
        "gsrn check digit", "bad_gsrn", _series("marketEvaluationPoint.mRID", "571313100000009001")
    ),
    Kind("gsrn number", "bad_gsrn", _series("marketEvaluationPoint.mRID", 571313100000009000)),
    Kind(
        "gsrn Arabic-Indic digits",
        "bad_gsrn",
        _series("marketEvaluationPoint.mRID", "٥٧" + "1" * 16),
    ),
    Kind("gsrn missing", "schema_violation", _series("marketEvaluationPoint.mRID", None)),
    # --- times
    Kind(
        "created year 1999", "time_out_of_range", _header("createdDateTime", "1999-01-01T00:00:00Z")
    ),
    Kind(
        "created 30 February",
        "schema_violation",
        _header("createdDateTime", "2026-02-30T06:00:00Z"),
    ),
    Kind(
        "created local time",
        "schema_violation",
        _header("createdDateTime", "2026-10-06T05:00:00+02:00"),
    ),
    Kind("created number", "schema_violation", _header("createdDateTime", 1790000000)),
    Kind("created 10 000", "schema_violation", _header("createdDateTime", "2" * HUGE)),
    Kind("created hour 24", "schema_violation", _header("createdDateTime", "2026-10-06T24:00:00Z")),
    Kind(
        "registration year 9999",
        "time_out_of_range",
        _series("registration_DateAndOrTime.dateTime", "9999-01-01T00:00:00Z"),
    ),
    Kind("end in year 9999", "time_out_of_range", _period("end", "9999-12-31T23:00Z")),
    Kind("start 10 000", "schema_violation", _period("start", "1" * HUGE)),
    Kind(
        "end before start", "schema_violation", _period("end", _utc(DAY_START - timedelta(hours=1)))
    ),
    Kind("interval not whole steps", "schema_violation", _period("end", "2026-10-05T22:30Z")),
    Kind("start off the hour", "schema_violation", _period("start", "2026-10-04T22:15Z")),
    Kind("position 350 401", "position_outside_interval", _point(0, position={"value": 350_401})),
    # --- resolution, unit, types
    Kind("resolution PT30M", "unknown_resolution", _period("resolution", "PT30M")),
    Kind("resolution 10 000", "unknown_resolution", _period("resolution", "P" * HUGE)),
    Kind("resolution NUL", "unknown_resolution", _period("resolution", "PT1H\x00")),
    Kind("resolution number", "schema_violation", _period("resolution", 60)),
    Kind("unit MWH", "schema_violation", _series("quantity_Measure_Unit.name", "MWH")),
    Kind("unit NUL", "schema_violation", _series("quantity_Measure_Unit.name", "KWH\x00")),
    Kind("metering point type X1", "schema_violation", _series("marketEvaluationPoint.type", "X1")),
    Kind(
        "metering point type 10 000",
        "schema_violation",
        _series("marketEvaluationPoint.type", "E" * HUGE),
    ),
    # --- quantities
    Kind("quantity NaN", "unparseable", _point(0, quantity="raw:NaN")),
    Kind("quantity Infinity", "unparseable", _point(0, quantity="raw:Infinity")),
    Kind("quantity -Infinity", "unparseable", _point(0, quantity="raw:-Infinity")),
    Kind("quantity 1e400", "schema_violation", _point(0, quantity="raw:1e400")),
    Kind("quantity 1e-400", "too_many_decimals", _point(0, quantity="raw:1e-400")),
    Kind("quantity 1E+999999999", "schema_violation", _point(0, quantity="raw:1E+999999999")),
    Kind("quantity 10**13", "schema_violation", _point(0, quantity="raw:10000000000000")),
    Kind(
        "quantity overflowing a day total",
        "schema_violation",
        _point(0, quantity="raw:999999999999999.999"),
    ),
    Kind("quantity 5000 digits", "unparseable", _point(0, quantity="raw:" + "9" * 5000)),
    Kind("quantity negative", "negative_quantity", _point(0, quantity="raw:-1.5")),
    Kind("quantity 4 decimals", "too_many_decimals", _point(0, quantity="raw:1.2345")),
    Kind("quantity true", "schema_violation", _point(0, quantity=True)),
    Kind("quantity list", "schema_violation", _point(0, quantity=[1])),
    Kind("quantity object of list", "schema_violation", _point(0, quantity={"value": [1]})),
    Kind("quantity text with letters", "schema_violation", _point(0, quantity="12kWh")),
    Kind("quantity text exponent", "schema_violation", _point(0, quantity="1e3")),
    # --- positions and qualities
    Kind("position 0", "position_outside_interval", _point(0, position={"value": 0})),
    Kind("position 25 of 24", "position_outside_interval", _point(0, position={"value": 25})),
    Kind("position negative", "position_outside_interval", _point(0, position={"value": -1})),
    Kind("position 1.5", "schema_violation", _point(0, position={"value": 1.5})),
    Kind("position true", "schema_violation", _point(0, position={"value": True})),
    Kind("position list", "schema_violation", _point(0, position=[1])),
    Kind("position 10**7", "position_outside_interval", _point(0, position={"value": 10**7})),
    Kind("position 5000 digits", "unparseable", _point(0, position="raw:" + "1" * 5000)),
    Kind("position twice", "schema_violation", _point(1, position={"value": 1})),
    Kind("position missing", "schema_violation", _point(0, position=None)),
    Kind("quality A01", "schema_violation", _point(0, quality={"value": "A01"})),
    Kind("quality NUL", "schema_violation", _point(0, quality={"value": "A04\x00"})),
    Kind("quality 10 000", "schema_violation", _point(0, quality={"value": "A" * HUGE})),
    Kind("quality number", "schema_violation", _point(0, quality={"value": 4})),
    # --- structure
    Kind("Series not a list", "schema_violation", _edit(lambda d: d.update(Series={"a": 1}))),
    Kind("Series empty", "schema_violation", _edit(lambda d: d.update(Series=[]))),
    Kind("Series element a string", "schema_violation", _edit(lambda d: d.update(Series=["x"]))),
    Kind("Series missing", "schema_violation", _edit(lambda d: d.pop("Series"))),
    Kind("Period missing", "schema_violation", _edit(lambda d: d["Series"][0].pop("Period"))),
    Kind(
        "two Periods",
        "schema_violation",
        _edit(lambda d: d["Series"][0].update(Period=[d["Series"][0]["Period"]] * 2)),
    ),
    Kind(
        "Point not a list",
        "schema_violation",
        _edit(lambda d: d["Series"][0]["Period"].update(Point={"a": 1})),
    ),
    Kind(
        "Point element a number",
        "schema_violation",
        _edit(lambda d: d["Series"][0]["Period"]["Point"].append(3)),
    ),
    Kind(
        "no Point", "schema_violation", _edit(lambda d: d["Series"][0]["Period"].update(Point=[]))
    ),
    Kind(
        "timeInterval missing",
        "schema_violation",
        _edit(lambda d: d["Series"][0]["Period"].pop("timeInterval")),
    ),
    Kind("root a string", "schema_violation", lambda n: json.dumps({ROOT: f"x{n}"}).encode()),
    Kind(
        "other market document",
        "wrong_document_type",
        lambda n: json.dumps({"NotifyAggregatedMeasureData_MarketDocument": {"mRID": n}}).encode(),
    ),
    Kind("other root 10 000", "schema_violation", lambda n: json.dumps({"X" * HUGE: n}).encode()),
    Kind("top level array", "schema_violation", _fixed(b"[1, 2, 3]")),
    Kind("top level number", "schema_violation", _fixed(b"42")),
    Kind("top level null", "schema_violation", _fixed(b"null")),
    Kind("deeply nested product", "unparseable", _nested(100_000)),
    Kind("deeply nested arrays only", "unparseable", _fixed(b"[" * 200_000 + b"]" * 200_000)),
    # --- bytes and encodings
    Kind("empty message", "unparseable", _fixed(b"")),
    Kind("whitespace only", "unparseable", _fixed(b" \r\n\t ")),
    Kind("BOM only", "unparseable", _fixed(b"\xef\xbb\xbf")),
    Kind("random bytes", "unparseable", lambda n: random.Random(n).randbytes(512)),
    Kind("all 256 bytes", "unparseable", _fixed(bytes(range(256)))),
    Kind(
        "latin-1 JSON", "unparseable", lambda n: dump(base(n)).replace(b"hostile-", b"h\xf8stile-")
    ),
    Kind(
        "overlong UTF-8 slash",
        "unparseable",
        lambda n: dump(base(n)).replace(b"hostile-", b"\xc0\xafhostile-"),
    ),
    Kind(
        "CESU-8 surrogate bytes",
        "unparseable",
        lambda n: dump(base(n)).replace(b"hostile-", b"\xed\xa0\x80-"),
    ),
    Kind("JSON in UTF-16LE", "unparseable", lambda n: dump(base(n)).decode().encode("utf-16-le")),
    Kind("JSON in UTF-32BE", "unparseable", lambda n: dump(base(n)).decode().encode("utf-32-be")),
    Kind(
        "NUL byte between JSON tokens",
        "unparseable",
        lambda n: dump(base(n)).replace(b", ", b",\x00 ", 1),
    ),
    Kind("truncated JSON", "unparseable", lambda n: dump(base(n))[:-7]),
    Kind("JSON with trailing garbage", "unparseable", lambda n: dump(base(n)) + b"}{"),
    Kind("truncated XML", "unparseable", lambda n: _xml(n).encode()[:-20]),
    Kind(
        "XML declared ISO-8859-1",
        "unparseable",
        _xml_kind("latin-1", '<?xml version="1.0" encoding="ISO-8859-1"?>'),
    ),
    Kind(
        "XML declared UTF-7",
        "unparseable",
        _xml_kind("utf-8", '<?xml version="1.0" encoding="UTF-7"?>'),
    ),
    Kind("XML NUL character reference", "unparseable", _xml_kind("utf-8", mrid="a&#0;b")),
    Kind("XML surrogate reference", "unparseable", _xml_kind("utf-8", mrid="a&#xD800;b")),
    Kind("XML ESC character reference", "unparseable", _xml_kind("utf-8", mrid="a&#27;b")),
    Kind("XML mrid 10 000", "bad_identifier", _xml_kind("utf-8", mrid="X" * HUGE)),
    Kind("XML mrid with tab reference", "bad_identifier", _xml_kind("utf-8", mrid="a&#9;b")),
    Kind("XML quantity exponent", "schema_violation", lambda n: _xml(n, quantity="5.6E1").encode()),
    Kind("XML quantity NaN", "schema_violation", lambda n: _xml(n, quantity="NaN").encode()),
    Kind(
        "XML other namespace",
        "schema_violation",
        lambda n: _xml(n).replace(NAMESPACE, "urn:evil").encode(),
    ),
    Kind(
        "XML other root",
        "wrong_document_type",
        lambda n: _xml(n).replace(ROOT, "Evil_MarketDocument").encode(),
    ),
    Kind(
        "XML deep nesting",
        "wrong_document_type",
        lambda n: b"<a>" * 50_000 + f"{n}".encode() + b"</a>" * 50_000,
    ),
    Kind("XML undefined entity", "unparseable", _xml_kind("utf-8", mrid="&evil;")),
]

HOSTILE_REASONS = frozenset(k.reason for k in KINDS)


def hostile_messages(instances: int = 1, start: int = 0) -> Iterator[tuple[str, str, bytes]]:
    """(kind name, expected reason, bytes) for every kind, `instances` times each."""
    for i in range(start, start + instances):
        for kind in KINDS:
            yield kind.name, kind.reason, kind.make(i)


def valid_extras(n: int) -> list[bytes]:
    """Valid documents shaped unusually: they must be stored, not dead-lettered."""
    repeated = base(10_000 + n, gsrn_index=960)
    repeated[ROOT]["Series"].append(repeated[ROOT]["Series"][0])  # identical twin: stored once
    exponent = base(20_000 + n, gsrn_index=970)
    exponent[ROOT]["Series"][0]["Period"]["Point"][0]["quantity"] = "@1E+3@"
    missing = base(30_000 + n, gsrn_index=980)
    missing[ROOT]["Series"][0]["Period"]["Point"][3] = {
        "position": {"value": 4},
        "quality": {"value": "A02"},
    }
    xml16 = _xml(40_000 + n).replace("hostile-x", "valid-x").encode("utf-16")
    return [dump(repeated), dump(exponent), dump(missing), xml16]
