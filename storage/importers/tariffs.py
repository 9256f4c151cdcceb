"""One grid_tariff version with its 24 hourly tariff_rate rows (hour_number 1 = 00–01 local),
shared by the DatahubPricelist and the D08 price-document importers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from storage.db import Conn
from storage.importers.common import Outcome


def store_tariff_version(
    conn: Conn,
    *,
    owner: str,
    code: str,
    tariff_type: str,
    area: str | None,
    valid_from: datetime,
    valid_to: datetime | None,
    note: str | None,
    resolution: str,
    prices: Sequence[Decimal],
) -> Outcome:
    """Upsert the version keyed on (owner, code, type, valid from, grid area) and its rates."""
    existing = conn.execute(
        """SELECT id, valid_to, note, resolution FROM grid_tariff
           WHERE charge_owner_id = %s AND charge_code = %s AND tariff_type = %s
             AND valid_from = %s AND grid_area_code IS NOT DISTINCT FROM %s""",
        (owner, code, tariff_type, valid_from, area),
    ).fetchone()
    if existing is None:
        tariff_id = uuid.uuid4()
        conn.execute(
            """INSERT INTO grid_tariff (id, grid_area_code, charge_owner_id, tariff_type,
                   valid_from, valid_to, charge_code, note, resolution)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (tariff_id, area, owner, tariff_type, valid_from, valid_to, code, note, resolution),
        )
        outcome: Outcome = "inserted"
    else:
        tariff_id = existing[0]
        outcome = "unchanged"
        if (existing[1], existing[2], existing[3]) != (valid_to, note, resolution):
            conn.execute(
                "UPDATE grid_tariff SET valid_to = %s, note = %s, resolution = %s WHERE id = %s",
                (valid_to, note, resolution, tariff_id),
            )
            outcome = "updated"
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO tariff_rate AS r (grid_tariff_id, hour_number, price_per_kwh)
               VALUES (%s, %s, %s)
               ON CONFLICT (grid_tariff_id, hour_number) DO UPDATE
                   SET price_per_kwh = EXCLUDED.price_per_kwh
                   WHERE r.price_per_kwh IS DISTINCT FROM EXCLUDED.price_per_kwh
               RETURNING 1""",
            [(tariff_id, hour + 1, price) for hour, price in enumerate(prices)],
            returning=True,
        )
        changed = 0
        while True:
            changed += len(cur.fetchall())
            if not cur.nextset():
                break
    if changed and outcome == "unchanged":
        outcome = "updated"
    return outcome
