"""Kafka message → ingest items: the flow's logic as plain functions (no Bytewax here)."""

from __future__ import annotations

from schemas.printable import escape
from schemas.rsm012 import RESOLUTIONS, InvalidDocument, MeasureDocument, parse_document
from storage.readings import DeadLetterItem, TransactionItem

Item = TransactionItem | DeadLetterItem

# Reason codes of the flow itself, beside the parser's (schemas.rsm012.REASONS): a bug in the
# parser, and a message the database refused (flows.sink).
FLOW_REASONS = frozenset({"internal_error", "database_rejected"})

# Dead letters are spread over sink partitions by Kafka partition; any partition may store them.
DEAD_LETTER_KEY = "dead-letter"


def message_items(
    value: bytes | None, topic: str, partition: int, offset: int
) -> list[tuple[str, Item]]:
    """Parse one Kafka message into (routing key, item) pairs.

    Valid documents give one TransactionItem per Series, keyed by GSRN so that one metering point
    is always written by one sink partition. Anything else gives one DeadLetterItem; this never
    raises, so bad input cannot stop the flow.
    """
    raw = value or b""
    try:
        document = parse_document(raw)
    except InvalidDocument as exc:
        return [
            (
                DEAD_LETTER_KEY,
                _dead(exc.reason, exc.detail, raw, exc.document_id, topic, partition, offset),
            )
        ]
    except Exception as exc:  # a parser bug must not stop the flow: park the input, name the error
        detail = escape(f"{type(exc).__name__}: {exc}", 400)
        return [
            (DEAD_LETTER_KEY, _dead("internal_error", detail, raw, None, topic, partition, offset))
        ]
    return [(item.gsrn, item) for item in document_items(document, topic, partition, offset)]


def document_items(
    document: MeasureDocument, topic: str, partition: int, offset: int
) -> list[TransactionItem]:
    items = []
    for series in document.series:
        step = RESOLUTIONS[series.resolution]
        readings = tuple(
            (series.start + (point.position - 1) * step, point.quantity, point.quality)
            for point in sorted(series.points, key=lambda p: p.position)
        )
        items.append(
            TransactionItem(
                document_id=document.mrid,
                document_type=document.type,
                created=document.created,
                transaction_id=series.mrid,
                gsrn=series.gsrn,
                resolution=series.resolution,
                readings=readings,
                topic=topic,
                partition=partition,
                offset=offset,
            )
        )
    return items


def _dead(
    reason: str,
    detail: str,
    raw: bytes,
    document_id: str | None,
    topic: str,
    partition: int,
    offset: int,
) -> DeadLetterItem:
    return DeadLetterItem(
        reason_code=reason,
        detail=f"{topic}[{partition}]@{offset}: {detail}",
        payload=raw,
        document_id=document_id,
        topic=topic,
        partition=partition,
        offset=offset,
    )
