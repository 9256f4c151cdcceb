"""Hand-made RSM-012 CIM JSON documents for tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from flows.feed import gsrn_for

GSRN_A = gsrn_for(1)
GSRN_B = gsrn_for(2)


def _utc(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%MZ")


def rsm012(
    document_id: str,
    created: datetime,
    series: Sequence[tuple[str, str, str, datetime, datetime, Sequence[str | None]]],
    *,
    qualities: dict[int, str] | None = None,
) -> bytes:
    """series: (transaction id, GSRN, resolution, start, end, quantities as text or None)."""
    out = []
    for transaction_id, gsrn, resolution, start, end, quantities in series:
        points = []
        for position, quantity in enumerate(quantities, start=1):
            point: dict[str, object] = {"position": {"value": position}}
            quality = (qualities or {}).get(position)
            if quantity is None:
                point["quality"] = {"value": "A02"}
            else:
                point["quantity"] = f"@{quantity}@"
                if quality:
                    point["quality"] = {"value": quality}
            points.append(point)
        out.append(
            {
                "mRID": transaction_id,
                "marketEvaluationPoint.mRID": {"codingScheme": "A10", "value": gsrn},
                "marketEvaluationPoint.type": {"value": "E17"},
                "product": "8716867000030",
                "quantity_Measure_Unit.name": {"value": "KWH"},
                "Period": {
                    "resolution": resolution,
                    "timeInterval": {"start": {"value": _utc(start)}, "end": {"value": _utc(end)}},
                    "Point": points,
                },
            }
        )
    document = {
        "NotifyValidatedMeasureData_MarketDocument": {
            "mRID": document_id,
            "businessSector.type": {"value": "23"},
            "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "process.processType": {"value": "E23"},
            "receiver_MarketParticipant.mRID": {"codingScheme": "A10", "value": "5790001234560"},
            "receiver_MarketParticipant.marketRole.type": {"value": "DDQ"},
            "sender_MarketParticipant.mRID": {"codingScheme": "A10", "value": "5790001330552"},
            "sender_MarketParticipant.marketRole.type": {"value": "DGL"},
            "type": {"value": "E66"},
            "Series": out,
        }
    }
    # Quantities are JSON numbers written from their exact text, never through float.
    return json.dumps(document).replace('"@', "").replace('@"', "").encode()


def constant(count: int, value: str) -> list[str | None]:
    return [value] * count


def decimal_sum(values: Sequence[str | None]) -> Decimal:
    return sum((Decimal(v) for v in values if v is not None), Decimal("0.000"))
