"""Airflow against the native stack: the running API server, scheduler and DAG processor
(group ``airflow`` of infra/native/services.yaml) load both DAGs, and one
``fraud_pipeline`` run, triggered through the REST API, succeeds end to end: real dbt on
Trino over the bronze Delta tables, then the Redis feature push of the ML phase.

The group is started unless it already runs, and only what this module started is
stopped. The run works on the phase's lakehouse fixture (30 simulated days landed in
bronze through the producer and the bronze writer, silver and gold built once), so it
is an incremental run, like every scheduled one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from fraud_infra.airflow_client import AirflowClient
from fraud_infra.stack import Stack
from fraud_testing.lakehouse import Lakehouse
from fraud_testing.stack import group_running

log = logging.getLogger(__name__)

AIRFLOW_GROUP = "airflow"
PIPELINE = "fraud_pipeline"
#: one run on 2 cores takes a few minutes; retries with backoff can add several more
RUN_TIMEOUT_SECONDS = 40 * 60
#: how long after unpausing to watch for the catch-up run the scheduler adds
CATCH_UP_WATCH_SECONDS = 15


@pytest.fixture(scope="module")
def airflow_stack(native_stack: Stack) -> Iterator[Stack]:
    with group_running(native_stack, AIRFLOW_GROUP, "Airflow") as stack:
        yield stack


@pytest.fixture(scope="module")
def airflow(airflow_stack: Stack) -> AirflowClient:
    env = airflow_stack.env
    url = airflow_stack.services["airflow-api-server"].url
    assert url, "airflow-api-server declares no url"
    client = AirflowClient(url, env["AIRFLOW_ADMIN_USER"], env["AIRFLOW_ADMIN_PASSWORD"])
    client.login()
    return client


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


@pytest.mark.e2e
@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 600)
def test_one_fraud_pipeline_run_succeeds_end_to_end(
    airflow: AirflowClient, lakehouse: Lakehouse
) -> None:
    dag = airflow.wait_for_dag(PIPELINE)
    was_paused = bool(dag["is_paused"])
    earlier_runs = {run["dag_run_id"] for run in airflow.runs(PIPELINE)}
    run_id = airflow.trigger(
        PIPELINE, note=f"e2e test ({lakehouse.backfill.transactions} bronze rows)"
    )
    t0 = time.monotonic()
    if was_paused:  # a paused DAG's runs stay queued
        airflow.set_paused(PIPELINE, False)
        # Unpausing also creates a run for the latest missed tick, scheduled before ours:
        # drop it (it exists only because this test unpaused the DAG).
        for _ in range(CATCH_UP_WATCH_SECONDS):
            airflow.discard_scheduled_runs(PIPELINE, keep=earlier_runs)
            time.sleep(1)
    try:
        run = airflow.wait_for_run(PIPELINE, run_id, timeout=RUN_TIMEOUT_SECONDS)
    finally:
        if was_paused:  # back as it was, without the runs the schedule added meanwhile
            airflow.set_paused(PIPELINE, True)
            airflow.discard_scheduled_runs(PIPELINE, keep=earlier_runs)
    log.info("%s run %s: %s in %.0fs", PIPELINE, run_id, run["state"], time.monotonic() - t0)
    assert run["state"] == "success", (
        f"{PIPELINE} run {run_id} {run['state']}:\n" + airflow.explain(PIPELINE, run_id)
    )
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(PIPELINE, run_id)}
    assert set(states.values()) == {"success"}, states
    assert len(states) == 8  # the seven steps and report_quarantine
