"""Unit tests of the Airflow DAGs: they load with Airflow's own DagBag (in Airflow's own
environment, as a subprocess) with zero import errors, in the required shape, and the
commands they run find the platform's programs through the environment only."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fraud_infra.envfiles import parse_env_file

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_DIR = REPO / "phase3-transforms" / "airflow"
DAGS = AIRFLOW_DIR / "dags"
AIRFLOW_VENV = REPO / "infra" / "native" / "bin" / "airflow-venv"
PIPELINE_ORDER = [
    "bronze_freshness_check",
    "dbt_seed",
    "dbt_staging",
    "dbt_intermediate",
    "dbt_marts",
    "dbt_test",
    "report_quarantine",
]
DBT_ARGS = {
    "bronze_freshness_check": "source freshness --select source:bronze",
    "dbt_seed": "seed",
    "dbt_staging": "run --select staging",
    "dbt_intermediate": "run --select intermediate",
    "dbt_marts": "run --select marts",
    "dbt_test": "test --exclude-resource-type unit_test",  # unit tests: CI's
}

sys.path.insert(0, str(DAGS))
import fraud_tasks  # noqa: E402  (the DAGs' helper module: plain Python, no Airflow)


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The DAG folder as Airflow's DagBag sees it (dagbag_probe.py in Airflow's venv)."""
    subprocess.run(  # idempotent; ~0.01 s when the environment exists
        ["bash", str(REPO / "infra" / "native" / "install" / "airflow.sh")], check=True
    )
    home = tmp_path_factory.mktemp("airflow-home")
    out = home / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    proc = subprocess.run(
        [str(AIRFLOW_VENV), "python", str(Path(__file__).with_name("dagbag_probe.py")),
         str(DAGS), str(out)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_both_dags_load_with_zero_import_errors(dagbag: dict[str, Any]) -> None:
    assert dagbag["import_errors"] == {}
    assert set(dagbag["dags"]) == {"fraud_pipeline", "ml_training"}
    assert dagbag["files"] == ["fraud_pipeline.py", "ml_training.py"]  # helper ignored


def test_fraud_pipeline_runs_every_15_minutes_one_at_a_time(dagbag: dict[str, Any]) -> None:
    dag = dagbag["dags"]["fraud_pipeline"]
    assert dag["schedule"] == "*/15 * * * *"
    assert dag["max_active_runs"] == 1
    assert dag["catchup"] is False
    assert dag["dagrun_timeout"] == 3600


def test_fraud_pipeline_tasks_form_one_chain_in_order(dagbag: dict[str, Any]) -> None:
    dag = dagbag["dags"]["fraud_pipeline"]
    assert dag["order"] == PIPELINE_ORDER
    tasks = dag["tasks"]
    for before, after in itertools.pairwise(PIPELINE_ORDER):
        assert tasks[before]["downstream"] == [after]
        assert tasks[after]["upstream"] == [before]
    assert tasks[PIPELINE_ORDER[0]]["upstream"] == []
    assert tasks[PIPELINE_ORDER[-1]]["downstream"] == []


@pytest.mark.parametrize("dag_id", ["fraud_pipeline", "ml_training"])
def test_every_task_retries_times_out_and_reports_failures(
    dagbag: dict[str, Any], dag_id: str
) -> None:
    for task_id, task in dagbag["dags"][dag_id]["tasks"].items():
        assert task["retries"] >= 1, task_id
        assert task["retry_delay"] > 0, task_id
        assert 0 < task["execution_timeout"] <= 2 * 3600, task_id
        assert task["on_failure_callback"] == ["fraud_tasks.log_task_failure"], task_id
        assert task["on_retry_callback"] == ["fraud_tasks.log_task_retry"], task_id
        # BashOperator renders its command with Jinja: it must come out unchanged
        assert task["rendered"] == task["bash_command"], task_id


def test_pipeline_commands_run_dbt_and_the_quarantine_report(
    dagbag: dict[str, Any],
) -> None:
    tasks = dagbag["dags"]["fraud_pipeline"]["tasks"]
    dirs = '--project-dir "$DBT_PROJECT_DIR" --profiles-dir "$DBT_PROJECT_DIR"'
    for task_id, args in DBT_ARGS.items():
        assert tasks[task_id]["bash_command"].endswith(
            f'exec "$FRAUD_PLATFORM_BIN/dbt" {args} {dirs}'
        ), task_id
    report = tasks["report_quarantine"]["bash_command"]
    assert report.endswith('exec "$FRAUD_PLATFORM_BIN/fraud-quarantine"')


def test_ml_training_is_weekly_train_evaluate_promote(dagbag: dict[str, Any]) -> None:
    dag = dagbag["dags"]["ml_training"]
    assert dag["schedule"] == "0 0 * * 0"  # @weekly
    assert dag["order"] == ["train", "evaluate", "promote"]
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False
    for task_id, program in [("train", "fraud-train"), ("evaluate", "fraud-evaluate")]:
        assert dag["tasks"][task_id]["bash_command"].endswith(f'"$FRAUD_PLATFORM_BIN/{program}"')
    assert dag["tasks"]["promote"]["bash_command"].endswith('"$FRAUD_PLATFORM_BIN/fraud-promote"')


def test_dags_name_no_host_or_path_of_this_machine() -> None:
    for path in DAGS.glob("*.py"):
        text = path.read_text()
        for fragment in ("127.0.0.1", "localhost", "/work/", "/root/", "/home/", ".venv"):
            assert fragment not in text, f"{path.name} contains {fragment!r}"


# ------------------------------------------------------------------ the commands themselves
@pytest.fixture
def fake_platform(tmp_path: Path) -> Iterator[Path]:
    """A platform bin directory whose programs print their arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("dbt", "fraud-quarantine"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*"\n')
        script.chmod(0o755)
    yield bin_dir


def run_bash(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"]}
    return subprocess.run(
        ["bash", "-c", command], env={**base, **env}, capture_output=True, text=True, check=False
    )


def test_dbt_command_runs_the_platforms_dbt_on_the_project(fake_platform: Path) -> None:
    proc = run_bash(
        fraud_tasks.dbt_command("run", "--select", "marts"),
        {"FRAUD_PLATFORM_BIN": str(fake_platform), "DBT_PROJECT_DIR": "/p/dbt project"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "dbt run --select marts --project-dir /p/dbt project --profiles-dir /p/dbt project"
    )


@pytest.mark.parametrize("missing", fraud_tasks.REQUIRED_ENV)
def test_a_missing_setting_fails_the_task_and_names_it(fake_platform: Path, missing: str) -> None:
    env = {"FRAUD_PLATFORM_BIN": str(fake_platform), "DBT_PROJECT_DIR": "/p"}
    del env[missing]
    proc = run_bash(fraud_tasks.platform_command("fraud-quarantine"), env)
    assert proc.returncode != 0
    assert f"{missing}: is not set for the Airflow services" in proc.stderr
    assert proc.stdout == ""


def test_a_failing_program_fails_the_task(fake_platform: Path) -> None:
    (fake_platform / "dbt").write_text("#!/bin/sh\nexit 3\n")
    env = {"FRAUD_PLATFORM_BIN": str(fake_platform), "DBT_PROJECT_DIR": "/p"}
    assert run_bash(fraud_tasks.dbt_command("test"), env).returncode == 3


@pytest.mark.parametrize(
    ("callback", "event"),
    [
        (fraud_tasks.log_task_failure, "TASK FAILED"),
        (fraud_tasks.log_task_retry, "TASK UP FOR RETRY"),
    ],
)
def test_failure_callbacks_log_dag_task_run_try_and_log_url(
    caplog: pytest.LogCaptureFixture, callback: Any, event: str
) -> None:
    ti = SimpleNamespace(
        dag_id="fraud_pipeline",
        task_id="dbt_marts",
        run_id="manual__2026-01-01T00:00:00+00:00",
        try_number=3,
        task=SimpleNamespace(retries=2),
        log_url="http://airflow.example/dags/fraud_pipeline/runs/x/tasks/dbt_marts?try_number=3",
    )
    with caplog.at_level(logging.ERROR, logger=fraud_tasks.__name__):
        callback({"ti": ti, "exception": RuntimeError("exit 1")})
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith(f"{event} dag=fraud_pipeline task=dbt_marts")
    assert "run=manual__2026-01-01T00:00:00+00:00 try=3/3" in message
    assert "error=RuntimeError('exit 1')" in message
    assert message.endswith(f"log={ti.log_url}")


# ------------------------------------------------------------------ one set of pins
def test_requirements_pin_the_airflow_of_versions_env() -> None:
    version = parse_env_file(REPO / "versions.env")["AIRFLOW_VERSION"]
    lines = (AIRFLOW_DIR / "requirements.txt").read_text().splitlines()
    pins = [ln.split(";")[0].strip() for ln in lines if ln and not ln.startswith((" ", "#"))]
    assert f"apache-airflow=={version}" in pins
    assert all("==" in pin for pin in pins), [p for p in pins if "==" not in p]
    assert (
        f"apache-airflow[postgres,fab]=={version}" in (AIRFLOW_DIR / "requirements.in").read_text()
    )


def test_airflow_is_not_part_of_the_platform_lock() -> None:
    lock = (REPO / "uv.lock").read_text()
    assert 'name = "apache-airflow"' not in lock
    assert 'name = "apache-airflow-core"' not in lock


def test_airflow_image_defaults_equal_versions_env() -> None:
    """A plain `docker build` of the Airflow image agrees with versions.env (compose passes
    the same values as build arguments)."""
    versions = parse_env_file(REPO / "versions.env")
    dockerfile = (AIRFLOW_DIR / "Dockerfile").read_text()
    defaults = re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.MULTILINE)
    assert {name for name, _ in defaults} == {"PYTHON_VERSION", "UV_VERSION", "AIRFLOW_VERSION"}
    for name, value in defaults:
        assert value == versions[name], f"ARG {name}={value}, versions.env has {versions[name]}"
    assert "COPY phase3-transforms/airflow/requirements.txt" in dockerfile
