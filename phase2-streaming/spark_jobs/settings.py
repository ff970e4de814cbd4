"""Configuration of the streaming jobs: one settings object read from the environment.

Endpoints, topics and the bucket use the platform-wide names (``KAFKA_BOOTSTRAP_SERVERS``,
``SCHEMA_REGISTRY_URL``, ``KAFKA_TOPIC_RAW|DLQ|LABELS``, ``S3_ENDPOINT_URL``,
``S3_ACCESS_KEY``, ``S3_SECRET_KEY``, ``S3_BUCKET``); the job's own knobs are
``STREAMING_*``. Table and checkpoint locations are relative to ``s3a://<S3_BUCKET>/``
unless they carry a scheme (``s3a://...``, ``file:/...``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraud_common.paths import cache_dir
from fraud_common.settings import KAFKA_BOOTSTRAP_SERVERS, S3_ENDPOINT_URL, SCHEMA_REGISTRY_URL
from fraud_contracts import quality
from fraud_contracts.names import TOPIC_DLQ, TOPIC_LABELS, TOPIC_RAW


def _plain(name: str) -> AliasChoices:
    return AliasChoices(name)


class StreamingSettings(BaseSettings):
    """Everything the bronze writer and the maintenance job read from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMING_",
        env_file=".env",  # the repository's (make init), under the process environment
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    # ---------------------------------------------------------------- platform-wide
    kafka_bootstrap_servers: str = Field(
        KAFKA_BOOTSTRAP_SERVERS, validation_alias=_plain("KAFKA_BOOTSTRAP_SERVERS")
    )
    schema_registry_url: str = Field(
        SCHEMA_REGISTRY_URL, validation_alias=_plain("SCHEMA_REGISTRY_URL")
    )
    topic_raw: str = Field(TOPIC_RAW, validation_alias=_plain("KAFKA_TOPIC_RAW"))
    topic_dlq: str = Field(TOPIC_DLQ, validation_alias=_plain("KAFKA_TOPIC_DLQ"))
    topic_labels: str = Field(TOPIC_LABELS, validation_alias=_plain("KAFKA_TOPIC_LABELS"))
    s3_endpoint_url: str = Field(S3_ENDPOINT_URL, validation_alias=_plain("S3_ENDPOINT_URL"))
    s3_access_key: SecretStr = Field(validation_alias=_plain("S3_ACCESS_KEY"))
    s3_secret_key: SecretStr = Field(validation_alias=_plain("S3_SECRET_KEY"))
    s3_bucket: str = Field("fraud-platform", validation_alias=_plain("S3_BUCKET"))
    s3_region: str = Field("us-east-1", validation_alias=_plain("S3_REGION"))

    # ---------------------------------------------------------------- STREAMING_*
    master: str = Field("local[*]", description="Spark master URL")
    app_name: str = "fraud-bronze-writer"
    streams: str = Field(
        "transactions,labels", description="comma-separated streams to run: transactions, labels"
    )
    transactions_table: str = "bronze/transactions"
    labels_table: str = "bronze/fraud_labels"
    checkpoint_root: str = Field("checkpoints/bronze", description="one sub-directory per stream")
    trigger_seconds: float = Field(10.0, gt=0, description="micro-batch trigger interval")
    max_offsets_per_trigger: int = Field(
        200_000, ge=1, description="backpressure: Kafka records per micro-batch at most"
    )
    decode_partitions: int = Field(
        0,
        ge=0,
        description="tasks decoding a micro-batch (Kafka partitions are coalesced "
        "into these); 0: Spark's default parallelism (the cores in local mode)",
    )
    starting_offsets: str = Field(
        "earliest", description="first start only; later starts resume from the checkpoint"
    )
    fail_on_data_loss: bool = Field(
        True, description="stop when offsets vanished (retention) before being read"
    )
    dedup_window: str = Field(
        "10 minutes",
        description="transaction_id duplicates (producer retries) closer than this in "
        "ingestion time are dropped",
    )
    # The quality rules' bounds: the contract's (fraud_contracts.quality) unless overridden.
    future_tolerance_seconds: float = Field(
        quality.FUTURE_TOLERANCE_MS / 1000,
        ge=0,
        description="event_time may be at most this far after ingestion",
    )
    min_event_time: datetime = Field(
        quality.MIN_EVENT_TIME, description="event_time before this is rejected"
    )
    min_amount: float = Field(quality.MIN_AMOUNT, gt=0, description="smaller amounts go to the DLQ")
    max_amount: float = Field(
        quality.MAX_AMOUNT, gt=0, description="larger amounts go to the DLQ (sums must stay exact)"
    )
    allowed_currencies: str = Field(
        ",".join(quality.CURRENCIES), description="comma-separated ISO 4217 codes"
    )
    metrics_port: int = Field(8002, ge=0, description="Prometheus endpoint; 0 disables it")
    metrics_host: str = Field(
        default="127.0.0.1", description="its address (compose: 0.0.0.0, inside the network)"
    )
    maintenance_interval_minutes: float = Field(
        0.0, ge=0, description="run OPTIMIZE/VACUUM inside the writer this often; 0: never"
    )
    vacuum_retention_hours: float = Field(
        168.0, ge=168.0, description="VACUUM keeps files removed less than this long ago"
    )
    driver_host: str | None = Field(
        None, description="address executors use to reach the driver (compose: its hostname)"
    )
    spark_conf_dir: str | None = Field(
        None, description="directory of spark-defaults.conf (default: <repo>/infra/spark)"
    )
    ivy_dir: str | None = Field(
        None, description="Ivy cache (default: ${FRAUD_CACHE_DIR:-~/.cache/fraud-platform}/ivy)"
    )

    # ---------------------------------------------------------------- derived
    def location(self, path: str) -> str:
        """A table/checkpoint location: kept if it has a scheme, else under the bucket."""
        if "://" in path or path.startswith("file:"):
            return path.rstrip("/")
        return f"s3a://{self.s3_bucket}/{path.strip('/')}"

    def checkpoint(self, stream: str) -> str:
        """Checkpoint directory of one stream."""
        return f"{self.location(self.checkpoint_root)}/{stream}"

    def stream_names(self) -> list[str]:
        """The streams to run, in order."""
        return [s.strip() for s in self.streams.split(",") if s.strip()]

    def currencies(self) -> list[str]:
        """The allowed currency codes."""
        return [c.strip() for c in self.allowed_currencies.split(",") if c.strip()]

    def ivy_path(self) -> str:
        """Where Spark's Ivy resolver caches the connector jars (outside the repository)."""
        return self.ivy_dir or str(cache_dir() / "ivy")
