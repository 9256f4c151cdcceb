"""An HTTP client of DataHub's B2B API: OAuth2 client credentials with refresh before expiry,
back-off with full jitter on 5xx, 429, timeouts and lost connections (retried for ever: only
those are retried), and one-line stops on what retrying cannot fix (401 after a fresh token,
403, 413, 415, a refused token request). The secret is never logged or put in an error."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from flows.datahub import metrics
from schemas.errors import ElflowError
from schemas.settings import ConfigError, Settings

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BACKOFF_FIRST, BACKOFF_CAP = 0.2, 30.0


class DataHubRefused(ElflowError):
    """DataHub refuses us in a way retrying cannot fix (one line for the operator)."""


def client_secret(cfg: Settings) -> str:
    """The client secret from ELFLOW_DATAHUB_CLIENT_SECRET_FILE, else _CLIENT_SECRET."""
    if cfg.datahub_client_secret_file is not None:
        try:
            return cfg.datahub_client_secret_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"bad setting ELFLOW_DATAHUB_CLIENT_SECRET_FILE: cannot read it ({exc.strerror})"
            ) from None
    if cfg.datahub_client_secret is None:
        raise ConfigError(
            "bad setting ELFLOW_DATAHUB_CLIENT_SECRET is missing (or give "
            "ELFLOW_DATAHUB_CLIENT_SECRET_FILE)"
        )
    return cfg.datahub_client_secret.get_secret_value()


def token_url(cfg: Settings) -> str:
    return cfg.datahub_token_url or cfg.datahub_base_url.rstrip("/") + "/oauth2/v2.0/token"


@dataclass
class _Token:
    value: str
    refresh_at: float  # monotonic


class DataHubClient:
    """One connection pool to DataHub; `sleep` is replaceable so tests need no waiting."""

    def __init__(self, cfg: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._cfg = cfg
        self._secret = client_secret(cfg)
        self._http = httpx.Client(
            base_url=cfg.datahub_base_url.rstrip("/"), timeout=cfg.datahub_timeout_seconds
        )
        self._token: _Token | None = None
        self._sleep = sleep
        self.last_ok = 0.0  # monotonic time of the last answer from DataHub (for /health)

    def close(self) -> None:
        self._http.close()

    # --- the token ---------------------------------------------------------------------------

    def _fetch_token(self) -> _Token:
        cfg = self._cfg
        form = {
            "grant_type": "client_credentials",
            "client_id": cfg.datahub_client_id,
            "client_secret": self._secret,
        }
        if cfg.datahub_scope:
            form["scope"] = cfg.datahub_scope
        answer = self._retrying(lambda: self._http.post(token_url(cfg), data=form), "token")
        if answer.status_code != 200:
            raise DataHubRefused(
                f"DataHub's token endpoint refused client {cfg.datahub_client_id!r}: HTTP "
                f"{answer.status_code} (check ELFLOW_DATAHUB_CLIENT_ID and the secret)"
            )
        try:
            body = answer.json()
            value, lifetime = str(body["access_token"]), float(body["expires_in"])
        except (ValueError, KeyError, TypeError):
            raise DataHubRefused("DataHub's token endpoint answered without a token") from None
        margin = min(cfg.datahub_token_margin_seconds, lifetime / 2)
        metrics.TOKEN_REFRESHES.inc()
        log.info("new DataHub token, valid %.0f s", lifetime)
        return _Token(value, time.monotonic() + lifetime - margin)

    def _bearer(self) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token.refresh_at:
            self._token = self._fetch_token()
        return {"Authorization": f"Bearer {self._token.value}"}

    # --- requests ------------------------------------------------------------------------------

    def call(
        self, method: str, path: str, *, what: str, content_type: str, body: bytes | None = None
    ) -> httpx.Response:
        """One API call with a valid token; retries what may pass, stops on what cannot; returns
        answers 200-204 and 400 (the caller reads the 400)."""
        refreshed = False
        while True:
            answer = self._retrying(
                lambda: self._http.request(
                    method,
                    path,
                    headers={**self._bearer(), "Content-Type": content_type},
                    content=body,
                ),
                what,
            )
            if answer.status_code == 401 and not refreshed:
                self._token, refreshed = None, True  # expired under us: one fresh token
                continue
            if answer.status_code in (401, 403, 413, 415) or (
                answer.status_code >= 300 and (answer.status_code != 400)
            ):
                raise DataHubRefused(_refusal(what, answer.status_code))
            return answer

    def _retrying(self, send: Callable[[], httpx.Response], what: str) -> httpx.Response:
        """`send` until it gives an answer that is not worth retrying."""
        attempt = 0
        while True:
            try:
                answer = send()
            except httpx.TransportError as exc:  # timeouts, refused or lost connections
                metrics.ERRORS.labels(what, type(exc).__name__).inc()
                problem = f"{type(exc).__name__}"
            else:
                self.last_ok = time.monotonic()
                if answer.status_code not in RETRY_STATUSES:
                    return answer
                metrics.ERRORS.labels(what, str(answer.status_code)).inc()
                problem = f"HTTP {answer.status_code}"
            delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_FIRST * 2**attempt))
            attempt += 1
            log.warning("DataHub %s: %s; retry %d in %.1f s", what, problem, attempt, delay)
            self._sleep(delay)


def _refusal(what: str, status: int) -> str:
    reasons = {
        401: "the token is refused (wrong tenant, audience or client?)",
        403: "this client may not do it (actor role, or the endpoint is switched off)",
        413: "the document is over DataHub's 50 MB limit",
        415: "the content type is refused (ELFLOW_DATAHUB_FORMAT)",
    }
    return f"DataHub {what}: HTTP {status}: {reasons.get(status, 'unexpected answer')}; stopped"
