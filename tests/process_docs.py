"""DataHub's lifecycle answers as the tests send them (shapes: schemas.process_documents), and a
small portfolio to run processes on."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.calendar import local_midnight_utc
from schemas.settings import Settings
from storage.db import Conn
from tests.conftest import use_database
from tests.topics import read_topic

DATAHUB_GLN = "5790001330552"
OTHER_SUPPLIER = "5790000000005"
# Valid GSRNs (GS1 check digit) of the test points.
POINTS = [
    "571313180400000018",
    "571313180400000025",
    "571313180400000032",
    "571313180400000049",
    "571313180400000056",
    "571313180400000063",
]
CUSTOMERS = [uuid.UUID(f"00000000-0000-4000-8000-00000000000{i}") for i in range(1, 7)]
PRODUCT = uuid.UUID("00000000-0000-4000-9000-000000000001")
CREATED = datetime(2026, 10, 1, 8, tzinfo=UTC)


def portfolio(
    conn: Conn,
    *,
    supplied: dict[str, tuple[uuid.UUID, date]],
    points: Sequence[str] = tuple(POINTS),
) -> None:
    """Grid area 344, the customers, one spot product, the points (E17, Connected); `supplied`
    gives the points we supply from a file: GSRN → (customer, start date)."""
    conn.execute("INSERT INTO grid_area VALUES ('344', '5790000610976', 'Net 344', 'DK2')")
    for n, customer in enumerate(CUSTOMERS, start=1):
        conn.execute(
            "INSERT INTO customer (id, name, cpr_cvr, contact_type) VALUES (%s, %s, %s, 'Private')",
            (customer, f"Kunde {n}", f"010190123{n}"),
        )
    conn.execute(
        "INSERT INTO product (id, name, energy_model) VALUES (%s, 'Spot', 'Spot')", (PRODUCT,)
    )
    for gsrn in points:
        conn.execute(
            """INSERT INTO metering_point (gsrn, type, settlement_method, connection_status,
                   grid_area_code, grid_operator_gln)
               VALUES (%s, 'E17_Consumption', 'Flex', 'Connected', '344', '5790000610976')""",
            (gsrn,),
        )
    for gsrn, (customer, start) in supplied.items():
        conn.execute(
            "INSERT INTO supply_period (id, gsrn, start_date) VALUES (%s, %s, %s)",
            (uuid.uuid4(), gsrn, start),
        )
        conn.execute(
            """INSERT INTO contract (id, customer_id, gsrn, product_id, billing_frequency,
                   payment_model, payment_term_days, start_date)
               VALUES (%s, %s, %s, %s, 'Monthly', 'PostPayment', 14, %s)""",
            (uuid.uuid4(), customer, gsrn, PRODUCT, start),
        )


def isolated_topics(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str) -> None:
    """A test's own outbound and master-data topics and recovery directory, and its database."""
    tag = uuid.uuid4().hex[:12]
    monkeypatch.setenv("ELFLOW_OUTBOUND_TOPIC", f"test.outbound.{tag}")
    monkeypatch.setenv("ELFLOW_MASTERDATA_TOPIC", f"test.md.{tag}")
    monkeypatch.setenv("ELFLOW_RECOVERY_DIR", str(tmp_path / "recovery"))
    use_database(monkeypatch, db)


def _header(name: str, mrid: str, process: str, created: datetime) -> dict[str, object]:
    return {
        "mRID": mrid,
        "type": {"value": "414" if name != "GenericNotification_MarketDocument" else "E44"},
        "process.processType": {"value": process},
        "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sender_MarketParticipant.mRID": {"codingScheme": "A10", "value": DATAHUB_GLN},
    }


def answer(
    request_id: uuid.UUID,
    *,
    accept: bool,
    reasons: tuple[tuple[str, str], ...] = (),
    created: datetime = CREATED,
    mrid: str | None = None,
    document: str = "ChangeOfSupplier",
) -> bytes:
    """A confirm (A01) or reject (A02) of our request (of a `Request<document>`)."""
    name = f"{'Confirm' if accept else 'Reject'}Request{document}_MarketDocument"
    body = _header(name, mrid or f"ans-{uuid.uuid4().hex[:20]}", "E03", created)
    body["reason.code"] = {"value": "A01" if accept else "A02"}
    record: dict[str, object] = {
        "mRID": f"dh-{str(request_id)[:8]}",
        "originalTransactionIDReference_MktActivityRecord.mRID": str(request_id),
    }
    if reasons:
        record["Reason"] = [{"code": {"value": c}, "text": t} for c, t in reasons]
    body["MktActivityRecord"] = [record]
    return json.dumps({name: body}).encode()


