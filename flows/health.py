"""The HTTP endpoints of a long-running elflow process: /metrics, /healthz, /readyz.

- `/metrics`: Prometheus' text format of the process' registry;
- `/healthz`: 200 while the process answers at all (liveness);
- `/readyz`: 200 when every readiness check passes, else 503 with one plain-text line per failed
  check (`database: …`, `broker: …`);
- anything else: 404.

Readiness checks are cheap and bounded: they run only when /readyz is asked, at most once per
`Readiness.ttl` seconds (concurrent probes share one round), all at once in threads, and a check
without an answer within `Readiness.timeout` seconds fails as "no answer". /metrics and /healthz
never run a check, so a scrape never waits for a dead database or broker.

`RETRIES` is where code that retries a lost connection says so (`enter`/`leave`); the flow is
not ready while any such loop is running.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from schemas.errors import ElflowError
from schemas.printable import escape
from schemas.secrets import redact
from schemas.settings import Settings
from storage.db import Job
from storage.health import reachable

log = logging.getLogger(__name__)

# A check: None when fine, else a short reason (one line).
Check = Callable[[], str | None]

TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = TEXT


class Readiness:
    """Named checks run together, cached for `ttl` seconds, each bounded by `timeout`."""

    def __init__(self, checks: Mapping[str, Check], *, ttl: float = 3.0, timeout: float = 2.5):
        self._checks = dict(checks)
        self.ttl = ttl
        self.timeout = timeout
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._reasons: list[str] = []

    def __call__(self) -> list[str]:
        """The failed checks as `name: reason` lines (empty: ready)."""
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                self._reasons = self._run()
                self._at = time.monotonic()
            return list(self._reasons)

    def _run(self) -> list[str]:
        answers: dict[str, str | None] = {}

        def run(name: str, check: Check) -> None:
            try:
                answers[name] = check()
            except Exception as exc:  # a check that breaks is a failed check, not a dead server
                answers[name] = f"{type(exc).__name__}: {exc}"

        threads = [
            threading.Thread(target=run, args=item, daemon=True, name=f"readyz-{item[0]}")
            for item in self._checks.items()
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self.timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        reasons = []
        for name in self._checks:
            if name not in answers:
                reasons.append(f"{name}: no answer within {self.timeout:g} s")
            elif answers[name] is not None:
                reasons.append(f"{name}: {one_line(str(answers[name]))}")
        return reasons


def one_line(text: object, limit: int = 300) -> str:
    """The first line of `text`, printable, passwords masked, at most `limit` characters."""
    lines = str(text).strip().splitlines()
    return escape(redact(lines[0] if lines else ""), limit)


def respond(
    path: str,
    ready: Callable[[], list[str]],
    extra: Mapping[str, Callable[[], Response]],
    registry: CollectorRegistry = REGISTRY,
) -> Response:
    """The answer to GET `path` (the query string is ignored)."""
    route = path.split("?", 1)[0]
    if route == "/metrics":
        return Response(200, generate_latest(registry), CONTENT_TYPE_LATEST)
    if route == "/healthz":
        return Response(200, b"ok\n")
    if route == "/readyz":
        reasons = ready()
        if reasons:
            return Response(503, "".join(f"{r}\n" for r in reasons).encode())
        return Response(200, b"ready\n")
    if route in extra:
        return extra[route]()
    return Response(404, b"not found: /metrics, /healthz, /readyz\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def serve(
    address: str,
    port: int,
    ready: Callable[[], list[str]],
    *,
    extra: Mapping[str, Callable[[], Response]] | None = None,
    name: str = "metrics",
    settings_named: str = "ELFLOW_METRICS_ADDRESS, ELFLOW_METRICS_PORT",
    registry: CollectorRegistry = REGISTRY,
) -> ThreadingHTTPServer | None:
    """Serve the endpoints on address:port in a daemon thread (port 0: nothing; returns None),
    /metrics from `registry`. A port that cannot be bound raises ElflowError naming both
    settings."""
    if not port:
        return None
    routes = dict(extra or {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = respond(self.path, ready, routes, registry)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server_class: type[_Server] = _Server
    if ":" in address:  # an IPv6 address such as ::
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    try:
        server = server_class((address, port), Handler)
    except OSError as exc:
        raise ElflowError(
            f"cannot serve {name} on {address}:{port} ({settings_named}): {exc.strerror or exc}"
        ) from None
    threading.Thread(target=server.serve_forever, daemon=True, name=f"{name}-http").start()
    return server


class RetryLoops:
    """Which retry loops (e.g. a sink partition's database reconnects) are running now, and why.
    Each loop is keyed by its owner, so one partition recovering does not hide another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[object, str] = {}

    def enter(self, owner: object, what: str) -> None:
        with self._lock:
            self._running[owner] = what

    def leave(self, owner: object) -> None:
        with self._lock:
            self._running.pop(owner, None)

    def check(self) -> str | None:
        with self._lock:
            running = sorted(set(self._running.values()))
        return "; ".join(running) if running else None


RETRIES = RetryLoops()


def database_check(job: Job, timeout: float) -> Check:
    return lambda: reachable(job, max(1, int(timeout)))


class BrokerCheck:
    """The broker answers a metadata request and has `topic`. One admin client, reused."""

    def __init__(self, cfg: Settings, topic: str, timeout: float) -> None:
        self._config = {"log_level": 2, **cfg.kafka_client_config()}
        self._topic = topic
        self._timeout = timeout
        self._admin: AdminClient | None = None

    def __call__(self) -> str | None:
        if self._admin is None:
            self._admin = AdminClient(self._config)
        try:
            topics = self._admin.list_topics(timeout=self._timeout).topics
        except KafkaException as exc:
            return f"unreachable ({exc.args[0].str() if exc.args else exc})"
        if self._topic not in topics:
            return f"topic {self._topic} does not exist"
        return None


def recovery_check(directory: Path) -> Check:
    """The recovery store exists and a file can be created in it."""

    def check() -> str | None:
        if not directory.is_dir():
            return f"{directory} is not a directory"
        try:
            fd, name = tempfile.mkstemp(prefix=".readyz-", suffix=".tmp", dir=directory)
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            return f"{directory} is not writable ({exc.strerror or exc})"
        return None

    return check


def flow_readiness(cfg: Settings, extra: Mapping[str, Check] | None = None) -> Readiness:
    """The ingest flow's readiness: database (as the ingest role), broker and readings topic,
    recovery store, no retry loop running, plus `extra`."""
    timeout = 2.0
    checks: dict[str, Check] = {
        "database": database_check("ingest", timeout),
        "broker": BrokerCheck(cfg, cfg.readings_topic, timeout),
        "recovery": recovery_check(cfg.recovery_dir),
        "retrying": RETRIES.check,
        **(extra or {}),
    }
    return Readiness(checks, timeout=timeout + 1.0)
