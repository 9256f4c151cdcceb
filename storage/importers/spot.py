"""Spot prices (DayAheadPrices, Elspotprices) → spot_price, keyed on (price area, interval
start, resolution): one COPY into a temporary table, one upsert."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.reference.spot import SpotPriceRow
from storage.db import Conn
from storage.importers.common import ImportResult


def write_spot_prices(conn: Conn, rows: Sequence[SpotPriceRow], result: ImportResult) -> None:
    conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS spot_import (
               price_area text, hour timestamptz, resolution text, price_per_kwh numeric
           ) ON COMMIT DELETE ROWS"""
    )
    with conn.cursor().copy(
        "COPY spot_import (price_area, hour, resolution, price_per_kwh) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(
                (row.price_area.value, row.start, row.resolution.value, row.price_dkk_per_kwh)
            )
    changed = conn.execute(
        """INSERT INTO spot_price AS s (price_area, hour, resolution, price_per_kwh)
           SELECT price_area, hour, resolution, price_per_kwh FROM spot_import
           ON CONFLICT (price_area, hour, resolution) DO UPDATE
               SET price_per_kwh = EXCLUDED.price_per_kwh
               WHERE s.price_per_kwh IS DISTINCT FROM EXCLUDED.price_per_kwh
           RETURNING (xmax = 0)"""
    ).fetchall()
    result.inserted = sum(1 for (fresh,) in changed if fresh)
    result.updated = len(changed) - result.inserted
    result.unchanged = len(rows) - len(changed)
