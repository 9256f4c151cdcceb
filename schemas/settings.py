"""elflow's configuration, read from the environment (ELFLOW_*), defaulting to the local stack."""

from __future__ import annotations

import json
import logging
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
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


def _default_data_dir() -> Path:
    """`.local` of the checkout when running from one (where deploy/stack.sh keeps its state),
    else of the working directory at load; resolved to an absolute path either way."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "deploy" / "stack.sh").is_file():
        return checkout / ".local"
    return Path.cwd() / ".local"


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
    datahub_database_url: str | None = None
    # A superuser: `elflow db roles` and the scratch databases of tests and benchmarks.
    admin_database_url: str = f"postgresql://postgres@127.0.0.1:{LOCAL_PG_PORT}/postgres"
    kafka_bootstrap: str = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
    # Extra librdkafka settings as a JSON object, e.g. {"security.protocol": "SASL_SSL", ...}.
    kafka_config: dict[str, str] = Field(default_factory=dict)
    readings_topic: str = "datahub.rsm012"
    deadletter_topic: str = "datahub.rsm012.deadletter"
    masterdata_topic: str = "datahub.masterdata"  # RSM-022; ".events"/".deadletter" beside it
    # Where the flows keep state on disk (issue 14): absolute after loading; by default `.local`
    # of the checkout this code runs from, else of the working directory (/var/lib/elflow in the
    # image). A relative ELFLOW_RECOVERY_DIR lies under it; the store must be on a persistent
    # volume (flows.store).
    data_dir: Path = Field(default_factory=lambda: _default_data_dir())
    recovery_dir: Path = Path("recovery")
    # The ingest flow's Bytewax cluster across machines (schemas.cluster): every process's
    # host:port, comma-separated, and which of them this one is.
    flow_addresses: str = ""
    flow_process_id: int | None = Field(default=None, ge=0)
    # Set by flows.runner for its worker processes: where a worker writes its counts (flows.stats).
    flow_stats_file: Path | None = None
    # The EN 16931 rules UBL validation runs (settlement.ubl_artefacts); None: share/elflow/en16931
    # of the Python environment, where `python -m deploy.ubl_rules` puts them.
    ubl_rules_dir: Path | None = None
    metrics_port: int = 9464
    metrics_address: str = "127.0.0.1"  # bind address of /metrics (issue 14; the image: 0.0.0.0)
    timezone: str = "Europe/Copenhagen"
    # Community edition only: `elflow db migrate` sets a policy compressing metering_block's
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
    # Invoice numbers (issue 13): series = prefix + the local year of issue, e.g. EF-2026-000123;
    # gap-free within a series (storage.invoices.issue_drafts).
    invoice_number_prefix: str = Field(default="EF", pattern=r"^[A-Z0-9]{1,20}$")
    # The supplier as printed on invoices (settlement.invoice_document; momsloven § 52 a: name,
    # address, CVR). The defaults are the demo's made-up company; set the real ones in production.
    supplier_name: str = Field(default="Elflow Energi A/S (demo)", min_length=1, max_length=200)
    supplier_address: str = Field(
        default="Eksempelvej 1, 8000 Aarhus C", min_length=1, max_length=200
    )
    supplier_cvr: str = Field(default="12345678", pattern=r"^\d{8}$")
    supplier_email: str = Field(default="kundeservice@elflow.invalid", max_length=254)
    supplier_phone: str = Field(default="70 00 00 00", max_length=32)
    # Payment details: Danish registration and account number, and IBAN/BIC for transfers.
    supplier_bank_reg: str = Field(default="1234", pattern=r"^\d{4}$")
    supplier_bank_account: str = Field(default="0001234567", pattern=r"^\d{1,10}$")
    supplier_iban: str = Field(
        default="DK0812340001234567", pattern=r"^[A-Z]{2}\d{2}[A-Z0-9]{1,30}$"
    )
    supplier_bic: str = Field(default="", pattern=r"^([A-Z0-9]{8}|[A-Z0-9]{11})?$")
    # An outbound request with no answer after this long is TimedOut (`process list --stuck`).
    process_answer_timeout_hours: float = Field(default=24.0, gt=0, le=24 * 90)

    # The DataHub B2B connector (issue 11, flows.datahub): `elflow datahub pull|send`. Defaults
    # point at the local fake (`elflow datahub fake`); production: https://prod.b2b.datahub3.dk
    # and Entra ID's token endpoint. The secret comes from _SECRET or, better, _SECRET_FILE.
    datahub_base_url: str = Field(default="http://127.0.0.1:18765", pattern=r"^https?://[^\s/]+")
    datahub_token_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+/\S*$")
    datahub_client_id: str = Field(default="elflow-local", min_length=1, max_length=200)
    datahub_client_secret: SecretStr | None = None
    datahub_client_secret_file: Path | None = None
    datahub_scope: str = Field(default="", max_length=500)
    datahub_categories: str = "MeasureData,Aggregations"  # comma-separated
    datahub_format: str = Field(default="json", pattern=r"^(json|xml|ebix)$")
    datahub_poll_seconds: float = Field(default=5.0, gt=0, le=3600)
    datahub_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    datahub_token_margin_seconds: float = Field(default=300.0, ge=0, le=3000)
    # A document larger than this is not sent to Kafka: it is stored as a dead letter (reason
    # too_large) and dequeued. Keep it at or below the broker's message.max.bytes.
    datahub_max_message_bytes: int = Field(default=1_000_000, ge=4096)
    datahub_metrics_port: int = Field(default=9474, ge=0, le=65535)
    # Our outbound document (root name) → the request endpoint. Which endpoint DataHub 3 offers
    # for a change of supplier or a service request is not confirmed (B2B_API.md §1, [U]).
    datahub_request_paths: dict[str, str] = Field(
        default_factory=lambda: {
            "RequestChangeOfSupplier_MarketDocument": "/v1.0/cim/requestchangeofsupplier",
            "RequestService_MarketDocument": "/v1.0/cim/requestservice",
        }
    )

    @field_validator(
        "database_url",
        "migrate_database_url",
        "ingest_database_url",
        "finance_database_url",
        "loader_database_url",
        "datahub_database_url",
        "admin_database_url",
    )
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("postgresql://", "postgres://")) and "=" not in value:
            raise ValueError("must be a postgresql:// URL or a libpq key=value string")
        return value

    @field_validator("flow_addresses")
    @classmethod
    def _cluster_addresses(cls, value: str) -> str:
        from schemas.cluster import ClusterError, parse_addresses

        try:
            return ",".join(parse_addresses(value))
        except ClusterError as exc:
            raise ValueError(f"{exc} (expected host:port,host:port,…)") from None

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        """Resolve the data directory once, so the working directory never moves a store."""
        self.data_dir = self.data_dir.expanduser().resolve()
        self.recovery_dir = (self.data_dir / self.recovery_dir.expanduser()).resolve()
        return self

    def flow_address_list(self) -> tuple[str, ...]:
        from schemas.cluster import parse_addresses

        return parse_addresses(self.flow_addresses)

    @field_validator("kafka_config", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object of librdkafka settings")
        return {str(k): str(v) for k, v in value.items()}

    @field_validator("datahub_categories", mode="before")
    @classmethod
    def _categories(cls, value: Any) -> Any:
        names = [part.strip() for part in str(value).split(",") if part.strip()]
        known = ("MeasureData", "Aggregations", "TimeSeries", "MasterData")
        for name in names:
            if name not in known:
                raise ValueError(f"unknown category {name!r} (known: {', '.join(known)})")
        if not names or len(set(names)) != len(names):
            raise ValueError("name each category once, at least one")
        return ",".join(names)

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

    def datahub_category_list(self) -> list[str]:
        return self.datahub_categories.split(",")

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
