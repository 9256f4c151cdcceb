"""A fake DataHub 3 B2B API on loopback, faithful to what B2B_API.md documents (standard library
only), for the tests, the demo and `elflow datahub fake`.

- `POST /oauth2/v2.0/token` (form, client credentials): a JWT signed HS256 with a key made at
  start, claims `azp` (client id), `roles` (one role), `aud`, `iss`, `iat`, `exp`; 401 for an
  unknown client or wrong secret. `token_seconds` sets the lifetime (1 h like DataHub).
- Every API call checks signature, issuer, audience and lifetime with zero skew: 401 otherwise.
- `GET /v1.0/cim/{measuredata|aggregations|timeseries|masterdata}`: Content-Type must be
  application/json, application/xml or application/ebix (else 415); 204 when the actor's queue
  of that category is empty; 200 with the oldest undequeued document and header `MessageId`
  (32 hex characters). The same document until it is dequeued.
- `DELETE /v1.0/cim/dequeue/{id}`: 200; 400 for an unknown id, an id over 36 characters or a
  document never peeked; dequeuing again an id already dequeued gives 200.
- `POST /v1.0/cim/{request…}`: 415 for another Content-Type, 413 over 50 MB; 400
  `{"Error":{"Code","Message","Target"}}` for unreadable JSON (`00000`), a sender other than
  the token's actor (`00002`), a MessageId (document mRID) already received (`00101`), or a
  rejection queued with `reject_next`; else 202 with an empty body.
- Knobs for tests: `fail_next(n, status)` answers the next n API calls with `status` (a 5xx
  storm); `stall(event, n)` blocks the n-th peek / dequeue until released (to kill the client
  there; a stalled "dequeue" is then dropped unapplied, as if it never arrived); `token_seconds`. `POST /fake/enqueue/{category}` (no token, loopback only) queues a
  document for the demo's command-line use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

CATEGORIES = {
    "measuredata": "MeasureData",
    "timeseries": "MeasureData",
    "aggregations": "Aggregations",
    "masterdata": "MasterData",
}
FORMATS = {"application/json", "application/xml", "application/ebix"}
REQUEST_TYPES = {"application/json", "application/xml"}
MAX_REQUEST_BYTES = 50 * 1024 * 1024
ISSUER, AUDIENCE = "fake-datahub", "datahub-b2b"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Client:
    secret: str
    actor: str  # GLN
    role: str = "energysupplier"


@dataclass
class Queued:
    message_id: str
    body: bytes
    content_type: str
    peeked: bool = False


@dataclass
class FakeState:
    clients: dict[str, Client] = field(default_factory=dict)
    queues: dict[tuple[str, str], deque[Queued]] = field(default_factory=dict)
    dequeued: set[str] = field(default_factory=set)
    received: dict[str, bytes] = field(default_factory=dict)  # request MessageId → body
    token_seconds: float = 3600.0
    tokens_issued: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    failures: deque[int] = field(default_factory=deque)
    rejections: deque[tuple[str, str]] = field(default_factory=deque)
    stalls: dict[tuple[str, int], threading.Event] = field(default_factory=dict)
    stalled: dict[tuple[str, int], threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        log.debug("fake DataHub: a client went away", exc_info=True)  # killed clients do


class FakeDataHub:
    """The server and its knobs; `with FakeDataHub() as hub:` serves on hub.url."""

    def __init__(self, port: int = 0) -> None:
        self.key = secrets.token_bytes(32)
        self.state = FakeState()
        self.server = _Server(("127.0.0.1", port), _handler_for(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread: threading.Thread | None = None

    # --- life -----------------------------------------------------------------------------
    def start(self) -> FakeDataHub:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for event in self.state.stalls.values():
            event.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeDataHub:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- knobs ----------------------------------------------------------------------------
    def add_client(
        self, client_id: str, secret: str, actor: str, role: str = "energysupplier"
    ) -> None:
        self.state.clients[client_id] = Client(secret, actor, role)

    def enqueue(
        self, actor: str, category: str, body: bytes, content_type: str = "application/json"
    ) -> str:
        message_id = uuid.uuid4().hex
        with self.state.lock:
            queue = self.state.queues.setdefault((actor, category), deque())
            queue.append(Queued(message_id, body, content_type))
        return message_id

    def waiting(self, actor: str, category: str) -> int:
        with self.state.lock:
            return len(self.state.queues.get((actor, category), ()))

    def fail_next(self, count: int, status: int = 503) -> None:
        with self.state.lock:
            self.state.failures.extend([status] * count)

    def reject_next(self, code: str, message: str) -> None:
        with self.state.lock:
            self.state.rejections.append((code, message))

    def stall(self, what: str, nth: int) -> tuple[threading.Event, threading.Event]:
        """Block the `nth` (1-based) call of `what` ("peek", "dequeue", "dequeued": after the
        dequeue took effect, before answering); returns (reached, release)."""
        reached, release = threading.Event(), threading.Event()
        self.state.stalled[(what, nth)] = reached
        self.state.stalls[(what, nth)] = release
        return reached, release

    # --- tokens ---------------------------------------------------------------------------
    def issue(self, client_id: str, client: Client) -> str:
        now = time.time()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "azp": client_id,
            "roles": [client.role],
            "iat": int(now),
            "exp": now + self.state.token_seconds,
        }
        body = _b64(json.dumps(claims).encode())
        signature = hmac.new(self.key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        self.state.tokens_issued += 1
        return f"{header}.{body}.{_b64(signature)}"

    def actor_of(self, authorization: str | None) -> Client | None:
        """The client a bearer token names, if its signature, issuer, audience and lifetime hold
        (zero skew)."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        try:
            header, body, signature = authorization[7:].split(".")
            expected = hmac.new(self.key, f"{header}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            claims = json.loads(_unb64(body))
        except ValueError:
            return None
        if claims.get("iss") != ISSUER or claims.get("aud") != AUDIENCE:
            return None
        if float(claims.get("exp", 0)) <= time.time() or len(claims.get("roles", [])) != 1:
            return None
        return self.state.clients.get(str(claims.get("azp")))

    def count(self, what: str) -> int:
        with self.state.lock:
            self.state.calls[what] = self.state.calls.get(what, 0) + 1
            return self.state.calls[what]

    def maybe_stall(self, what: str, nth: int) -> bool:
        """Block here if a test asked to; True when this call was stalled."""
        release = self.state.stalls.get((what, nth))
        if release is None:
            return False
        self.state.stalled[(what, nth)].set()
        release.wait()
        return True


def _handler_for(hub: FakeDataHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body wait 40 ms for a delayed ACK

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: str, message: str) -> None:
            body = {"Error": {"Code": code, "Message": message, "Target": "", "Details": {}}}
            self._answer(400, json.dumps(body).encode(), {"Content-Type": "application/json"})

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _api(self) -> Client | None:
            """Failures injected by the test, then the token; None when answered already."""
            with hub.state.lock:
                failure = hub.state.failures.popleft() if hub.state.failures else None
            if failure is not None:
                self._answer(failure, b"injected failure")
                return None
            client = hub.actor_of(self.headers.get("Authorization"))
            if client is None:
                self._answer(401, b"")
            return client

        def _content_type(self) -> str:
            return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

        def do_POST(self) -> None:
            body = self._body()
            if self.path.startswith("/oauth2/") and self.path.endswith("/token"):
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                client = hub.state.clients.get(form.get("client_id", ""))
                ok = form.get("grant_type") == "client_credentials"
                if (
                    not ok
                    or client is None
                    or not hmac.compare_digest(
                        client.secret.encode(), form.get("client_secret", "").encode()
                    )
                ):
                    self._answer(401, b'{"error":"invalid_client"}')
                    return
                token = hub.issue(form["client_id"], client)
                answer = {
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": hub.state.token_seconds,
                }
                self._answer(200, json.dumps(answer).encode(), {"Content-Type": "application/json"})
                return
            if self.path.startswith("/fake/enqueue/"):
                category = self.path.rsplit("/", 1)[1]
                actor = self.headers.get("X-Actor", "")
                message_id = hub.enqueue(actor, category, body, self._content_type())
                self._answer(200, message_id.encode())
                return
            if not self.path.startswith("/v1.0/cim/request") and not self.path.startswith(
                "/v1.0/cim/notify"
            ):
                self._answer(404)
                return
            client = self._api()
            if client is None:
                return
            self._request(client, body)

        def _request(self, client: Client, body: bytes) -> None:
            if self._content_type() not in REQUEST_TYPES:
                self._answer(415)
                return
            if len(body) > MAX_REQUEST_BYTES:
                self._answer(413)
                return
            try:
                document = next(iter(json.loads(body).values()))
                message_id = str(document["mRID"])
                sender = str(document["sender_MarketParticipant.mRID"]["value"])
            except (ValueError, TypeError, KeyError, StopIteration, AttributeError):
                self._error("00000", "The document cannot be read")
                return
            with hub.state.lock:
                if sender != client.actor:
                    self._error("00002", f"Sender {sender} does not match the token's actor")
                    return
                if message_id in hub.state.received:
                    self._error("00101", f"Message id '{message_id}' is not unique")
                    return
                hub.state.received[message_id] = body
                rejection = hub.state.rejections.popleft() if hub.state.rejections else None
            if rejection is not None:
                self._error(*rejection)
                return
            self._answer(202)

        def do_GET(self) -> None:
            category = CATEGORIES.get(self.path.removeprefix("/v1.0/cim/").lower())
            if category is None:
                self._answer(404)
                return
            client = self._api()
            if client is None:
                return
            if self._content_type() not in FORMATS:
                self._answer(415)
                return
            hub.maybe_stall("peek", hub.count("peek"))
            with hub.state.lock:
                queue = hub.state.queues.get((client.actor, category))
                head = queue[0] if queue else None
                if head is not None:
                    head.peeked = True
            if head is None:
                self._answer(204)
                return
            headers = {"MessageId": head.message_id, "Content-Type": head.content_type}
            self._answer(200, head.body, headers)

        def do_DELETE(self) -> None:
            if not self.path.startswith("/v1.0/cim/dequeue/"):
                self._answer(404)
                return
            client = self._api()
            if client is None:
                return
            message_id = self.path.rsplit("/", 1)[1]
            nth = hub.count("dequeue")
            if hub.maybe_stall("dequeue", nth):
                self.close_connection = True  # as if it never arrived: not applied, no answer
                return
            with hub.state.lock:
                status = self._dequeue(client, message_id)
            hub.maybe_stall("dequeued", nth)
            self._answer(status)

        def _dequeue(self, client: Client, message_id: str) -> int:
            if len(message_id) > 36:
                return 400
            if message_id in hub.state.dequeued:
                return 200
            for (actor, _category), queue in hub.state.queues.items():
                if actor != client.actor:
                    continue
                for item in queue:
                    if item.message_id == message_id and item.peeked:
                        queue.remove(item)
                        hub.state.dequeued.add(message_id)
                        return 200
            return 400

    return Handler


def serve_forever(port: int, client_id: str, secret: str, actor: str) -> None:
    """`elflow datahub fake`: serve until interrupted."""
    hub = FakeDataHub(port)
    hub.add_client(client_id, secret, actor)
    log.info("fake DataHub on %s (client %s, actor %s)", hub.url, client_id, actor)
    try:
        hub.server.serve_forever()
    finally:
        hub.server.server_close()
