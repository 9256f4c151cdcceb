"""elflow's configuration, read from the environment (ELFLOW_*), defaulting to the local stack."""

from __future__ import annotations

import json
import logging
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.errors import ElflowError
from schemas.secrets import redact

LOCAL_PG_PORT = 54329
LOCAL_KAFKA_PORT = 19092


# One log line format for every elflow process (the CLI, the flows, the relay): operators grep it.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr in LOG_FORMAT (replacing any earlier configuration of the root logger)."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)


class ConfigError(ElflowError):
    """A setting is missing or malformed; the message is one line meant for an operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ELFLOW_", extra="ignore")

    # The database (host, port, name) and the owner's login, which only `elflow db migrate`
    # uses. Each job's URL defaults to this one with the job's role as user and no password
    # (storage.db.url_for); set ELFLOW_<JOB>_DATABASE_URL to give a role its own password/host.
    database_url: str = f"postgresql://elflow@127.0.0.1:{LOCAL_PG_PORT}/elflow"
    migrate_database_url: str | None = None
    ingest_database_url: str | None = None
    finance_database_url: str | None = None
    loader_database_url: str | None = None
    # A superuser: `elflow db roles` and the scratch databases of tests and benchmarks.
    admin_database_url: str = f"postgresql://postgres@127.0.0.1:{LOCAL_PG_PORT}/postgres"
    kafka_bootstrap: str = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
    # Extra librdkafka settings as a JSON object, e.g. {"security.protocol": "SASL_SSL", ...}.
    kafka_config: dict[str, str] = Field(default_factory=dict)
    readings_topic: str = "datahub.rsm012"
    deadletter_topic: str = "datahub.rsm012.deadletter"
    masterdata_topic: str = "datahub.masterdata"  # RSM-022; ".events"/".deadletter" beside it
    recovery_dir: Path = Path(".local/recovery")
    metrics_port: int = 9464
    timezone: str = "Europe/Copenhagen"
    # Community edition only: `elflow db migrate` sets a policy compressing metering_data's
    # chunks older than this (storage.compression); late corrections into them still work.
    compress_after_days: int = Field(default=45, ge=1, le=3650)
    # Tariff bands as JSON {band: [[from_hour, to_hour], ...]} in local time; the Danish grid
    # tariff model (Tarifmodel 3.0) by default.
    bands: dict[str, list[tuple[int, int]]] = Field(
        default_factory=lambda: {
            "off_peak": [(0, 6)],
            "peak": [(6, 17), (21, 24)],
            "super_peak": [(17, 21)],
        }
    )

    # Bounds on ingested documents (schemas.rsm012.InputLimits): every time in a document must
    # fall in the years [this year - back, this year + ahead]; createdDateTime may be at most
    # created_skew_seconds ahead of our clock.
    input_years_back: int = Field(default=10, ge=0, le=100)
    input_years_ahead: int = Field(default=1, ge=0, le=100)
    input_created_skew_seconds: int = Field(default=300, ge=0, le=86_400)
    # The largest dead-letter copy sent to the dead-letter topic (payload + headers); a larger
    # payload is cut to fit and flagged with a `truncated` header (the table keeps it whole).
    # Kafka's default message.max.bytes is 1 048 588; keep this below the broker's limit.
    deadletter_max_bytes: int = Field(default=900_000, ge=4096)

    # The customer lifecycle (issue 10): DataHub's answers and notifications arrive on the
    # master-data topic; our request documents leave on outbound_topic. supplier_gln is our GLN
    # (sender, and how notifications are told apart); the defaults are the test parties of
    # Energinet's public RSM-001 sample.
    outbound_topic: str = "datahub.outbound"
    supplier_gln: str = Field(default="5799999933318", pattern=r"^\d{13}$")
    balance_responsible_gln: str = Field(default="5799999933340", pattern=r"^\d{13}$")
    datahub_gln: str = Field(default="5790001330552", pattern=r"^\d{13}$")
    # An outbound request with no answer after this long is TimedOut (`process list --stuck`).
    process_answer_timeout_hours: float = Field(default=24.0, gt=0, le=24 * 90)

    @field_validator(
        "database_url",
        "migrate_database_url",
        "ingest_database_url",
        "finance_database_url",
        "loader_database_url",
        "admin_database_url",
    )
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("postgresql://", "postgres://")) and "=" not in value:
            raise ValueError("must be a postgresql:// URL or a libpq key=value string")
        return value

    @field_validator("kafka_config", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object of librdkafka settings")
        return {str(k): str(v) for k, v in value.items()}

    @field_validator("bands")
    @classmethod
    def _every_hour_one_band(
        cls, value: dict[str, list[tuple[int, int]]]
    ) -> dict[str, list[tuple[int, int]]]:
        from schemas.bands import validate_bands

        validate_bands(value)
        return value

    def __repr__(self) -> str:
        return redact(super().__repr__())

    def __str__(self) -> str:
        return redact(super().__str__())

    def kafka_client_config(self, **extra: str) -> dict[str, str | int | float | bool]:
        """librdkafka settings for any client: bootstrap plus the pass-through settings."""
        return {"bootstrap.servers": self.kafka_bootstrap, **self.kafka_config, **extra}


def load_settings() -> Settings:
    """Read settings from the environment; raise ConfigError with one readable line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "ELFLOW_" + "_".join(str(p) for p in first["loc"][:1]).upper()
        raise ConfigError(redact(f"bad setting {name}: {first['msg']}")) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()
