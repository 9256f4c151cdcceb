"""`elflow datahub pull` against the fake DataHub and the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.fake_datahub import FakeDataHub
from flows.datahub import client as client_module
from flows.datahub.client import DataHubRefused
from flows.datahub.pull import run
from schemas.settings import settings
from storage.db import connect
from tests.datahub_support import ACTOR, fake_hub, read_topic
from tests.process_docs import answer

pytestmark = pytest.mark.services

FIXTURES = Path(__file__).parent / "fixtures"
RSM012 = (FIXTURES / "datahub3/ValidMeteredDataForMeteringPoint.json").read_bytes()
RSM022 = (FIXTURES / "market/rsm022-cim-accounting-point-characteristics.json").read_bytes()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str) -> Iterator[FakeDataHub]:
    monkeypatch.setattr(client_module, "BACKOFF_CAP", 0.05)  # storms pass quickly
    yield from fake_hub(monkeypatch, tmp_path)


def _rsm012(mrid: str) -> bytes:
    return RSM012.replace(b'"mRID": "111131835"', f'"mRID": "{mrid}"'.encode(), 1)


def test_documents_go_to_their_topics_with_key_and_headers_then_are_dequeued(
    hub: FakeDataHub,
) -> None:
    ids = [hub.enqueue(ACTOR, "MeasureData", _rsm012(f"doc-{n}")) for n in range(3)]
    md_id = hub.enqueue(ACTOR, "MasterData", RSM022)
    reply = answer(uuid.uuid4(), accept=True, mrid="answer-1")
    hub.enqueue(ACTOR, "MasterData", reply)
    hub.enqueue("5790000000005", "MeasureData", _rsm012("someone-else"))  # another actor's
    stats = run(settings(), until_empty=True)
    assert (stats.peeked, stats.published, stats.dequeued) == (5, 5, 5)
    cfg = settings()
    readings = read_topic(cfg, cfg.readings_topic)
    assert sorted(key for _p, key, _v, _h in readings) == [b"doc-0", b"doc-1", b"doc-2"]
    by_key = {key: headers for _p, key, _v, headers in readings}
    assert by_key[b"doc-0"] == {
        "category": b"MeasureData",
        "datahub_message_id": ids[0].encode(),
        "content_type": b"application/json",
    }
    masterdata = read_topic(cfg, cfg.masterdata_topic)
    # master data keeps DataHub's order: one partition
    assert [(p, k) for p, k, _v, _h in masterdata] == [(0, b"25365897"), (0, b"answer-1")]
    assert masterdata[0][2] == RSM022 and masterdata[0][3]["datahub_message_id"] == md_id.encode()
    assert hub.waiting(ACTOR, "MeasureData") == hub.waiting(ACTOR, "MasterData") == 0
    assert hub.waiting("5790000000005", "MeasureData") == 1


def test_a_5xx_storm_and_expiring_tokens_lose_nothing(hub: FakeDataHub) -> None:
    hub.state.token_seconds = 1.0  # refreshed every half second
    for n in range(40):
        hub.enqueue(ACTOR, "MeasureData", _rsm012(f"storm-{n}"))
    hub.fail_next(12, 503)
    first = run(settings(), until_empty=True)
    hub.fail_next(5, 500)
    for n in range(40, 60):
        hub.enqueue(ACTOR, "MeasureData", _rsm012(f"storm-{n}"))
    second = run(settings(), until_empty=True)
    cfg = settings()
    keys = sorted(key.decode() for _p, key, _v, _h in read_topic(cfg, cfg.readings_topic))
    assert keys == sorted(f"storm-{n}" for n in range(60))
    assert first.dequeued + second.dequeued == 60
    assert hub.waiting(ACTOR, "MeasureData") == 0
    assert hub.state.tokens_issued >= 2


@pytest.mark.parametrize(
    ("status", "words"), [(401, "token is refused"), (403, "may not"), (415, "content type")]
)
def test_what_retrying_cannot_fix_stops_with_one_line(
    hub: FakeDataHub, status: int, words: str
) -> None:
    hub.enqueue(ACTOR, "MeasureData", _rsm012("kept"))
    hub.fail_next(2 if status == 401 else 1, status)  # a 401 is retried once with a new token
    with pytest.raises(DataHubRefused) as refused:
        run(settings(), until_empty=True)
    line = str(refused.value)
    assert f"HTTP {status}" in line and words in line and "\n" not in line
    assert hub.waiting(ACTOR, "MeasureData") == 1  # nothing dequeued


def test_a_wrong_secret_stops_at_the_token_and_is_never_shown(
    hub: FakeDataHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("s3cr3t-wrong-value")
    monkeypatch.setenv("ELFLOW_DATAHUB_CLIENT_SECRET_FILE", str(wrong))
    settings.cache_clear()
    with pytest.raises(DataHubRefused) as refused:
        run(settings(), until_empty=True)
    assert "HTTP 401" in str(refused.value)
    assert "s3cr3t" not in str(refused.value) and "s3cr3t" not in repr(settings())


def test_a_document_over_the_broker_limit_is_stored_dead_lettered_and_dequeued(
    hub: FakeDataHub, monkeypatch: pytest.MonkeyPatch, db: str
) -> None:
    monkeypatch.setenv("ELFLOW_DATAHUB_MAX_MESSAGE_BYTES", "8192")
    settings.cache_clear()
    big = _rsm012("too-big").replace(b'"mRID"', b'"padding": "' + b"x" * 9000 + b'", "mRID"', 1)
    big_id = hub.enqueue(ACTOR, "MeasureData", big)
    hub.enqueue(ACTOR, "MeasureData", _rsm012("after-it"))
    stats = run(settings(), until_empty=True)
    assert (stats.too_large, stats.published, stats.dequeued) == (1, 1, 2)
    cfg = settings()
    assert [key for _p, key, _v, _h in read_topic(cfg, cfg.readings_topic)] == [b"after-it"]
    with connect(db) as conn:
        rows = conn.execute(
            """SELECT original_message_id, queue_name, reason_code, raw_payload, error_reason
               FROM dead_letter_message"""
        ).fetchall()
    assert len(rows) == 1
    message_id, queue, reason, payload, detail = rows[0]
    assert (message_id, queue, reason, bytes(payload)) == (
        big_id,
        "datahub:MeasureData",
        "too_large",
        big,
    )
    assert "over the broker's limit of 8192" in detail


def test_health_fails_when_datahub_or_the_broker_is_unreachable(hub: FakeDataHub) -> None:
    import time

    import httpx

    from flows.datahub import metrics
    from flows.datahub.client import DataHubClient
    from flows.datahub.pull import broker_reachable
    from flows.outbox_relay import relay_producer
    from tests.conftest import free_port

    cfg = settings()
    client = DataHubClient(cfg)
    broker = {"up": True}
    health = metrics.Health(lambda: client.last_ok, lambda: broker["up"])
    port = free_port()
    server = metrics.serve(port, health)
    assert server is not None
    try:
        url = f"http://127.0.0.1:{port}"
        first = httpx.get(f"{url}/health")
        assert (first.status_code, first.text) == (503, "DataHub unreachable")  # not asked yet
        hub.enqueue(ACTOR, "MeasureData", _rsm012("h-1"))
        run(settings(), until_empty=True)
        client.call("GET", "/v1.0/cim/measuredata", what="peek", content_type="application/json")
        assert httpx.get(f"{url}/health").status_code == 200
        broker["up"] = False
        down = httpx.get(f"{url}/health")
        assert (down.status_code, down.text) == (503, "broker unreachable")
        health.stale = 0.0
        time.sleep(0.01)
        assert httpx.get(f"{url}/health").text == "DataHub unreachable"
        text = httpx.get(f"{url}/metrics").text
        assert 'elflow_datahub_dequeued_total{category="MeasureData"}' in text
        assert "elflow_datahub_oldest_undequeued_seconds" in text
        assert broker_reachable(relay_producer(cfg))
    finally:
        server.shutdown()
        client.close()


def test_settings_and_role_refusals_are_one_line(
    hub: FakeDataHub, monkeypatch: pytest.MonkeyPatch, db: str
) -> None:
    import psycopg

    from flows.datahub.client import client_secret
    from schemas.settings import ConfigError, load_settings

    # the connector's role reads no readings
    with connect(job="datahub") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT 1 FROM metering_data LIMIT 1")
    monkeypatch.delenv("ELFLOW_DATAHUB_CLIENT_SECRET_FILE")
    with pytest.raises(ConfigError, match="ELFLOW_DATAHUB_CLIENT_SECRET is missing"):
        client_secret(load_settings())
    monkeypatch.setenv("ELFLOW_DATAHUB_CATEGORIES", "MeasureData,Foo")
    with pytest.raises(ConfigError, match="unknown category 'Foo'"):
        load_settings()


@pytest.mark.parametrize(
    "junk", [b"\xff\xfe not a document", b"{" * 5000, b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>"]
)
def test_a_hostile_document_between_two_valid_ones_fails_only_itself(
    hub: FakeDataHub, junk: bytes
) -> None:
    """The connector does not judge content: junk goes to the readings topic (whose flow
    dead-letters it with a reason) and is dequeued; the documents around it pass unchanged."""
    hub.enqueue(ACTOR, "MeasureData", _rsm012("before-it"))
    hub.enqueue(ACTOR, "MeasureData", junk)
    hub.enqueue(ACTOR, "MeasureData", _rsm012("after-it"))
    stats = run(settings(), until_empty=True)
    assert (stats.peeked, stats.published, stats.dequeued) == (3, 3, 3)
    cfg = settings()
    values = [value for _p, _k, value, _h in read_topic(cfg, cfg.readings_topic)]
    assert sorted(values) == sorted([_rsm012("before-it"), junk, _rsm012("after-it")])
    assert hub.waiting(ACTOR, "MeasureData") == 0
