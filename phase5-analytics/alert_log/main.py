"""``fraud-alert-log``: serve the webhook receiver with uvicorn (one process)."""

from __future__ import annotations

import structlog

from alert_log.app import create_app
from alert_log.settings import AlertLogSettings
from fraud_common.logs import configure_logging

log = structlog.get_logger("alert_log")


def run() -> None:
    import uvicorn

    settings = AlertLogSettings()
    configure_logging()
    log.info("starting alert-log", port=settings.port, file=str(settings.file))
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
