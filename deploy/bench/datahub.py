"""`elflow datahub bench --documents N`: the connector against the fake DataHub, then the readings
flow over what it published, so the two rates can be compared on the same documents.

The fake runs in this process; the connector runs as its own process (`elflow datahub pull
--until-empty`, timed from its start, so the figure includes the process start and the token).
Then the ingest flow reads the same topic into a scratch database until the end (timed the same
way). Prints figures; asserts nothing; the scratch database and the topics are removed."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
import uuid
from datetime import date
from pathlib import Path

from deploy.bench.service import scratch_flow
from deploy.demo_datahub import pull_until_empty
from deploy.fake_datahub import FakeDataHub
from flows.feed import FeedSpec, generate_feed
from flows.runner import start_flow
from schemas.rsm012 import ROOT as ROOT_NAME
from schemas.settings import settings

ROOT = Path(__file__).resolve().parents[2]


def bundle(bodies: list[bytes], size: int) -> list[bytes]:
    """Documents of `size` transactions each, as DataHub bundles RSM-012 (B2B_API.md §3): the
    Series of `size` feed documents under the first one's header and a new mRID."""
    if size == 1:
        return bodies
    bundled = []
    for first in range(0, len(bodies), size):
        docs = [json.loads(b)[ROOT_NAME] for b in bodies[first : first + size]]
        head = {**docs[0], "mRID": uuid.uuid4().hex, "Series": []}
        for doc in docs:
            head["Series"].extend(doc["Series"])
        bundled.append(json.dumps({ROOT_NAME: head}, separators=(",", ":")).encode())
    return bundled


def bench_datahub(documents: int, series_per_document: int = 1) -> str:
    base = settings()
    days = 7
    spec = FeedSpec(
        metering_points=max(1, -(-documents * series_per_document // days)),
        days=days,
        start=date(2026, 10, 1),
        seed=1,
        correction_rate=0.0,
        duplicate_rate=0.0,
        malformed_rate=0.0,
    )
    feed = itertools.islice(generate_feed(spec), documents * series_per_document)
    bodies = bundle([m.value for m in feed], series_per_document)
    readings = sum(body.count(b'"position"') for body in bodies)
    secret = secrets.token_urlsafe(24)
    with FakeDataHub() as hub, scratch_flow() as scratch:
        hub.add_client("bench", secret, base.supplier_gln)
        for body in bodies:
            hub.enqueue(base.supplier_gln, "MeasureData", body)
        env = {
            **scratch.env,
            "ELFLOW_MASTERDATA_TOPIC": f"{scratch.cfg.readings_topic}.md",
            "ELFLOW_METRICS_PORT": "0",
        }
        pull_seconds = pull_until_empty(hub, "bench", secret, base.supplier_gln, env)
        started = time.perf_counter()
        procs = start_flow(scratch.cfg, processes=1, until_end=True, env={**os.environ, **env})
        codes = [p.wait() for p in procs]
        flow_seconds = time.perf_counter() - started
        if any(codes):
            raise RuntimeError(f"flow exited with {codes}")
    return "\n".join(
        [
            f"{len(bodies)} RSM-012 documents of {series_per_document} transaction(s), "
            f"{readings} readings, queued in the fake DataHub",
            f"connector (peek → Kafka acks=all → dequeue, one process, incl. start): "
            f"{pull_seconds:.1f} s = {len(bodies) / pull_seconds:.0f} docs/s, "
            f"{readings / pull_seconds:.0f} readings/s",
            f"readings flow over the same topic (incl. start): {flow_seconds:.1f} s = "
            f"{len(bodies) / flow_seconds:.0f} docs/s, {readings / flow_seconds:.0f} readings/s",
            f"connector / flow: {flow_seconds / pull_seconds:.2f} "
            "(above 1: the connector is not the bottleneck)",
        ]
    )
