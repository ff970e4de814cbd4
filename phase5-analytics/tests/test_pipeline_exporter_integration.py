"""pipeline-exporter against the running native stack's Trino, Redis and (when it runs)
Airflow: one refresh of every source, and plausible gauge values (read-only)."""

from __future__ import annotations

import time

import pytest
import requests
from prometheus_client import REGISTRY
from pydantic import SecretStr

from fraud_infra.stack import Stack
from pipeline_exporter.exporter import default_sources, refresh
from pipeline_exporter.settings import PipelineExporterSettings

pytestmark = pytest.mark.integration

#: 2020-01-01: older than anything the platform ever wrote
EPOCH_FLOOR = 1_577_836_800.0


def series(name: str) -> dict[str, float]:
    """The samples of one gauge by their first label's value."""
    return {
        next(iter(s.labels.values()), ""): s.value
        for metric in REGISTRY.collect()
        for s in metric.samples
        if s.name == name
    }


def plausible(value: float) -> bool:
    return EPOCH_FLOOR < value <= time.time() + 120


def airflow_running(url: str) -> bool:
    try:
        return requests.get(f"{url}/api/v2/monitor/health", timeout=5).ok
    except requests.RequestException:
        return False


def test_every_source_refreshes_with_plausible_values(native_stack: Stack) -> None:
    env = native_stack.env
    settings = PipelineExporterSettings(
        redis_password=SecretStr(env.get("REDIS_PASSWORD", "")),
        airflow_user=env.get("AIRFLOW_ADMIN_USER", "admin"),
        airflow_password=SecretStr(env.get("AIRFLOW_ADMIN_PASSWORD", "")),
    )
    outcome = refresh(default_sources(settings))
    expected = {"bronze": True, "gold": True, "quarantine": True, "feature_store": True}
    if airflow_running(settings.airflow_url):
        expected["airflow"] = True
    assert {k: v for k, v in outcome.items() if k in expected} == expected

    bronze = series("fraud_bronze_newest_event_timestamp_seconds")
    assert bronze, "bronze holds no event (run the backfill first)"
    assert all(plausible(v) for v in bronze.values()), bronze
    ingested = series("fraud_bronze_newest_ingested_timestamp_seconds")
    # an event is ingested after it happened (the backfill ingests 30 days at once)
    assert all(ingested[t] >= bronze[t] - 1 for t in bronze), (bronze, ingested)
    for name in (
        "fraud_gold_last_refresh_timestamp_seconds",
        "fraud_feature_stream_heartbeat_timestamp_seconds",
    ):
        values = series(name)
        assert all(plausible(v) for v in values.values()), (name, values)
    assert all(v >= 0 for v in series("fraud_quarantine_rows").values())
    if "airflow" in expected:
        successes = series("fraud_airflow_dag_last_success_timestamp_seconds")
        assert all(plausible(v) for v in successes.values()), successes
