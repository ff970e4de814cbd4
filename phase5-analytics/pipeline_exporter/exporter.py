"""The refresh loop: every source in turn, each failure contained to its own source."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import requests
import structlog

from fraud_common.trino import execute
from pipeline_exporter import metrics, sources
from pipeline_exporter.settings import PipelineExporterSettings

log = structlog.get_logger("pipeline_exporter")


@dataclass(frozen=True)
class Source:
    name: str
    refresh: Callable[[], None]


class AirflowApi:
    """GET on Airflow 3's REST API with a JWT from ``/auth/token`` (renewed on 401)."""

    def __init__(self, settings: PipelineExporterSettings, http: Any = None) -> None:
        self.url = settings.airflow_url.rstrip("/")
        self.user = settings.airflow_user
        pw = settings.airflow_password
        self.password = pw.get_secret_value() if pw else ""
        self.timeout = settings.timeout_seconds
        self.http = http or requests.Session()
        self.token: str | None = None

    def _login(self) -> str:
        resp = self.http.post(
            f"{self.url}/auth/token",
            json={"username": self.user, "password": self.password},
            timeout=self.timeout,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        for attempt in (1, 2):
            if self.token is None:
                self.token = self._login()
            resp = self.http.get(
                f"{self.url}{path}",
                params=dict(params),
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
            if resp.status_code == 401 and attempt == 1:
                self.token = None  # expired: log in again once
                continue
            resp.raise_for_status()
            return resp.json()
        raise AssertionError("unreachable")


def default_sources(settings: PipelineExporterSettings) -> list[Source]:
    """The platform's sources: Trino (bronze, gold, quarantine), Redis, Airflow."""
    import redis

    def query(sql: str) -> list[list[Any]]:
        return execute(
            settings, sql, user="fraud-pipeline-exporter", timeout=settings.timeout_seconds
        )

    pw = settings.redis_password
    client = redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        db=settings.redis_db,
        password=pw.get_secret_value() if pw else None,
        socket_timeout=settings.timeout_seconds,
        socket_connect_timeout=min(5.0, settings.timeout_seconds),
    )
    airflow = AirflowApi(settings)
    return [
        Source("bronze", partial(sources.bronze_freshness, query)),
        Source("gold", partial(sources.gold_refresh, query)),
        Source("quarantine", partial(sources.quarantine_sizes, query)),
        Source(
            "feature_store",
            partial(sources.feature_stream_status, client, settings.redis_key_prefix),
        ),
        Source("airflow", partial(sources.airflow_dags, airflow.get)),
    ]


def refresh(all_sources: list[Source]) -> dict[str, bool]:
    """Refresh every source once; one that raises is marked down and logged, never fatal."""
    outcome: dict[str, bool] = {}
    for source in all_sources:
        start = time.monotonic()
        try:
            source.refresh()
        except Exception as err:  # any failure of one source must not stop the others
            outcome[source.name] = False
            log.warning("source failed", source=source.name, error=f"{type(err).__name__}: {err}")
        else:
            outcome[source.name] = True
        metrics.UP.labels(source.name).set(float(outcome[source.name]))
        metrics.REFRESH_DURATION.labels(source.name).set(time.monotonic() - start)
    return outcome


def run_forever(
    all_sources: list[Source], interval: float, stop: threading.Event | None = None
) -> None:
    """Refresh every ``interval`` seconds until ``stop`` is set."""
    stop = stop or threading.Event()
    previous: dict[str, bool] = {}
    while not stop.is_set():
        started = time.monotonic()
        outcome = refresh(all_sources)
        if outcome != previous:
            log.info("sources refreshed", up=outcome)
            previous = outcome
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
