"""Every hostile kind is refused by the parser with its own reason, fast and without services;
the escape function makes any of them printable."""

from __future__ import annotations

import pytest

from flows.parse import message_items
from schemas.printable import escape
from schemas.rsm012 import InvalidDocument, parse_document
from storage.readings import DeadLetterItem
from tests.hostile import KINDS, Kind, valid_extras


def test_there_are_at_least_a_hundred_kinds_with_distinct_names() -> None:
    assert len(KINDS) >= 100
    assert len({k.name for k in KINDS}) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_hostile_kind_is_refused_with_its_reason(kind: Kind) -> None:
    raw = kind.make(1)
    with pytest.raises(InvalidDocument) as caught:
        parse_document(raw)
    assert caught.value.reason == kind.reason, caught.value.detail
    detail = caught.value.detail
    assert len(detail) < 500 and detail.isprintable(), detail
    document_id = caught.value.document_id
    assert document_id is None or (len(document_id) <= 64 and document_id.isprintable())


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_the_flow_turns_each_kind_into_one_printable_dead_letter(kind: Kind) -> None:
    raw = kind.make(2)
    ((_key, item),) = message_items(raw, "t", 0, 7)
    assert isinstance(item, DeadLetterItem)
    assert item.reason_code == kind.reason
    assert item.payload == raw
    assert item.detail.startswith("t[0]@7: ") and item.detail.isprintable()


def test_unusual_but_valid_documents_parse() -> None:
    for raw in valid_extras(1):
        parse_document(raw)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain ascii", "plain ascii"),
        ("måler 5", "måler 5"),
        ("\x1b[2J", "\\x1b[2J"),
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f c1\x9b", "del\\x7f c1\\x9b"),
        ("\ud800", "\\ud800"),
        ("rtl\u202e", "rtl\\u202e"),
        ("line\u2028sep", "line\\u2028sep"),
        (b"\xff\xfe bytes", "\\xff\\xfe bytes"),
    ],
)
def test_escape_makes_any_text_one_printable_line(text: str | bytes, shown: str) -> None:
    assert escape(text) == shown


def test_escape_bounds_a_huge_field() -> None:
    assert escape("x" * 10_000, 20) == "x" * 20 + "…(+9980 chars)"
