"""flows.health without services: routing, the readiness cache and bounds, the HTTP server."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from flows import health, metrics
from flows.health import Readiness, Response, RetryLoops, recovery_check, respond
from schemas.errors import ElflowError
from tests.conftest import free_port


def _ready() -> list[str]:
    return []


def test_metrics_healthz_and_readyz_are_routed_and_other_paths_are_404() -> None:
    metrics.DOCUMENTS_CONSUMED.inc(0)
    scrape = respond("/metrics?name[]=x", _ready, {})
    assert scrape.status == 200
    assert scrape.content_type.startswith("text/plain; version=")
    assert b"elflow_documents_consumed_total" in scrape.body
    assert respond("/healthz", _ready, {}) == Response(200, b"ok\n")
    assert respond("/readyz", _ready, {}) == Response(200, b"ready\n")
    for path in ("/", "/health", "/metrics/x", "/readyz/", "/HEALTHZ"):
        answer = respond(path, _ready, {})
        assert answer.status == 404, path
        assert b"elflow_" not in answer.body


def test_metrics_come_from_the_registry_given() -> None:
    own = CollectorRegistry()
    Gauge("elflow_test_own_gauge", "a gauge of this test", registry=own).set(7)
    body = respond("/metrics", _ready, {}, own).body
    assert b"elflow_test_own_gauge 7.0" in body
    assert b"elflow_documents_consumed_total" not in body


def test_readyz_is_503_with_one_line_per_failed_check() -> None:
    answer = respond("/readyz", lambda: ["database: down", "broker: gone"], {})
    assert answer == Response(503, b"database: down\nbroker: gone\n")


def test_an_extra_route_answers_only_its_path() -> None:
    extra = {"/health": lambda: Response(503, b"DataHub unreachable")}
    assert respond("/health", _ready, extra).status == 503
    assert respond("/healthz", _ready, extra).status == 200


def test_readiness_names_each_failed_check_and_caches_the_round() -> None:
    calls = {"a": 0, "b": 0}
    state: dict[str, str | None] = {"b": "refused\nsecond line"}

    def a() -> str | None:
        calls["a"] += 1
        return None

    def b() -> str | None:
        calls["b"] += 1
        return state["b"]

    readiness = Readiness({"a": a, "b": b}, ttl=3600)
    assert readiness() == ["b: refused"]
    state["b"] = None
    assert readiness() == ["b: refused"]  # cached
    assert calls == {"a": 1, "b": 1}
    readiness.ttl = 0
    assert readiness() == []
    assert calls == {"a": 2, "b": 2}


def test_a_hanging_check_fails_as_no_answer_and_a_broken_one_names_its_error() -> None:
    release = threading.Event()

    def hangs() -> str | None:
        release.wait(30)
        return None

    def breaks() -> str | None:
        raise RuntimeError("boom postgresql://u:secret@h/db")

    readiness = Readiness({"hangs": hangs, "breaks": breaks, "fine": lambda: None}, timeout=0.2)
    try:
        reasons = readiness()
    finally:
        release.set()
    assert reasons[0] == "hangs: no answer within 0.2 s"
    assert reasons[1].startswith("breaks: RuntimeError: boom")
    assert "secret" not in reasons[1]
    assert len(reasons) == 2


def test_retry_loops_are_kept_per_owner() -> None:
    loops = RetryLoops()
    first, second = object(), object()
    assert loops.check() is None
    loops.enter(first, "ingest writer: database unavailable")
    loops.enter(second, "ingest writer: database unavailable")
    loops.leave(first)
    assert loops.check() == "ingest writer: database unavailable"
    loops.leave(second)
    assert loops.check() is None


def test_the_recovery_check_wants_a_directory_it_can_write(tmp_path: Path) -> None:
    assert recovery_check(tmp_path)() is None
    assert list(tmp_path.iterdir()) == []  # the probe file is gone again
    missing = tmp_path / "missing"
    assert recovery_check(missing)() == f"{missing} is not a directory"
    afile = tmp_path / "file"
    afile.write_text("")
    assert recovery_check(afile)() == f"{afile} is not a directory"


def test_an_offset_alarm_makes_the_flow_unready() -> None:
    assert "test.alarm" not in (metrics.offset_alarms() or "")
    metrics.OFFSET_ALARM.labels("test.alarm", "1").set(1)
    try:
        assert "test.alarm[1]" in (metrics.offset_alarms() or "")
    finally:
        metrics.OFFSET_ALARM.labels("test.alarm", "1").set(0)
    assert "test.alarm" not in (metrics.offset_alarms() or "")


def test_resume_positions_give_the_lag_before_the_first_batch() -> None:
    metrics.observe_resume("test.resume", 0, 40, 100)
    metrics.observe_resume("test.resume", 1, 0, 0)
    lag = "elflow_consumer_lag_messages"
    assert REGISTRY.get_sample_value(lag, {"topic": "test.resume", "partition": "0"}) == 60
    assert REGISTRY.get_sample_value(lag, {"topic": "test.resume", "partition": "1"}) == 0
    snapshot = metrics.TRACKER.snapshot()
    assert snapshot[("test.resume", 0)] == 39  # last "written" = resume - 1: the watcher agrees


def http_get(url: str) -> tuple[int, str]:
    """(status, body) of GET `url`; (0, "") when nothing listens (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_the_server_answers_over_http_and_a_taken_port_is_one_line() -> None:
    port = free_port()
    reasons: list[str] = []
    server = health.serve("127.0.0.1", port, lambda: reasons)
    assert server is not None
    try:
        base = f"http://127.0.0.1:{port}"
        assert http_get(f"{base}/healthz") == (200, "ok\n")
        assert http_get(f"{base}/readyz") == (200, "ready\n")
        reasons.append("broker: unreachable")
        assert http_get(f"{base}/readyz") == (503, "broker: unreachable\n")
        assert http_get(f"{base}/nothing")[0] == 404
        status, text = http_get(f"{base}/metrics")
        assert status == 200 and "elflow_consumer_lag_messages" in text
        with pytest.raises(ElflowError) as taken:
            health.serve("127.0.0.1", port, lambda: [])
        assert str(taken.value).startswith(f"cannot serve metrics on 127.0.0.1:{port} (")
        assert "\n" not in str(taken.value)
    finally:
        server.shutdown()
        server.server_close()
    assert health.serve("127.0.0.1", 0, lambda: []) is None


def test_an_ipv6_address_binds_when_the_host_has_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        server = health.serve("::1", free_port(), lambda: [])
    except ElflowError as exc:
        pytest.skip(f"::1 not bindable here: {exc}")
    assert server is not None
    try:
        assert server.socket.family == socket.AF_INET6
    finally:
        server.shutdown()
        server.server_close()


def test_the_datahub_connector_serves_the_same_endpoints_on_the_configured_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.datahub import metrics as datahub_metrics
    from schemas.settings import settings

    monkeypatch.setenv("ELFLOW_METRICS_ADDRESS", "127.0.0.2")
    settings.cache_clear()
    state = (False, "broker unreachable")
    port = free_port()
    try:
        server = datahub_metrics.serve(port, lambda: state)
    finally:
        settings.cache_clear()
    assert server is not None
    try:
        assert server.server_address[0] == "127.0.0.2"
        base = f"http://127.0.0.2:{port}"
        assert http_get(f"{base}/health") == (503, "broker unreachable")
        assert http_get(f"{base}/readyz") == (503, "broker unreachable\n")
        assert http_get(f"{base}/healthz") == (200, "ok\n")
        assert "elflow_datahub_peeked_total" in http_get(f"{base}/metrics")[1]
        state = (True, "ok")
        assert http_get(f"{base}/readyz") == (200, "ready\n")
        assert http_get(f"{base}/health") == (200, "ok")
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 0  # not on another address
    finally:
        server.shutdown()
        server.server_close()
