"""The customer lifecycle's code lists: the class diagram's names and DataHub's codes, in one place.

`ProcessType`, `ProcessStatus` and `OutboundStatus` are spelled as in the class diagram
(seeds/004, "Livscyklus", "DataHub-integration"). `DATAHUB` is the ONE mapping of each process
type to DataHub's business process (BRS), the CIM process type code and the request document we
send; sources and doubts are in MARKET_PROCESSES.md §1 and README "Customer lifecycle".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProcessType(StrEnum):
    SUPPLIER_SWITCH = "SupplierSwitch"
    SHORT_NOTICE_SWITCH = "ShortNoticeSwitch"
    MOVE_IN = "MoveIn"
    END_OF_SUPPLY = "EndOfSupply"
    FORCED_END_OF_SUPPLY = "ForcedEndOfSupply"
    MOVE_OUT = "MoveOut"
    CANCEL_SWITCH = "CancelSwitch"
    CANCEL_END_OF_SUPPLY = "CancelEndOfSupply"
    INCORRECT_SWITCH = "IncorrectSwitch"
    INCORRECT_MOVE = "IncorrectMove"
    REQUEST_SERVICE = "RequestService"  # BRS-039, to the grid access provider (elflow's name)


class ProcessStatus(StrEnum):
    PENDING = "Pending"
    SENT_TO_DATAHUB = "SentToDataHub"
    ACKNOWLEDGED = "Acknowledged"
    REJECTED = "Rejected"
    EFFECTUATION_PENDING = "EffectuationPending"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"


FINAL_STATUSES = frozenset(
    {ProcessStatus.REJECTED, ProcessStatus.COMPLETED, ProcessStatus.CANCELLED}
)


class ProcessEventType(StrEnum):
    """What happened to a request; each is one immutable process_event."""

    REQUESTED = "Requested"  # we asked (first event)
    NOTIFIED = "Notified"  # DataHub started it without our asking (first event)
    SENT_TO_DATAHUB = "SentToDataHub"  # the broker acknowledged our request document
    CONFIRMED = "Confirmed"  # DataHub accepted (A01)
    REJECTED = "Rejected"  # DataHub refused (A02 + reason codes)
    ANSWER_OVERDUE = "AnswerOverdue"  # no answer within ELFLOW_PROCESS_ANSWER_TIMEOUT_HOURS
    EFFECTUATION_SCHEDULED = "EffectuationScheduled"  # waiting for the effective date
    CANCELLED = "Cancelled"
    COMPLETED = "Completed"


class OutboundStatus(StrEnum):
    """The diagram's OutboundStatus, plus elflow's Queued (in the outbox, not yet on the broker)
    and Withdrawn (cancelled before it was sent: never published)."""

    QUEUED = "Queued"
    SENT = "Sent"
    ACKNOWLEDGED_OK = "AcknowledgedOk"
    ACKNOWLEDGED_ERROR = "AcknowledgedError"
    TIMED_OUT = "TimedOut"
    WITHDRAWN = "Withdrawn"


@dataclass(frozen=True)
class DataHubProcess:
    brs: str  # DataHub's business process
    process_code: str  # CIM process.processType of our request / of DataHub's notification
    confirmed: bool  # the code is confirmed by a source (MARKET_PROCESSES.md §1), not [U]


# Every request we send is the RSM-001 CIM JSON shape (RequestChangeOfSupplier_MarketDocument,
# type 392; confirmed for BRS-001 and BRS-009) with the process code below; for the other BRSs
# the shape is elflow's assumption (no public RSM-005/RSM-020 sample). ForcedEndOfSupply has no
# BRS: elflow uses it for supply that DataHub ends without our request (RSM-004 stop of supply:
# E01 after another supplier's switch or move-in, D31 after a BRS-044 forced change of
# supplier); we send nothing for it.
REQUEST_DOCUMENT = "RequestChangeOfSupplier_MarketDocument"
REQUEST_DOCUMENT_TYPE = "392"
DATAHUB: dict[ProcessType, DataHubProcess] = {
    ProcessType.SUPPLIER_SWITCH: DataHubProcess("BRS-001", "E03", False),
    ProcessType.SHORT_NOTICE_SWITCH: DataHubProcess("BRS-043", "D30", False),
    ProcessType.MOVE_IN: DataHubProcess("BRS-009", "E65", True),
    ProcessType.END_OF_SUPPLY: DataHubProcess("BRS-002", "E20", False),
    ProcessType.MOVE_OUT: DataHubProcess("BRS-010", "E66", False),
    ProcessType.CANCEL_SWITCH: DataHubProcess("BRS-001", "E03", False),
    ProcessType.CANCEL_END_OF_SUPPLY: DataHubProcess("BRS-002", "E20", False),
    ProcessType.INCORRECT_SWITCH: DataHubProcess("BRS-003", "D07", False),
    ProcessType.INCORRECT_MOVE: DataHubProcess("BRS-011", "D33", False),
    ProcessType.FORCED_END_OF_SUPPLY: DataHubProcess("BRS-044", "D31", True),
    ProcessType.REQUEST_SERVICE: DataHubProcess("BRS-039", "D22", False),
}
# We send a document for every process type but ForcedEndOfSupply.
SENT_BY_US = frozenset(t for t in ProcessType if t is not ProcessType.FORCED_END_OF_SUPPLY)

# BRS-039: the "Request Service" document (CL document type D03, RSM-020 [U]) and the CL service
# request type codes (MARKET_PROCESSES.md §2) of `elflow service request --type`. A reconnect is
# asked as D03 "connect" (elflow's reading: CL has no separate reconnect code).
SERVICE_DOCUMENT = "RequestService_MarketDocument"
SERVICE_DOCUMENT_TYPE = "D03"
SERVICE_TYPES: dict[str, str] = {
    "disconnect": "D01",
    "reconnect": "D03",
    "close-down": "D02",
    "meter-check": "D05",
    "flex": "D06",
    "non-profiled": "D07",
}

# Process types in which we gain supply on the effective date, and in which we lose it.
GAINS_SUPPLY = frozenset(
    {ProcessType.SUPPLIER_SWITCH, ProcessType.SHORT_NOTICE_SWITCH, ProcessType.MOVE_IN}
)
ENDS_SUPPLY = frozenset(
    {ProcessType.END_OF_SUPPLY, ProcessType.MOVE_OUT, ProcessType.FORCED_END_OF_SUPPLY}
)
# Cancellations and corrections and the process types they act on.
TARGETS: dict[ProcessType, frozenset[ProcessType]] = {
    ProcessType.CANCEL_SWITCH: frozenset(
        {ProcessType.SUPPLIER_SWITCH, ProcessType.SHORT_NOTICE_SWITCH}
    ),
    ProcessType.CANCEL_END_OF_SUPPLY: frozenset({ProcessType.END_OF_SUPPLY}),
    ProcessType.INCORRECT_SWITCH: frozenset(
        {ProcessType.SUPPLIER_SWITCH, ProcessType.SHORT_NOTICE_SWITCH}
    ),
    ProcessType.INCORRECT_MOVE: frozenset({ProcessType.MOVE_IN}),
}

# BRS-044's process code (a forced change of supplier: to us, or away from us).
BRS_044_FORCED_TRANSFER = "D31"
# RSM-004 GenericNotification process codes that stop our supply (we are the old supplier).
STOP_OF_SUPPLY_CODES = frozenset({"E01", BRS_044_FORCED_TRANSFER})

# DataHub reason codes (MARKET_PROCESSES.md §2) in words, for people.
REASON_TEXT: dict[str, str] = {
    "D02": "general error",
    "D16": "the metering point's connection state does not allow it",
    "D17": "the customer is the current customer (CPR/CVR)",
    "D36": "the metering point has no supplier",
    "D64": "a mandatory attribute is missing",
    "D66": "illegal format (not at local midnight)",
    "E10": "the metering point is unknown or not an accounting point",
    "E16": "unauthorised supplier",
    "E17": "the effective date is not within the time limits",
    "E22": "the metering point is blocked: another switch or move-in on that date",
    "E86": "incorrect value",
}


def reason_in_words(code: str) -> str:
    return REASON_TEXT.get(code, "reason code not known to elflow")
