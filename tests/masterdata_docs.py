"""RSM-022 test documents in the real shape: DataHub's CIM sample with the fields of a case."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

SAMPLE = (
    (
        Path(__file__).parent
        / "fixtures"
        / "market"
        / "rsm022-cim-accounting-point-characteristics.xml"
    )
    .read_bytes()
    .decode("utf-8-sig")
)
SUPPLIER = "5799999933318"


def gsrn(n: int) -> str:
    """A valid GSRN (GS1 check digit) numbered n."""
    from schemas.rsm012 import gsrn_check_digit

    body = f"57131313{n:09d}"
    return body + str(gsrn_check_digit(body))


def _set(xml: str, element: str, value: str | None) -> str:
    pattern = re.compile(rf"<cim:{re.escape(element)}( [^>]*)?>[^<]*</cim:{re.escape(element)}>")
    if value is None:
        return pattern.sub("", xml, count=1)
    return pattern.sub(
        lambda m: f"<cim:{element}{m.group(1) or ''}>{value}</cim:{element}>", xml, count=1
    )


def rsm022(
    process: str,
    point: str,
    effective: datetime,
    *,
    mrid: str,
    mp_type: str = "E17",
    state: str | None = None,
    grid_area: str = "031",
    settlement: str | None = "E02",
    supply_start: str | None = "2019-02-11T23:00:00Z",
    created: str = "2026-09-20T09:30:47Z",
) -> bytes:
    """CIM XML of one record; `state` is the record's connectionState (E79: E22/E23)."""
    xml = SAMPLE
    xml = xml.replace("<cim:mRID>25365897</cim:mRID>", f"<cim:mRID>{mrid}</cim:mRID>", 1)
    xml = xml.replace("<cim:mRID>2536982547</cim:mRID>", f"<cim:mRID>{mrid}-1</cim:mRID>", 1)
    xml = _set(xml, "process.processType", process)
    xml = _set(xml, "createdDateTime", created)
    xml = xml.replace("579999993331812345", point)
    xml = _set(
        xml, "validityStart_DateAndOrTime.dateTime", effective.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    xml = xml.replace("<cim:type>E17</cim:type>", f"<cim:type>{mp_type}</cim:type>", 1)
    xml = _set(
        xml,
        "connectionState",
        state if state is not None else ("E22" if process != "E02" else "D03"),
    )
    xml = _set(xml, "meteringGridArea_Domain.mRID", grid_area)
    xml = _set(xml, "settlementMethod", settlement)
    xml = _set(xml, "supplyStart_DateAndOrTime.dateTime", supply_start)
    return xml.encode()
