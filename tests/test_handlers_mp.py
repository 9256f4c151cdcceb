"""`elflow mp show` / `mp list` / `mp replay` handlers against the real database."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from deploy.handlers_mp import UnknownMeteringPoint, mp_list, mp_replay, mp_show
from settlement.masterdata import apply_batch, message_items
from storage.db import connect
from tests.masterdata_docs import gsrn, rsm022

pytestmark = pytest.mark.services

POINT = gsrn(42)


def test_show_and_list_print_local_dates_history_and_what_waits(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = [
        rsm022("E02", POINT, datetime(2026, 9, 30, 22, tzinfo=UTC), mrid="a"),
        rsm022("D15", POINT, datetime(2026, 10, 4, 22, tzinfo=UTC), mrid="b"),
        rsm022("E79", POINT, datetime(2026, 10, 6, 22, tzinfo=UTC), mrid="c", state="E22"),
    ]
    with connect(db) as conn:
        for raw in docs:
            apply_batch(conn, [i for _k, i in message_items(raw, "t", 0, 0)], topic="t")
    assert mp_show(argparse.Namespace(gsrn=POINT)) == 0
    out = capsys.readouterr().out
    assert f"{POINT}  type E17  Connected  grid area 031" in out
    assert "2026-10-01 00:00 (+02:00)" in out  # local midnight, not 22:00 UTC
    assert "waiting: E79 of 2026-10-07" in out and "D16" in out
    assert mp_list(argparse.Namespace(grid_area="031")) == 0
    listed = capsys.readouterr().out
    assert f"{POINT}  E17   Connected" in listed and "2026-10-05" in listed
    assert mp_list(argparse.Namespace(grid_area="344")) == 0
    assert "0 metering points" in capsys.readouterr().out
    assert mp_replay(argparse.Namespace()) == 0
    assert "0 records applied, 1 still waiting" in capsys.readouterr().out
    with pytest.raises(UnknownMeteringPoint, match=gsrn(43)):
        mp_show(argparse.Namespace(gsrn=gsrn(43)))
