"""The demo's feed step through DataHub's B2B API: the generated documents are queued in a fake
DataHub (in this process, on a free loopback port) and `elflow datahub pull` — its own process,
as in production — peeks them, publishes them to the readings topic and dequeues them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from deploy.fake_datahub import FakeDataHub
from flows.feed import FeedSpec, generate_feed
from schemas.errors import ElflowError
from schemas.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


class DemoFeedError(ElflowError):
    """The connector did not drain the fake DataHub (one line)."""


def feed_through_datahub(cfg: Settings, spec: FeedSpec) -> tuple[int, Counter[str], float]:
    """Queue the feed in a fake DataHub and run the connector until its queue is empty; returns
    (documents, kinds, seconds of the connector)."""
    kinds: Counter[str] = Counter()
    secret = secrets.token_urlsafe(24)
    with FakeDataHub() as hub:
        hub.add_client("elflow-demo", secret, cfg.supplier_gln)
        for message in generate_feed(spec):
            kinds[message.kind] += 1
            hub.enqueue(cfg.supplier_gln, "MeasureData", message.value)
        seconds = pull_until_empty(hub, "elflow-demo", secret, cfg.supplier_gln, {})
    return sum(kinds.values()), kinds, seconds


def pull_until_empty(
    hub: FakeDataHub, client_id: str, secret: str, gln: str, env: dict[str, str]
) -> float:
    """Run `elflow datahub pull --until-empty` (its own process) against `hub`'s MeasureData queue
    with `env` on top of ours; returns its seconds, or one line when it left documents behind."""
    settings_env = {
        **os.environ,
        **env,
        "ELFLOW_DATAHUB_BASE_URL": hub.url,
        "ELFLOW_DATAHUB_CLIENT_ID": client_id,
        "ELFLOW_DATAHUB_CLIENT_SECRET": secret,
        "ELFLOW_DATAHUB_CATEGORIES": "MeasureData",
        "ELFLOW_DATAHUB_METRICS_PORT": "0",
    }
    started = time.perf_counter()
    pull = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "datahub", "pull", "--until-empty"],
        cwd=ROOT,
        env=settings_env,
        check=False,
    )
    seconds = time.perf_counter() - started
    left = hub.waiting(gln, "MeasureData")
    if pull.returncode != 0 or left:
        raise DemoFeedError(
            f"elflow datahub pull exited {pull.returncode} with {left} documents queued"
        )
    return seconds
