"""Prometheus metrics of the DataHub connector and its `/health` endpoint (both on
ELFLOW_DATAHUB_METRICS_PORT, loopback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

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
    """/metrics and /health (200 "ok", or 503 with the reason) on 127.0.0.1:port; 0 = off."""
    if not port:
        return None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                status, body, kind = 200, generate_latest(), CONTENT_TYPE_LATEST
            elif self.path == "/health":
                ok, why = healthy()
                status, body, kind = (200 if ok else 503), why.encode(), "text/plain"
            else:
                status, body, kind = 404, b"", "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="datahub-metrics").start()
    return server


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
