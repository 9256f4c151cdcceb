"""Publish queued process request documents on `ELFLOW_OUTBOUND_TOPIC`, each exactly once.

`settlement.processes.start` writes the document to outbound_request (Queued) in the transaction
of the request. The relay, in one transaction per batch, locks queued rows (skipping any a
cancellation holds), sends them (key = GSRN, headers `request_id`, `document_mrid`), waits for
the broker's acknowledgement and only then marks them Sent and records `SentToDataHub`. A crash
between sending and committing would send them again, so on start the relay reads the tail of
the topic (more than one batch per partition) and records what is already there first. One
relay runs at a time (an advisory lock).

    python -m flows.process_relay [--until-empty] [--batch N]
"""

from __future__ import annotations

import argparse
import json
import logging
import uuid
from datetime import UTC, datetime

from confluent_kafka import Producer

from flows.outbox_relay import relay_producer, run_relay, send_all
from schemas.process_codes import ProcessEventType, ProcessStatus
from schemas.settings import Settings, configure_logging, settings
from settlement import processes as run
from storage import processes as store
from storage.db import Conn

log = logging.getLogger(__name__)

DEFAULT_BATCH = 100
_LOCK = 7_231_013


def _mark_sent(conn: Conn, request_ids: list[uuid.UUID], how: str) -> int:
    """Queued → Sent and the SentToDataHub event, inside the caller's transaction."""
    now = datetime.now(UTC)
    marked = 0
    for request_id in request_ids:
        req = store.request(conn, request_id, lock=True)
        if req is None or not store.mark_sent(conn, request_id, now):
            continue
        if req.status == ProcessStatus.PENDING:
            run.record(conn, req, ProcessEventType.SENT_TO_DATAHUB, now, {"by": how})
        marked += 1
    return marked


def relay(cfg: Settings, *, until_empty: bool, batch: int = DEFAULT_BATCH) -> int:
    """Publish until nothing is queued (`until_empty`) or forever; returns documents sent."""
    topic = cfg.outbound_topic
    producer = relay_producer(cfg)
    return run_relay(
        cfg,
        topic=topic,
        lock_key=_LOCK,
        header_name="request_id",
        recover=lambda conn, ids: _mark_sent(conn, ids, "found on the topic after a restart"),
        send_batch=lambda conn: _send_batch(conn, producer, topic, batch),
        until_empty=until_empty,
        batch=batch,
    )


def _send_batch(conn: Conn, producer: Producer, topic: str, batch: int) -> int:
    rows = store.queued(conn, batch)
    if not rows:
        return 0
    send_all(
        producer,
        topic,
        [
            (
                gsrn.encode(),
                json.dumps(document, sort_keys=True).encode(),
                [("request_id", str(request_id).encode()), ("document_mrid", mrid.encode())],
            )
            for request_id, gsrn, mrid, document in rows
        ],
    )
    return _mark_sent(conn, [row[0] for row in rows], "broker acknowledged")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.process_relay")
    parser.add_argument("--until-empty", action="store_true")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    args = parser.parse_args()
    configure_logging()
    sent = relay(settings(), until_empty=args.until_empty, batch=args.batch)
    log.info("published %d request documents", sent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
