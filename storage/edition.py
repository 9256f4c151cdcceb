"""Which TimescaleDB edition the database runs: the Apache build lacks continuous aggregates,
compression and jobs; the Community (Timescale License) build has them."""

from __future__ import annotations

from typing import Literal

from storage.db import Conn

Edition = Literal["apache", "community"]


def timescaledb_edition(conn: Conn) -> Edition:
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    license_ = (row[0] if row else None) or ""
    if license_ == "apache":
        return "apache"
    if license_ == "timescale":
        return "community"
    raise RuntimeError(f"TimescaleDB is not loaded (timescaledb.license = {license_!r})")