def notification(
    gsrn: str,
    effective: date,
    process: str,
    *,
    new_supplier: str | None = None,
    request_id: uuid.UUID | None = None,
    created: datetime = CREATED,
    mrid: str | None = None,
) -> bytes:
    """An RSM-004 GenericNotification (start or stop of supply) of a point from local midnight."""
    name = "GenericNotification_MarketDocument"
    body = _header(name, mrid or f"ntf-{uuid.uuid4().hex[:20]}", process, created)
    record: dict[str, object] = {
        "mRID": f"rec-{gsrn[-6:]}",
        "marketEvaluationPoint.mRID": {"codingScheme": "A10", "value": gsrn},
        "start_DateAndOrTime.dateTime": local_midnight_utc(effective).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
    }
    if new_supplier:
        record["marketEvaluationPoint.energySupplier_MarketParticipant.mRID"] = {
            "codingScheme": "A10",
            "value": new_supplier,
        }
    if request_id:
        record["originalTransactionIDReference_MktActivityRecord.mRID"] = str(request_id)
    body["MktActivityRecord"] = [record]
    return json.dumps({name: body}).encode()


def reading(conn: Conn, gsrn: str, day: date) -> None:
    """One quarter-hour reading at local midnight of `day` (the first reading of a new supply)."""
    conn.execute(
        """INSERT INTO metering_data (metering_point_id, "timestamp", resolution, quantity_kwh,
               quality, source_message_id, transaction_id, created_at)
           VALUES (%s, %s, 'PT15M', 0.25, 'A04', 'test', 'test', now())""",
        (gsrn, local_midnight_utc(day)),
    )


def outbound_documents(cfg: Settings) -> list[tuple[uuid.UUID, dict[str, Any]]]:
    """(request id, document) of every message on the outbound topic, in partition order."""
    return [
        (uuid.UUID(headers["request_id"].decode()), json.loads(value))
        for _partition, _key, value, headers in read_topic(cfg, cfg.outbound_topic)
    ]


def customer_data(
    gsrn: str,
    effective: date,
    *,
    request_id: uuid.UUID | None = None,
    number: str | None = "0212756369",
    scheme: str = "ARR",
    name: object = "Jan Hansen",
    email: object = "jan@example.dk",
    created: datetime = CREATED,
    mrid: str | None = None,
    process: str = "E03",
) -> bytes:
    """An RSM-028 customer-characteristics document (elflow's assumed shape: schemas.rsm028)
    with the fields of DataHub's RSM-027 sample; `number` None = no CPR/CVR (BRS-044)."""
    point: dict[str, object] = {
        "mRID": {"codingScheme": "A10", "value": gsrn},
        "firstCustomer_MarketParticipant.name": name,
        "secondCustomer_MarketParticipant.name": "Gry Hansen",
        "protectedName": False,
        "UsagePointLocation": [
            {"type": {"value": "D04"}, "mainAddress": {"postalCode": "9999"}},
            {
                "type": {"value": "D01"},
                "mainAddress": {
                    "streetDetail": {"name": "Vestergade", "number": "16",
                                     "floorIdentification": "2", "suiteNumber": "10"},
                    "townDetail": {"name": "Middelfart", "country": "DK"},
                    "postalCode": "5500",
                },
                "phone1": {"ituPhone": "25361498"},
                "electronicAddress": {"email1": email},
            },
        ],
    }  # fmt: skip
    if number is not None:
        point["firstCustomer_MarketParticipant.mRID"] = {"codingScheme": scheme, "value": number}
    record: dict[str, object] = {
        "mRID": f"cust-{gsrn[-6:]}",
        "start_DateAndOrTime.dateTime": local_midnight_utc(effective).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "MarketEvaluationPoint": point,
    }
    if request_id is not None:
        record["originalTransactionIDReference_MktActivityRecord.mRID"] = str(request_id)
    body = {
        "mRID": mrid or f"c28-{uuid.uuid4().hex[:20]}",
        "type": {"value": "E21"},
        "process.processType": {"value": process},
        "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sender_MarketParticipant.mRID": {"codingScheme": "A10", "value": DATAHUB_GLN},
        "MktActivityRecord": [record],
    }
    return json.dumps({"CharacteristicsOfACustomerAtAnAP_MarketDocument": body}).encode()


def supply_master_data(conn: Conn, gsrn: str, day: date, *, process: str = "E03") -> None:
    """DataHub's RSM-022 to the new supplier (us) effective at local midnight of `day`, applied
    by the master-data code (the completion trigger's master data)."""
    from settlement.masterdata import apply_batch, message_items
    from tests.masterdata_docs import rsm022

    start = local_midnight_utc(day)
    raw = rsm022(process, gsrn, start, mrid=f"md-{gsrn[-6:]}-{day}", grid_area="344",
                 supply_start=start.strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
    outcome = apply_batch(conn, [i for _k, i in message_items(raw, "t", 0, 0)], topic="t")
    assert outcome.applied == 1, outcome
