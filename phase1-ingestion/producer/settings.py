"""The producer's configuration, read from the environment (prefix ``PRODUCER_``).

Kafka and registry endpoints use the platform-wide names (``KAFKA_BOOTSTRAP_SERVERS``,
``SCHEMA_REGISTRY_URL``, ``KAFKA_TOPIC_*``) shared with every other component.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraud_common.settings import KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL
from fraud_contracts.names import TOPIC_DLQ, TOPIC_LABELS, TOPIC_RAW


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"PRODUCER_{name}")


class ProducerSettings(BaseSettings):
    """Everything the producer needs; CLI options override these values."""

    model_config = SettingsConfigDict(env_prefix="PRODUCER_", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        KAFKA_BOOTSTRAP_SERVERS, validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS")
    )
    schema_registry_url: str = Field(
        SCHEMA_REGISTRY_URL, validation_alias=_env("SCHEMA_REGISTRY_URL")
    )
    topic_raw: str = Field(TOPIC_RAW, validation_alias=_env("KAFKA_TOPIC_RAW"))
    topic_dlq: str = Field(TOPIC_DLQ, validation_alias=_env("KAFKA_TOPIC_DLQ"))
    topic_labels: str = Field(TOPIC_LABELS, validation_alias=_env("KAFKA_TOPIC_LABELS"))

    mode: Literal["live", "backfill"] = "live"
    traffic: Literal["uniform", "history"] = Field(
        "uniform",
        description="live mode: 'history' continues the history's own day process (its "
        "per-card and per-terminal rates, its time of day) from the newest transaction on "
        "the raw topic, catching up at up to `tps`; 'uniform' draws `tps` transactions a "
        "second from the same cards (load: far denser per card than the history)",
    )
    tps: float = Field(
        100.0, gt=0, description="live mode: transactions per second (history: the most)"
    )
    max_catchup_hours: float = Field(
        24.0,
        gt=0,
        description="live history mode: resume at most this long ago (a longer stop leaves a "
        "gap in the history instead of a long catch-up)",
    )
    days: int = Field(30, ge=1, description="backfill mode: simulated days")
    start_date: date | None = Field(
        None, description="backfill start (default: today - days - label delay: all labels due)"
    )
    history_end: datetime | None = Field(
        None,
        description="backfill mode: the history ends at this instant (UTC) and starts `days` "
        "days before its date; labels reported after it are held back for the live producer "
        "(--traffic history sends them when due)",
    )
    max_records: int | None = Field(None, ge=1, description="stop after this many transactions")
    seed: int = 42
    label_delay_seconds: float = Field(86_400.0, ge=0, description="fraud label reporting delay")
    malformed_fraction: float = Field(0.0, ge=0, le=1)
    malformed_target: Literal["dlq", "raw"] = Field(
        "dlq",
        description="dlq: the producer's validation catches them (never sent to raw); "
        "raw: sent unvalidated to the raw topic to exercise the streaming job's DLQ",
    )

    metrics_port: int = Field(8001, ge=0, description="Prometheus endpoint; 0 disables it")
    metrics_host: str = Field(
        default="127.0.0.1", description="its address (compose: 0.0.0.0, inside the network)"
    )
    progress_interval_seconds: float = Field(5.0, gt=0)

    linger_ms: int = 20
    batch_size: int = 1_000_000
    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    delivery_timeout_ms: int = 300_000
    queue_buffering_max_messages: int = 1_000_000
