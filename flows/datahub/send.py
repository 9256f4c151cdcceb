"""`elflow datahub send`: our request documents (ELFLOW_OUTBOUND_TOPIC, published once each by
`elflow process relay`) → DataHub's request endpoints.

For each message (consumer group `elflow-datahub-send`, offsets committed only after DataHub's
answer is in the database), in one transaction that locks the request: a request that already
has DataHub's answer (or is no longer Sent / TimedOut) is skipped; otherwise the document is
POSTed, with its document mRID as DataHub's MessageId, and the answer recorded on the outbound
request:
- 202: accepted (`datahub_http_status` 202; the status stays Sent until DataHub's asynchronous
  confirm / reject arrives on the master-data topic);
- 400 with code 00101 (DataHub already has this MessageId): we sent it before and crashed before
  recording the answer, so it counts as accepted;
- any other 400: AcknowledgedError with DataHub's code and message, and a Rejected event whose
  reason is that code (`elflow process show` prints it).
5xx and timeouts are retried with back-off (the same MessageId, so a retry DataHub had already
taken is answered 00101); 401/403/413/415 stop with one line. A message that is not one of our
requests (no `request_id` header, unknown request, no endpoint for its document) is logged and
skipped: it fails only itself.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message

from flows.datahub import metrics
from flows.datahub.client import DataHubClient
from flows.runner import ensure_topic, quiet_client_config
from schemas.datahub import CONTENT_TYPES, DUPLICATE_MESSAGE_ID, outbound_name, parse_error
from schemas.printable import escape
from schemas.process_codes import OutboundStatus, ProcessEventType
from schemas.settings import Settings
from settlement import processes as run
from storage import datahub as store
from storage import processes as requests
from storage.db import Conn, connect

log = logging.getLogger(__name__)

GROUP = "elflow-datahub-send"
_OPEN = (OutboundStatus.SENT, OutboundStatus.TIMED_OUT)


def _header(msg: Message, name: str) -> str | None:
    for header in msg.headers() or []:
        value = header[1]
        if header[0] == name and isinstance(value, bytes):
            return value.decode("utf-8", "replace")
    return None


class Sender:
    def __init__(self, cfg: Settings, client: DataHubClient) -> None:
        self.cfg = cfg
        self.client = client
        self.outcomes: dict[str, int] = {}

    def handle(self, conn: Conn, msg: Message) -> str:
        """Send one outbound message (inside the caller's transaction); returns the outcome."""
        where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
        try:
            request_id = uuid.UUID(_header(msg, "request_id") or "")
        except ValueError:
            log.warning("%s: no request_id header; skipped", where)
            return "skipped"
        answered = store.outbound_answer(conn, request_id)
        if answered is None or answered[1] is not None or answered[0] not in _OPEN:
            return "already"
        document = msg.value() or b""
        name = outbound_name(document)
        path = self.cfg.datahub_request_paths.get(name or "")
        if path is None:
            log.warning("%s: no request endpoint for %s; skipped", where, escape(str(name)))
            return "skipped"
        answer = self.client.call(
            "POST",
            path,
            what=f"request {name}",
            content_type=CONTENT_TYPES["json"],
            body=document,
        )
        now = datetime.now(UTC)
        if answer.status_code == 202:
            store.record_answer(conn, request_id, http_status=202, at=now)
            return "accepted"
        if answer.status_code != 400:
            # 200/201/204 are not documented for requests; treat as accepted, say so.
            log.warning(
                "%s: DataHub answered HTTP %d; taken as accepted", where, answer.status_code
            )
            store.record_answer(conn, request_id, http_status=answer.status_code, at=now)
            return "accepted"
        error = parse_error(answer.content)
        if error.code == DUPLICATE_MESSAGE_ID:
            store.record_answer(conn, request_id, http_status=202, at=now)
            return "duplicate"
        store.record_answer(
            conn,
            request_id,
            http_status=400,
            at=now,
            error=(error.code, error.message),
            status=OutboundStatus.ACKNOWLEDGED_ERROR,
        )
        req = requests.request(conn, request_id, lock=True)
        if req is not None:
            reasons = [{"code": error.code, "text": error.message}]
            run.record(
                conn,
                req,
                ProcessEventType.REJECTED,
                now,
                {"by": "DataHub (HTTP 400)", "reasons": reasons},
            )
        log.info(
            "request %s refused by DataHub: %s %s", request_id, error.code, escape(error.message)
        )
        return "refused"


def _caught_up(consumer: Consumer) -> bool:
    """Whether the consumer has partitions and has read (or committed) each of them to its end."""
    assigned = consumer.assignment()
    if not assigned:
        return False
    committed = {(p.topic, p.partition): p.offset for p in consumer.committed(assigned, timeout=10)}
    for part in consumer.position(assigned):
        low, high = consumer.get_watermark_offsets(part, timeout=10)
        offset = (
            part.offset if part.offset >= 0 else committed.get((part.topic, part.partition), -1)
        )
        if high > low and offset < high:
            return False
    return True


def run_sender(cfg: Settings, *, until_empty: bool) -> dict[str, int]:
    """Send until the outbound topic has nothing new (`until_empty`) or for ever."""
    ensure_topic(cfg, cfg.outbound_topic, partitions=2)
    consumer = Consumer(
        quiet_client_config(
            cfg,
            **{
                "group.id": GROUP,
                "enable.auto.commit": "false",
                "auto.offset.reset": "earliest",
            },
        )
    )
    consumer.subscribe([cfg.outbound_topic])
    client = DataHubClient(cfg)
    sender = Sender(cfg, client)
    idle = 0
    try:
        with connect(job="datahub") as conn:
            while True:
                msg = consumer.poll(1.0)
                if msg is None:
                    idle += 1
                    if until_empty and (_caught_up(consumer) or idle >= 60):
                        return sender.outcomes
                    continue
                idle = 0
                if msg.error():
                    log.warning("kafka: %s", msg.error())
                    continue
                with conn.transaction():
                    outcome = sender.handle(conn, msg)
                consumer.commit(message=msg, asynchronous=False)
                metrics.SENT.labels(outcome).inc()
                sender.outcomes[outcome] = sender.outcomes.get(outcome, 0) + 1
    finally:
        client.close()
        consumer.close()
