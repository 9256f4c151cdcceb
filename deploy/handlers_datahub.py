"""Handlers of `elflow datahub pull|send|fake|bench`."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def pull(args: argparse.Namespace) -> int:
    from flows.datahub.pull import run
    from schemas.settings import settings

    stats = run(settings(), until_empty=args.until_empty)
    log.info(
        "peeked %d, published %d, dead-lettered %d too large, dequeued %d",
        stats.peeked,
        stats.published,
        stats.too_large,
        stats.dequeued,
    )
    return 0


def send(args: argparse.Namespace) -> int:
    from flows.datahub.send import run_sender
    from schemas.settings import settings

    outcomes = run_sender(settings(), until_empty=args.until_empty)
    log.info("requests: %s", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none")
    return 0


def fake(args: argparse.Namespace) -> int:
    from deploy.fake_datahub import serve_forever
    from flows.datahub.client import client_secret
    from schemas.settings import settings

    cfg = settings()
    serve_forever(args.port, args.client_id, client_secret(cfg), args.actor or cfg.supplier_gln)
    return 0


def bench(args: argparse.Namespace) -> int:
    from deploy.bench.datahub import bench_datahub

    print(bench_datahub(args.documents, args.series_per_document))
    return 0
