"""alert-log's configuration, read from ``ALERT_LOG_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertLogSettings(BaseSettings):
    """Where to listen and where the alerts go; tests build their own instances."""

    model_config = SettingsConfigDict(env_prefix="ALERT_LOG_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=9095, ge=0, le=65535)
    file: Path = Field(
        default=Path("alerts.jsonl"), description="JSON lines, one per alert received"
    )
    recent: int = Field(default=500, ge=1, description="alerts GET /alerts can list")
