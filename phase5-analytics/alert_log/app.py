"""The HTTP API: Alertmanager's webhook, the latest alerts, health and metrics."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import structlog
from fastapi import FastAPI, HTTPException, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from alert_log.schemas import LoggedAlert, Notification, Status
from alert_log.settings import AlertLogSettings
from alert_log.store import AlertLog

log = structlog.get_logger("alert_log")

ALERTS = Counter(
    "fraud_alert_log_alerts_total",
    "Alerts received from Alertmanager, by status and severity",
    ["status", "severity"],
)
WRITE_ERRORS = Counter(
    "fraud_alert_log_write_errors_total", "Notifications refused because the log was not writable"
)
Limit = Annotated[int, Query(ge=1, description="at most this many (up to ALERT_LOG_RECENT)")]


def _log_alert(alert: LoggedAlert) -> None:
    emit = log.warning if alert.status == "firing" else log.info
    emit(
        "alert",
        status=alert.status,
        alertname=alert.alertname,
        severity=alert.severity,
        summary=alert.summary,
        labels=alert.labels,
        starts_at=alert.starts_at.isoformat(),
        runbook_url=alert.annotations.get("runbook_url", ""),
    )


def create_app(settings: AlertLogSettings) -> FastAPI:
    app = FastAPI(
        title="alert-log",
        summary="Alertmanager webhook receiver: every alert into a log file",
        version="1.0.0",
    )
    store = AlertLog(settings.file, settings.recent)

    @app.post("/alerts", summary="Alertmanager webhook (payload version 4)")
    def receive(notification: Notification) -> dict[str, int]:
        now = dt.datetime.now(dt.UTC)
        alerts = [LoggedAlert.of(a, notification, now) for a in notification.alerts]
        try:
            stored = store.append(alerts)
        except OSError as err:
            WRITE_ERRORS.inc()
            log.error("cannot write the alert log", path=str(settings.file), error=str(err))
            # 5xx: Alertmanager retries the notification
            raise HTTPException(status_code=503, detail="alert log not writable") from err
        for alert in alerts:
            ALERTS.labels(alert.status, alert.severity).inc()
            _log_alert(alert)
        return {"stored": stored}

    @app.get("/alerts", summary="The latest alerts received, newest first")
    def latest(limit: Limit = 50, status: Status | None = None) -> list[LoggedAlert]:
        return store.latest(limit, status)

    @app.get("/health", summary="Liveness: the process answers")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
