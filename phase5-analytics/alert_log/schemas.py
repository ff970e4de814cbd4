"""Alertmanager's webhook payload (version 4) and what alert-log stores of it.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Status = Literal["firing", "resolved"]


class Alert(BaseModel):
    """One alert of a notification."""

    model_config = ConfigDict(populate_by_name=True)

    status: Status
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: dt.datetime = Field(alias="startsAt")
    # Alertmanager sends 0001-01-01T00:00:00Z while an alert has no end
    ends_at: dt.datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @field_validator("ends_at")
    @classmethod
    def _no_end(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None or value.year <= 1 else value


class Notification(BaseModel):
    """One webhook call: the alerts of one group, as Alertmanager sends them."""

    model_config = ConfigDict(populate_by_name=True)

    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: Status
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[Alert]


class LoggedAlert(BaseModel):
    """One line of the alert log: the alert, when it arrived, and from which group."""

    received_at: dt.datetime
    receiver: str
    group_key: str
    status: Status
    alertname: str
    severity: str
    summary: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    generator_url: str
    fingerprint: str

    @classmethod
    def of(cls, alert: Alert, notification: Notification, now: dt.datetime) -> LoggedAlert:
        return cls(
            received_at=now,
            receiver=notification.receiver,
            group_key=notification.group_key,
            status=alert.status,
            alertname=alert.labels.get("alertname", ""),
            severity=alert.labels.get("severity", ""),
            summary=alert.annotations.get("summary", ""),
            labels=alert.labels,
            annotations=alert.annotations,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
            generator_url=alert.generator_url,
            fingerprint=alert.fingerprint,
        )
