"""pipeline-exporter's configuration: its own ``PIPELINE_EXPORTER_*`` variables and the
platform's engine variables (``TRINO_*``, ``REDIS_*``, ``AIRFLOW_*``) every service reads."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(f"PIPELINE_EXPORTER_{name}", name)


class PipelineExporterSettings(BaseSettings):
    """Where to listen, how often to look, and the engines to ask (tests build their own)."""

    model_config = SettingsConfigDict(
        env_prefix="PIPELINE_EXPORTER_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8005, ge=0, le=65535)
    interval_seconds: float = Field(
        default=60.0, gt=0, description="between two refreshes (~4 s of Trino queries each)"
    )
    timeout_seconds: float = Field(default=20.0, gt=0, description="per source and refresh")

    trino_host: str = Field(default="127.0.0.1", validation_alias=_env("TRINO_HOST"))
    trino_port: int = Field(default=8085, validation_alias=_env("TRINO_PORT"))
    trino_catalog: str = Field(default="delta", validation_alias=_env("TRINO_CATALOG"))

    redis_host: str = Field(default="127.0.0.1", validation_alias=_env("REDIS_HOST"))
    redis_port: int = Field(default=6379, validation_alias=_env("REDIS_PORT"))
    redis_password: SecretStr | None = Field(default=None, validation_alias=_env("REDIS_PASSWORD"))
    redis_db: int = Field(default=0, ge=0, validation_alias=_env("REDIS_DB"))
    redis_key_prefix: str = ""

    airflow_url: str = Field(default="http://127.0.0.1:8082", validation_alias=_env("AIRFLOW_URL"))
    airflow_user: str = Field(default="admin", validation_alias=_env("AIRFLOW_ADMIN_USER"))
    airflow_password: SecretStr | None = Field(
        default=None, validation_alias=_env("AIRFLOW_ADMIN_PASSWORD")
    )
