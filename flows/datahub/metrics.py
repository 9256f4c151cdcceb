"""Prometheus metrics of the DataHub connector and its health endpoints (flows.health, on
ELFLOW_METRICS_ADDRESS:ELFLOW_DATAHUB_METRICS_PORT)."""

from __future__ import annotations

import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from prometheus_client import Counter, Gauge

from flows import health
from flows.health import Response
from schemas.settings import settings

PEEKED = Counter("elflow_datahub_peeked_total", "Documents peeked", ["category"])
PUBLISHED = Counter(
    "elflow_datahub_published_total", "Documents the broker acknowledged", ["category", "topic"]
)
DEQUEUED = Counter("elflow_datahub_dequeued_total", "Documents dequeued", ["category"])
EMPTY_POLLS = Counter("elflow_datahub_empty_polls_total", "Peeks answered 204", ["category"])
TOO_LARGE = Counter(
    "elflow_datahub_too_large_total",
    "Documents over the broker's limit, dead-lettered",
    ["category"],
)
ERRORS = Counter(
    "elflow_datahub_errors_total", "Failed calls by call and status (or error)", ["call", "status"]
)
TOKEN_REFRESHES = Counter("elflow_datahub_token_refreshes_total", "Tokens fetched")
OLDEST_AGE = Gauge(
    "elflow_datahub_oldest_undequeued_seconds",
    "Seconds since the document at the head of the queue was first peeked (0: none waiting)",
    ["category"],
)
SENT = Counter("elflow_datahub_requests_total", "Requests answered by DataHub", ["outcome"])


def serve(port: int, healthy: Callable[[], tuple[bool, str]]) -> ThreadingHTTPServer | None:
    """/metrics, /healthz, /readyz and /health (200 "ok", or 503 with the reason; the same check
    as /readyz) on ELFLOW_METRICS_ADDRESS:port (flows.health); 0 = off."""

    def ready() -> list[str]:
        ok, why = healthy()
        return [] if ok else [why]

    def legacy() -> Response:
        ok, why = healthy()
        return Response(200 if ok else 503, why.encode())

    return health.serve(
        settings().metrics_address,
        port,
        ready,
        extra={"/health": legacy},
        name="datahub-metrics",
        settings_named="ELFLOW_METRICS_ADDRESS, ELFLOW_DATAHUB_METRICS_PORT",
    )


class Health:
    """Healthy while DataHub answered within `stale` seconds and the broker answers metadata."""

    def __init__(self, datahub_ok: Callable[[], float], broker_ok: Callable[[], bool]) -> None:
        self._datahub_ok = datahub_ok
        self._broker_ok = broker_ok
        self.stale = 120.0

    def __call__(self) -> tuple[bool, str]:
        last = self._datahub_ok()
        if not last or time.monotonic() - last > self.stale:
            return False, "DataHub unreachable"
        if not self._broker_ok():
            return False, "broker unreachable"
        return True, "ok"
