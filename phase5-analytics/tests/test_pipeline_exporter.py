"""pipeline-exporter's sources against fakes of Trino, Redis and Airflow; its loop's fault
containment (a failing source is marked down, the others still refresh)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from fraud_contracts import online
from pipeline_exporter import metrics, sources
from pipeline_exporter.exporter import AirflowApi, Source, refresh
from pipeline_exporter.settings import PipelineExporterSettings

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


class FakeTrino:
    """Answers by the first pattern that matches the SQL; records every statement."""

    def __init__(self, answers: Mapping[str, Sequence[Sequence[Any]]]) -> None:
        self.answers = answers
        self.statements: list[str] = []

    def __call__(self, sql: str) -> Sequence[Sequence[Any]]:
        self.statements.append(sql)
        for pattern, rows in self.answers.items():
            if re.search(pattern, sql):
                return rows
        raise AssertionError(f"unexpected SQL: {sql}")


def test_bronze_reads_the_delta_statistics_of_each_table() -> None:
    trino = FakeTrino(
        {
            r'"transactions\$partitions"': [[T0.timestamp(), T0.timestamp() + 5, 3]],
            r'"fraud_labels\$partitions"': [[None, None, 0]],
            r'bronze\."fraud_labels"$': [[None, None]],
        }
    )
    sources.bronze_freshness(trino, ["transactions", "fraud_labels"])
    assert sample("fraud_bronze_newest_event_timestamp_seconds", table="transactions") == (
        T0.timestamp()
    )
    assert sample("fraud_bronze_newest_ingested_timestamp_seconds", table="transactions") == (
        T0.timestamp() + 5
    )
    # an empty table has no newest event: no series rather than a 0 (1970) that would alert
    assert sample("fraud_bronze_newest_event_timestamp_seconds", table="fraud_labels") is None
    assert "max(data.event_time.max)" in trino.statements[0]


def test_gold_falls_back_to_the_column_for_unpartitioned_marts() -> None:
    trino = FakeTrino(
        {
            r"information_schema\.columns": [["mart_fraud_features"], ["mart_hourly_metrics"]],
            r'"mart_fraud_features\$partitions"': [[T0.timestamp(), 31]],
            r'"mart_hourly_metrics\$partitions"': [[None, 0]],
            r'gold\."mart_hourly_metrics"$': [[T0.timestamp() - 60]],
        }
    )
    sources.gold_refresh(trino)
    assert sample("fraud_gold_last_refresh_timestamp_seconds", table="mart_fraud_features") == (
        T0.timestamp()
    )
    assert sample("fraud_gold_last_refresh_timestamp_seconds", table="mart_hourly_metrics") == (
        T0.timestamp() - 60
    )


def test_quarantine_has_a_series_per_existing_table_only() -> None:
    sources.quarantine_sizes(
        FakeTrino(
            {
                r"information_schema\.columns": [
                    ["quarantine_orphan_labels", True],
                    ["quarantine_x", False],
                ],
                r'"quarantine_orphan_labels" WHERE resolved_at IS NULL$': [[4]],
                r'"quarantine_x"$': [[0]],
            }
        )
    )
    assert sample("fraud_quarantine_rows", table="quarantine_orphan_labels") == 4
    # the table is dropped: its series goes, and no table is not an error
    sources.quarantine_sizes(
        FakeTrino(
            {
                r"information_schema\.columns": [["quarantine_orphan_labels", True]],
                r'"quarantine_orphan_labels" WHERE resolved_at IS NULL$': [[1]],
            }
        )
    )
    assert sample("fraud_quarantine_rows", table="quarantine_x") is None
    assert sample("fraud_quarantine_rows", table="quarantine_orphan_labels") == 1
    sources.quarantine_sizes(FakeTrino({r"information_schema\.columns": []}))
    assert sample("fraud_quarantine_rows", table="quarantine_orphan_labels") is None


class FakeRedis:
    def __init__(self, data: dict[str, str]) -> None:
        self.data = data

    def get(self, name: str) -> str | None:
        return self.data.get(name)


def test_the_feature_streams_heartbeat_is_exported_and_its_absence_is_no_series() -> None:
    status = online.StreamStatus(int(T0.timestamp() * 1000), 42, int(T0.timestamp() * 1000) - 5)
    sources.feature_stream_status(
        FakeRedis(
            {
                "t:" + online.STATUS_KEY: status.to_redis(),
                online.STATUS_KEY: online.StreamStatus(1, 1, 1).to_redis(),  # another prefix
            }
        ),
        key_prefix="t:",
    )
    heartbeat = "fraud_feature_stream_heartbeat_timestamp_seconds"
    assert sample(heartbeat, store="redis") == T0.timestamp()
    assert sample("fraud_feature_stream_reported_backlog_records", store="redis") == 42
    assert sample(
        "fraud_feature_stream_reported_applied_through_timestamp_seconds", store="redis"
    ) == pytest.approx(T0.timestamp() - 0.005)
    sources.feature_stream_status(FakeRedis({}), key_prefix="t:")  # no heartbeat (any more)
    assert sample(heartbeat, store="redis") is None


def test_airflow_exports_last_success_last_failure_and_task_counts() -> None:
    def get(path: str, params: Mapping[str, Any]) -> Any:
        if path == "/api/v2/dags":
            return {"dags": [{"dag_id": "fraud_pipeline"}, {"dag_id": "never_ran"}]}
        if path.endswith("/taskInstances"):
            total = {"success": 12, "failed": 1}[params["state"]]
            return {"task_instances": [], "total_entries": total if "fraud" in path else 0}
        if "never_ran" in path:
            return {"dag_runs": []}
        if params["state"] == "success":
            return {
                "dag_runs": [
                    {
                        "state": "success",
                        "start_date": "2026-12-01T11:58:30Z",
                        "end_date": "2026-12-01T12:00:00Z",
                    }
                ]
            }
        return {"dag_runs": [{"state": "failed", "end_date": "2026-12-01T12:30:00Z"}]}

    sources.airflow_dags(get)
    assert sample("fraud_airflow_dag_last_success_timestamp_seconds", dag_id="fraud_pipeline") == (
        T0.timestamp()
    )
    assert sample("fraud_airflow_dag_last_run_duration_seconds", dag_id="fraud_pipeline") == 90
    assert sample("fraud_airflow_dag_last_run_failed", dag_id="fraud_pipeline") == 1
    assert sample("fraud_airflow_task_instances", dag_id="fraud_pipeline", state="failed") == 1
    assert sample("fraud_airflow_task_instances", dag_id="never_ran", state="success") == 0
    assert sample("fraud_airflow_dag_last_success_timestamp_seconds", dag_id="never_ran") is None


def test_a_failing_source_is_marked_down_and_the_others_still_refresh() -> None:
    calls: list[str] = []

    def broken() -> None:
        raise ConnectionError("trino is down")

    outcome = refresh([Source("broken", broken), Source("fine", lambda: calls.append("fine"))])
    assert outcome == {"broken": False, "fine": True}
    assert calls == ["fine"]
    assert sample("fraud_pipeline_exporter_up", source="broken") == 0
    assert sample("fraud_pipeline_exporter_up", source="fine") == 1
    assert sample("fraud_pipeline_exporter_refresh_duration_seconds", source="fine") is not None


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self.body = status, body

    def json(self) -> Any:
        return self.body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class FakeHttp:
    """Airflow's token endpoint and one GET that answers 401 to the first token."""

    def __init__(self) -> None:
        self.tokens = 0
        self.gets: list[str] = []

    def post(self, url: str, json: Any, timeout: float) -> FakeResponse:
        assert url.endswith("/auth/token")
        assert json == {"username": "viewer", "password": "secret"}
        self.tokens += 1
        return FakeResponse(201, {"access_token": f"t{self.tokens}"})

    def get(self, url: str, params: Any, headers: Mapping[str, str], timeout: float) -> Any:
        self.gets.append(headers["Authorization"])
        if headers["Authorization"] == "Bearer t1":
            return FakeResponse(401, {})
        return FakeResponse(200, {"dags": []})


def test_airflow_api_logs_in_again_when_its_token_expires() -> None:
    settings = PipelineExporterSettings(
        airflow_url="http://af:8082/", airflow_user="viewer", airflow_password=SecretStr("secret")
    )
    http = FakeHttp()
    api = AirflowApi(settings, http=http)
    assert api.get("/api/v2/dags", {}) == {"dags": []}
    assert http.gets == ["Bearer t1", "Bearer t2"]


def test_set_all_drops_series_that_disappeared() -> None:
    metrics.set_all(metrics.QUARANTINE_ROWS, {("a",): 1.0, ("b",): 2.0})
    metrics.set_all(metrics.QUARANTINE_ROWS, {("b",): 3.0})
    assert sample("fraud_quarantine_rows", table="a") is None
    assert sample("fraud_quarantine_rows", table="b") == 3
