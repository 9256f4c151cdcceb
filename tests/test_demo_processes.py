"""Which demo customers the demo's lifecycle step uses (deploy/demo_processes.py)."""

from __future__ import annotations

from datetime import date

from deploy.demo_data import DEMO_GRID_AREAS
from deploy.demo_masterdata import demo_documents
from deploy.demo_processes import demo_customers
from flows.feed import DEFAULT_GRID_AREAS


def test_the_switches_take_points_we_lost_and_the_move_out_a_monthly_customer() -> None:
    chosen = demo_customers(300)
    assert [c.role for c in chosen] == ["switch in", "move-out", "rejected", "cancelled"]
    by_role = {c.role: c.index for c in chosen}
    # Every 40th point leaves us on the 16th: a switch to us is possible after that.
    assert all(by_role[r] % 40 == 39 for r in ("switch in", "rejected", "cancelled"))
    assert all(c.day > 16 for c in chosen if c.role != "move-out")
    move = by_role["move-out"]
    assert move % 40 != 39 and move % 5 != 4 and move % 7 != 6  # monthly, post-paid, stays
    assert len({c.gsrn for c in chosen}) == 4


def test_the_lifecycle_points_are_not_the_master_data_processes_points() -> None:
    areas = {code: DEMO_GRID_AREAS[code][0] for code in DEFAULT_GRID_AREAS}
    messages, _story = demo_documents(date(2026, 10, 1), 300, areas)
    master_data_points = {key.decode() for key, _ in messages}
    assert master_data_points and not master_data_points & {c.gsrn for c in demo_customers(300)}


def test_a_portfolio_too_small_for_three_leavers_gets_no_processes() -> None:
    assert demo_customers(119) == []
    assert len(demo_customers(120)) == 4
