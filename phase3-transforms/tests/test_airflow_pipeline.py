"""Airflow against the native stack: the running API server, scheduler and DAG processor
(group ``airflow`` of infra/native/services.yaml, the session fixture of conftest.py)
load both DAGs and refuse a wrong password. The ``fraud_pipeline`` run itself is the
bad-data drill's (test_survives_bad_data.py).
"""

from __future__ import annotations

import pytest

from fraud_infra.airflow_client import AirflowClient

PIPELINE = "fraud_pipeline"


@pytest.mark.integration
def test_api_server_scheduler_and_dag_processor_are_healthy(airflow: AirflowClient) -> None:
    health = airflow.session.get(f"{airflow.base_url}/api/v2/monitor/health", timeout=10).json()
    for component in ("metadatabase", "scheduler", "dag_processor"):
        assert health[component]["status"] == "healthy", health


@pytest.mark.integration
def test_running_airflow_loads_both_dags_without_import_errors(airflow: AirflowClient) -> None:
    for dag_id in (PIPELINE, "ml_training"):
        assert airflow.wait_for_dag(dag_id)["dag_id"] == dag_id
    assert airflow.import_errors() == []


@pytest.mark.integration
def test_login_with_a_wrong_password_is_refused(airflow: AirflowClient) -> None:
    resp = airflow.session.post(
        f"{airflow.base_url}/auth/token",
        json={"username": airflow.username, "password": "not-" + airflow.password},
        timeout=10,
    )
    assert resp.status_code in {401, 403}
