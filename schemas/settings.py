"""elflow's configuration, read from the environment (ELFLOW_*), defaulting to the local stack."""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from schemas.errors import ElflowError
from schemas.secrets import redact
from schemas.setting_errors import bad_setting_line, env_name, undecodable_line

logger = logging.getLogger(__name__)

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


def debug_requested() -> bool:
    """ELFLOW_DEBUG=1: the CLI shows the traceback of an unexpected error. Read on its own, so
    it works even when the other settings cannot be loaded."""
    return os.environ.get("ELFLOW_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


# A Kafka topic name as the broker accepts it; `host:port`, `proto://host:port` or `host` (port
# 9092) for each bootstrap server.
_TOPIC = re.compile(r"[A-Za-z0-9._-]+")
_BOOTSTRAP_SERVER = re.compile(
    r"(?:[A-Za-z0-9_]+://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d+))?"
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class _EnvSource(EnvSettingsSource):
    """The environment, with a JSON setting that is not JSON named in one line.

    pydantic-settings decodes JSON settings (dicts, lists) before any validator runs and wraps
    the decoder's error in a SettingsError that names the field but not the variable or the
    form; this source raises ConfigError instead."""

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        try:
            return super().prepare_field_value(field_name, field, value, value_is_complex)
        except ValueError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(redact(undecodable_line(field_name, field, reason))) from None


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
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    # Bind address of /metrics, /healthz, /readyz (issue 14): loopback locally, 0.0.0.0 in the image.
    metrics_address: str = Field(
        default="127.0.0.1", min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_-]+$"
    )
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _EnvSource(settings_cls), dotenv_settings, file_secret_settings

    @field_validator("*", mode="before")
    @classmethod
    def _no_empty_path(cls, value: Any, info: ValidationInfo) -> Any:
        # Path("") is the working directory: an empty path setting is a mistake, not ".".
        field = cls.model_fields.get(info.field_name or "")
        is_path = field is not None and "Path" in str(field.annotation)
        if is_path and isinstance(value, str) and not value.strip():
            raise ValueError("is empty (leave the variable unset for the default)")
        return value

    @field_validator("recovery_dir", "ubl_rules_dir")
    @classmethod
    def _directory(cls, value: Path | None) -> Path | None:
        if value is not None and value.exists() and not value.is_dir():
            raise ValueError("exists and is not a directory")
        return value

    @field_validator("datahub_client_secret_file")
    @classmethod
    def _file(cls, value: Path | None) -> Path | None:
        if value is not None and value.is_dir():
            raise ValueError("is a directory")
        return value

    @field_validator("timezone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        # The database checks it too, on the first connection (storage.db.check_time_zone).
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError("not in the tz database") from None
        return value

    @field_validator("readings_topic", "deadletter_topic", "masterdata_topic", "outbound_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if value in (".", "..") or not 0 < len(value) < 250:
            raise ValueError("empty, too long, or . or ..")
        if not _TOPIC.fullmatch(value):
            bad = next(c for c in value if not _TOPIC.fullmatch(c))
            raise ValueError(f"the character {bad!r} is not allowed")
        return value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            match = _BOOTSTRAP_SERVER.fullmatch(server.strip())
            if match is None or (match[1] is not None and not 0 < int(match[1]) < 65536):
                raise ValueError(f"{server.strip()!r} is not host:port")
        return value

    @field_validator("supplier_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and not _EMAIL.fullmatch(value):
            raise ValueError("not name@domain.tld")
        return value

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
            scheme = value.split("://", 1)[0] if "://" in value else ""
            if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,20}", scheme):
                raise ValueError(f"{scheme}:// is not postgresql://")
            raise ValueError("neither a URL nor key=value")
        return value

    @field_validator("flow_addresses")
    @classmethod
    def _cluster_addresses(cls, value: str) -> str:
        from schemas.cluster import ClusterError, parse_addresses

        try:
            return ",".join(parse_addresses(value))
        except ClusterError as exc:
            raise ValueError(str(exc)) from None

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
    for variable, meant in misspelt_variables(os.environ):
        logger.warning("%s is not a setting and is ignored: did you mean %s?", variable, meant)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(redact(bad_setting_line(exc.errors(), Settings.model_fields))) from None
    except SettingsError as exc:  # a source failed in a way _EnvSource does not name
        found = re.search(r'field "(\w+)"', str(exc))
        name = env_name(found[1]) if found else "ELFLOW_*"
        raise ConfigError(redact(f"bad setting {name}: {exc.__cause__ or exc}")) from None


# ELFLOW_* variables that are not settings of this class: deploy/stack.sh's and the CLI's own.
OTHER_VARIABLES = frozenset(
    {
        "ELFLOW_DEBUG",
        "ELFLOW_PG_PORT",
        "ELFLOW_KAFKA_PORT",
        "ELFLOW_BROKER",
        "ELFLOW_BROKER_STOP_SECONDS",
        "ELFLOW_LOCAL_DIR",
        "ELFLOW_REBUILD_TIMESCALEDB",
    }
)


def misspelt_variables(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(variable, the setting it probably means) for each ELFLOW_* variable that is no setting
    but nearly the name of one: a typo would otherwise be ignored without a word."""
    known = {env_name(name) for name in Settings.model_fields}
    found = []
    for variable in sorted(environ):
        if variable.startswith("ELFLOW_") and variable not in known | OTHER_VARIABLES:
            close = difflib.get_close_matches(variable, known, n=1, cutoff=0.85)
            if close:
                found.append((variable, close[0]))
    return found


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()
