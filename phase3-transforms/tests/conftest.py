"""Fixtures of the phase 3 tests that talk to Airflow (group ``airflow`` of the native
stack): started once per session unless it already runs, stopped at the end if started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fraud_infra.airflow_client import AirflowClient
from fraud_infra.stack import Stack
from fraud_testing.stack import group_running

AIRFLOW_GROUP = "airflow"


@pytest.fixture(scope="session")
def airflow_stack(native_stack: Stack) -> Iterator[Stack]:
    with group_running(native_stack, AIRFLOW_GROUP, "Airflow") as stack:
        yield stack


@pytest.fixture(scope="session")
def airflow(airflow_stack: Stack) -> AirflowClient:
    env = airflow_stack.env
    url = airflow_stack.services["airflow-api-server"].url
    assert url, "airflow-api-server declares no url"
    client = AirflowClient(url, env["AIRFLOW_ADMIN_USER"], env["AIRFLOW_ADMIN_PASSWORD"])
    client.login()
    return client
