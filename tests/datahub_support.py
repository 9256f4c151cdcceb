"""The fake DataHub and a connector configured against it, for the connector's tests."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.fake_datahub import FakeDataHub
from schemas.settings import settings
from tests.topics import read_topic

__all__ = ["ACTOR", "fake_hub", "read_topic"]

ACTOR = "5799999933318"  # ELFLOW_SUPPLIER_GLN's default


def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeDataHub]:
    """A running fake DataHub with one client, and every ELFLOW_DATAHUB_* setting and topic of
    this test pointed at it (also for the processes the test starts)."""
    secret = secrets.token_urlsafe(24)
    secret_file = tmp_path / "datahub-secret"
    secret_file.write_text(secret + "\n")
    tag = uuid.uuid4().hex[:12]
    with FakeDataHub() as hub:
        hub.add_client("elflow-test", secret, ACTOR)
        for name, value in {
            "ELFLOW_DATAHUB_BASE_URL": hub.url,
            "ELFLOW_DATAHUB_CLIENT_ID": "elflow-test",
            "ELFLOW_DATAHUB_CLIENT_SECRET_FILE": str(secret_file),
            "ELFLOW_DATAHUB_CATEGORIES": "MeasureData,Aggregations,MasterData",
            "ELFLOW_DATAHUB_POLL_SECONDS": "0.2",
            "ELFLOW_DATAHUB_METRICS_PORT": "0",
            "ELFLOW_METRICS_PORT": "0",
            "ELFLOW_READINGS_TOPIC": f"test.readings.{tag}",
            "ELFLOW_DEADLETTER_TOPIC": f"test.readings.{tag}.deadletter",
            "ELFLOW_MASTERDATA_TOPIC": f"test.md.{tag}",
            "ELFLOW_OUTBOUND_TOPIC": f"test.outbound.{tag}",
            "ELFLOW_RECOVERY_DIR": str(tmp_path / "recovery"),
        }.items():
            monkeypatch.setenv(name, value)
        settings.cache_clear()
        yield hub
    settings.cache_clear()
