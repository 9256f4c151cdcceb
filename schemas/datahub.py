"""DataHub 3's B2B API, the parts without I/O: categories, formats, routing a peeked document to
a topic, the synchronous error body of a request, and the name of our outbound documents.

Sources and what is unconfirmed: /work/shared/B2B_API.md (§1 endpoints, §3 delivery).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final, Literal

# Category → the peek path (B2B_API.md §1). MasterData existed in 2023 and is kept for the
# market-process documents; TimeSeries is treated by DataHub as MeasureData.
PEEK_PATHS: Final = {
    "MeasureData": "/v1.0/cim/measuredata",
    "Aggregations": "/v1.0/cim/aggregations",
    "TimeSeries": "/v1.0/cim/timeseries",
    "MasterData": "/v1.0/cim/masterdata",
}
DEQUEUE_PATH: Final = "/v1.0/cim/dequeue/"
# The request Content-Type picks the format (Accept is not read).
CONTENT_TYPES: Final = {
    "json": "application/json",
    "xml": "application/xml",
    "ebix": "application/ebix",
}
DUPLICATE_MESSAGE_ID: Final = "00101"  # DataHub's code for a MessageId it has already received
MAX_MESSAGE_ID: Final = 36  # a longer id is refused by dequeue (400)

Route = Literal["readings", "masterdata"]

# The first document name in a JSON object or an XML root (possibly inside a SOAP envelope).
_JSON_NAME = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"([A-Za-z_]{1,100})"')
_XML_NAME = re.compile(
    rb"<(?:[A-Za-z0-9_]{1,40}:)?([A-Za-z_]{1,100}_MarketDocument|DK_[A-Za-z]{1,80})[\s>/]"
)
_JSON_MRID = re.compile(rb'"mRID"\s*:\s*"([^"\\]{1,64})"')
_XML_MRID = re.compile(rb"<(?:[A-Za-z0-9_]{1,40}:)?mRID>([^<]{1,64})</")
_MASTERDATA_NAME = re.compile(
    r"AccountingPoint[Cc]haracteristics_MarketDocument|DK_NotifyMasterDataMeteringPoint"
    r"|(?:Confirm|Reject)Request[A-Za-z]{1,60}_MarketDocument|GenericNotification_MarketDocument"
)
_HEAD_BYTES = 4096


@dataclass(frozen=True)
class Routing:
    """Where a peeked document goes: its name (None when unreadable), the topic kind, and its
    document mRID (the Kafka key; None when it has none we can read)."""

    name: str | None
    route: Route
    mrid: str | None


def route_document(body: bytes) -> Routing:
    """Route a document by its type without parsing it whole: master data, lifecycle answers and
    notifications to the master-data topic; RSM-012 and anything else to the readings topic,
    whose flow dead-letters what it cannot read (`wrong_document_type`, `unparseable`), so
    nothing is dropped here."""
    head = body[:_HEAD_BYTES]
    json_name = _JSON_NAME.match(head)
    if json_name:
        name: str | None = json_name.group(1).decode()
        mrid = _JSON_MRID.search(head)
    else:
        xml_name = _XML_NAME.search(head)
        name = xml_name.group(1).decode() if xml_name else None
        mrid = _XML_MRID.search(head)
    route: Route = "masterdata" if name and _MASTERDATA_NAME.fullmatch(name) else "readings"
    mrid_text = mrid.group(1).decode("ascii", "replace").strip() if mrid else None
    return Routing(name=name, route=route, mrid=mrid_text or None)


@dataclass(frozen=True)
class RequestError:
    """DataHub's synchronous refusal of a request: `{"Error":{"Code","Message",…}}`."""

    code: str
    message: str


def parse_error(body: bytes) -> RequestError:
    """The code and message of a 400 body (JSON; XML `<Error>` with the same fields); an
    unreadable body gives code `unreadable` and its first 200 characters, escaped."""
    text = body.decode("utf-8", "replace")
    try:
        error = json.loads(text).get("Error", {})
        return RequestError(str(error.get("Code", "")) or "unknown", str(error.get("Message", "")))
    except (ValueError, AttributeError):
        code = re.search(r"<Code>([^<]{1,50})</Code>", text)
        message = re.search(r"<Message>([^<]{0,500})</Message>", text)
        if code:
            return RequestError(code.group(1), message.group(1) if message else "")
    return RequestError("unreadable", text[:200].encode("unicode_escape").decode("ascii"))


def outbound_name(document: bytes) -> str | None:
    """The root name of one of our outbound JSON documents."""
    found = _JSON_NAME.match(document[:_HEAD_BYTES])
    return found.group(1).decode() if found else None
