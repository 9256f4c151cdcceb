"""The demo's metering-point processes: RSM-022 documents (CIM JSON) for a few of the demo's
metering points, published to the master-data topic and applied by the master-data flow before
the period close, so the close shows them.

Each chosen point gets its history from DataHub (created and connected long before the month,
in its own grid area) and one process during the month:
- moved to the other grid area of its price area on the 12th (E32): each run settles its part;
- disconnected on the 20th and reconnected on the 24th (E79): those four days are not billed;
- closed down on the 28th (D14): supply ends, the customer's invoice is a FinalSettlement;
- settlement method changed to Flex on the 8th (D17): shown on its grid area's run.
Synthetic values in DataHub's document shape; the grid company GLN is the demo's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flows import masterdata
from flows.feed import grid_area_for, gsrn_for
from flows.publisher import publish
from schemas.calendar import local_midnight_utc
from schemas.errors import ElflowError
from schemas.settings import Settings

SUPPLIER_GLN = "5799999933318"
# The other grid area of the same price area (the demo's spot prices are per price area).
MOVE_TO = {"344": "740", "740": "344"}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _document(
    mrid: str,
    process: str,
    gsrn: str,
    effective: datetime,
    *,
    grid_area: str,
    grid_gln: str,
    state: str,
    settlement: str = "E02",
) -> bytes:
    created = min(effective + timedelta(hours=8), datetime.now(UTC) - timedelta(minutes=1))
    point = {
        "mRID": {"codingScheme": "A10", "value": gsrn},
        "meteringPointResponsible_MarketParticipant.mRID": {
            "codingScheme": "A10",
            "value": grid_gln,
        },
        "type": {"value": "E17"},
        "settlementMethod": {"value": settlement},
        "meteringMethod": {"value": "D01"},
        "connectionState": {"value": state},
        "readCycle": {"value": "PT15M"},
        "meteringGridArea_Domain.mRID": {"codingScheme": "NDK", "value": grid_area},
        "energySupplier_MarketParticipant.mRID": {"codingScheme": "A10", "value": SUPPLIER_GLN},
        "supplyStart_DateAndOrTime.dateTime": "2019-12-31T23:00:00Z",
    }
    document = {
        "AccountingPointCharacteristics_MarketDocument": {
            "mRID": mrid,
            "type": {"value": "E07"},
            "process.processType": {"value": process},
            "businessSector.type": {"value": "23"},
            "sender_MarketParticipant.mRID": {"codingScheme": "A10", "value": "5790001330552"},
            "sender_MarketParticipant.marketRole.type": {"value": "DDZ"},
            "receiver_MarketParticipant.mRID": {"codingScheme": "A10", "value": SUPPLIER_GLN},
            "receiver_MarketParticipant.marketRole.type": {"value": "DDQ"},
            "createdDateTime": _stamp(created),
            "MktActivityRecord": [
                {
                    "mRID": f"{mrid}-1",
                    "validityStart_DateAndOrTime.dateTime": _stamp(effective),
                    "MarketEvaluationPoint": point,
                }
            ],
        }
    }
    return json.dumps(document).encode()


def demo_documents(
    month_start: date, metering_points: int, grid_areas: dict[str, str]
) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """(key, document) messages and one line per process, for the first suitable points:
    monthly post-paid customers that stay with us all month, in a grid area with a partner of
    the same price area. `grid_areas` maps code → grid company GLN."""
    kinds = ["move", "disconnect", "close-down", "flex"]
    chosen: list[tuple[str, int]] = []
    for i in range(metering_points):
        area = grid_area_for(i, tuple(grid_areas))
        # i % 40 == 39 switch supplier, i % 5 == 4 pay aconto, i % 7 == 6 are quarterly
        usual = i % 40 != 39 and i % 5 != 4 and i % 7 != 6
        if usual and area in MOVE_TO and MOVE_TO[area] in grid_areas:
            chosen.append((kinds[len(chosen)], i))
        if len(chosen) == len(kinds):
            break

    def at(day: int) -> datetime:
        return local_midnight_utc(month_start + timedelta(days=day - 1))

    messages: list[tuple[bytes, bytes]] = []
    story: list[str] = []
    since = local_midnight_utc(date(2020, 1, 1))
    for kind, i in chosen:
        gsrn, area = gsrn_for(i), grid_area_for(i, tuple(grid_areas))
        point = _Point(gsrn, area, grid_areas[area], f"DEMO-{gsrn[-6:]}-{month_start:%Y%m}")
        messages += [point.doc("create", "E02", since, "D03")]
        messages += [point.doc("connect", "D15", since + timedelta(days=1), "E22")]
        if kind == "move":
            target = MOVE_TO[area]
            moved = _Point(gsrn, target, grid_areas[target], point.prefix)
            messages += [moved.doc("move", "E32", at(12), "E22")]
            story.append(f"{gsrn}: grid area {area} → {target} from the 12th (E32)")
        elif kind == "disconnect":
            messages += [point.doc("disconnect", "E79", at(20), "E23")]
            messages += [point.doc("reconnect", "E79", at(24), "E22")]
            story.append(f"{gsrn}: disconnected the 20th–23rd (E79), not billed then")
        elif kind == "close-down":
            messages += [point.doc("close", "D14", at(28), "D02")]
            story.append(f"{gsrn}: closed down from the 28th (D14): a FinalSettlement invoice")
        else:
            messages += [point.doc("flex", "D17", at(8), "E22", settlement="D01")]
            story.append(f"{gsrn}: settlement method NonProfiled → Flex from the 8th (D17)")
    return messages, story


@dataclass(frozen=True)
class _Point:
    gsrn: str
    grid_area: str
    grid_gln: str
    prefix: str

    def doc(
        self, tag: str, process: str, moment: datetime, state: str, settlement: str = "E02"
    ) -> tuple[bytes, bytes]:
        document = _document(
            f"{self.prefix}-{tag}",
            process,
            self.gsrn,
            moment,
            grid_area=self.grid_area,
            grid_gln=self.grid_gln,
            state=state,
            settlement=settlement,
        )
        return self.gsrn.encode(), document


def supply_documents(
    index: int, month_start: date, effective: datetime, grid_areas: dict[str, str]
) -> list[tuple[bytes, bytes]]:
    """DataHub's RSM-022 for a point we win by a switch (deploy.demo_processes): its history
    since 2020 (created, connected) and the E03 master data to us from `effective`, which with
    the first reading completes the switch."""
    gsrn, area = gsrn_for(index), grid_area_for(index, tuple(grid_areas))
    point = _Point(gsrn, area, grid_areas[area], f"DEMO-{gsrn[-6:]}-{month_start:%Y%m}")
    since = local_midnight_utc(date(2020, 1, 1))
    return [
        point.doc("create", "E02", since, "D03"),
        point.doc("connect", "D15", since + timedelta(days=1), "E22"),
        point.doc("switch", "E03", effective, "E22"),
    ]


class DemoMasterDataError(ElflowError):
    """The master-data flow of the demo failed (one line)."""


def apply_demo_master_data(
    cfg: Settings,
    month_start: date,
    metering_points: int,
    grid_areas: dict[str, str],
    say: Callable[[str], None],
) -> None:
    """Publish the demo's RSM-022 documents and run the master-data flow until caught up."""
    messages, story = demo_documents(month_start, metering_points, grid_areas)
    if not messages:
        return
    publish(cfg, cfg.masterdata_topic, messages, partitions=2)
    say(f"published {len(messages)} RSM-022 documents to {cfg.masterdata_topic}:")
    for line in story:
        say(f"  {line}")
    run_masterdata_flow(cfg, say)


def run_masterdata_flow(cfg: Settings, say: Callable[[str], None]) -> None:
    """Run the master-data flow until it has caught up with its topic."""
    started = time.perf_counter()
    procs = masterdata.start(cfg, processes=1, until_end=True)
    codes = [p.wait() for p in procs]
    if any(codes):
        raise DemoMasterDataError(f"the master-data flow failed (exit codes {codes})")
    say(f"master-data flow caught up in {time.perf_counter() - started:.1f} s")
