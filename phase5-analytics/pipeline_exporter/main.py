"""``fraud-pipeline-exporter``: serve /metrics and refresh the gauges in a loop."""

from __future__ import annotations

import structlog
from prometheus_client import start_http_server

from fraud_common.logs import configure_logging
from pipeline_exporter.exporter import default_sources, run_forever
from pipeline_exporter.settings import PipelineExporterSettings

log = structlog.get_logger("pipeline_exporter")


def run() -> None:
    settings = PipelineExporterSettings()
    configure_logging()
    start_http_server(settings.port, addr=settings.host)
    log.info(
        "starting pipeline-exporter",
        port=settings.port,
        interval_s=settings.interval_seconds,
        trino=f"{settings.trino_host}:{settings.trino_port}",
        redis=f"{settings.redis_host}:{settings.redis_port}",
        airflow=settings.airflow_url,
    )
    run_forever(default_sources(settings), settings.interval_seconds)


if __name__ == "__main__":
    run()
