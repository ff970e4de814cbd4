"""The scoring API's configuration, read from the environment.

Engine endpoints use the platform-wide names (``REDIS_HOST``, ``POSTGRES_HOST``,
``MLFLOW_TRACKING_URI``, ...) shared with every other component; the
API's own knobs take the prefix ``SERVING_`` (e.g. ``SERVING_SCORING_BACKEND=sklearn``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraud_contracts import names


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"SERVING_{name}")


class ServingSettings(BaseSettings):
    """Everything the API needs; tests build their own instances."""

    model_config = SettingsConfigDict(env_prefix="SERVING_", extra="ignore", populate_by_name=True)

    # --- Redis feature store
    redis_host: str = Field(default="127.0.0.1", validation_alias=_env("REDIS_HOST"))
    redis_port: int = Field(default=6379, validation_alias=_env("REDIS_PORT"))
    redis_password: SecretStr | None = Field(default=None, validation_alias=_env("REDIS_PASSWORD"))
    redis_db: int = Field(default=0, ge=0, validation_alias=_env("REDIS_DB"))
    #: prefix of every feature-store key (tests isolate their keys); see serving.feature_store
    redis_key_prefix: str = ""
    redis_timeout_seconds: float = Field(
        default=0.05, gt=0, description="per-lookup socket timeout"
    )
    breaker_fail_max: int = Field(default=5, ge=1, description="consecutive failures that open it")
    breaker_reset_seconds: float = Field(default=5.0, gt=0, description="open -> half-open after")
    stream_stale_seconds: float = Field(
        default=10.0, gt=0, description="answers are 'stale' when the stream's heartbeat is older"
    )
    stream_max_backlog: int = Field(
        default=5_000, ge=0, description="... or its backlog (records not applied) is larger"
    )
    stream_watch_seconds: float = Field(default=1.0, gt=0, description="heartbeat read interval")

    # --- model
    mlflow_tracking_uri: str = Field(
        default="http://127.0.0.1:5000", validation_alias=_env("MLFLOW_TRACKING_URI")
    )
    model_name: str = names.MODEL_NAME
    model_alias: str = names.ALIAS_PRODUCTION
    model_cache_dir: Path = Field(
        default=Path(".cache/fraud-api/models"),
        description="last good model, survives MLflow outages",
    )
    model_poll_seconds: float = Field(default=30.0, gt=0, description="alias check interval")
    scoring_backend: Literal["onnx", "sklearn"] = "onnx"
    top_reasons: int = Field(default=3, ge=0, le=24)
    reasons_min_tier: Literal["low", "medium", "high"] = Field(
        default="high",
        description="top reasons (24 extra one-row model evaluations) only at or above this tier",
    )
    risk_medium: float = Field(
        default=0.3, ge=0, le=1, description="medium tier from this P(fraud)"
    )
    risk_high: float = Field(default=0.7, ge=0, le=1, description="high tier from this P(fraud)")

    # --- prediction log (Postgres database and role ``predictions``)
    postgres_host: str = Field(default="127.0.0.1", validation_alias=_env("POSTGRES_HOST"))
    postgres_port: int = Field(default=5432, validation_alias=_env("POSTGRES_PORT"))
    predictions_db: str = "predictions"
    predictions_db_user: str = "predictions"
    predictions_db_password: SecretStr | None = Field(
        default=None, validation_alias=_env("PREDICTIONS_DB_PASSWORD")
    )
    log_enabled: bool = True
    log_batch_rows: int = Field(default=1_000, ge=1)
    log_flush_seconds: float = Field(default=0.1, gt=0)
    log_pool_max: int = Field(default=2, ge=1)
    log_retry_seconds: float = Field(
        default=2.0, gt=0, description="replay attempt interval when down"
    )
    spill_dir: Path = Field(
        default=Path(".cache/fraud-api/spill"), description="durable outage buffer"
    )

    # --- HTTP server (fraud-api)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=2, ge=1)
    http_protocol: str = Field(
        default="",
        description="uvicorn HTTP protocol instead of the API's (serving.http_protocol), "
        "e.g. 'httptools' for uvicorn's own: benchmark comparisons",
    )

    def postgres_dsn(self) -> str:
        """libpq key=value string of the predictions database."""
        password = (
            self.predictions_db_password.get_secret_value() if self.predictions_db_password else ""
        )
        return (
            f"host={self.postgres_host} port={self.postgres_port} dbname={self.predictions_db} "
            f"user={self.predictions_db_user} password={password} connect_timeout=3"
        )


@lru_cache
def get_settings() -> ServingSettings:
    return ServingSettings()
