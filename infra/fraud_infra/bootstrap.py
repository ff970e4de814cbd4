"""The platform's first runs through Airflow: the pipeline, the model, the schedules.

    fraud-bootstrap

After the backfill, :func:`bootstrap` takes the lifecycle's pipeline, training and
unpause steps (:mod:`fraud_infra.lifecycle`), each skipped when already done:

1. run ``fraud_pipeline`` once through Airflow's REST API (dbt silver and gold, the
   Redis feature push), unless a run succeeded since the backfill landed;
2. train, gate and promote by running the ``ml_training`` DAG, unless a model holds the
   ``production`` alias;
3. unpause both DAGs, so that the platform keeps itself fresh.

``make demo`` calls it with its progress display (:mod:`fraud_infra.demo`); compose's
one-shot ``bootstrap`` job runs it as ``fraud-bootstrap``, with settings from the
environment: ``AIRFLOW_API_URL``, ``AIRFLOW_ADMIN_USER``, ``AIRFLOW_ADMIN_PASSWORD``,
``MLFLOW_TRACKING_URI`` and the object store's (the backfill manifest says when the
history landed). It exits 1 with the reason (a failed run: each task's state and the
failed tasks' log tails) when a step fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import requests
import structlog
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraud_common.logs import configure_logging
from fraud_common.settings import PlatformSettings
from fraud_contracts.names import ALIAS_PRODUCTION
from fraud_infra import demo_summary, lifecycle
from fraud_infra.airflow_client import AirflowClient, AirflowError
from fraud_infra.backfill import read_manifest

log = structlog.get_logger(__name__)

PIPELINE_DAG = "fraud_pipeline"
TRAINING_DAG = "ml_training"
#: the DAGs the platform runs on a schedule once bootstrapped
DAGS = (PIPELINE_DAG, TRAINING_DAG)
#: how long to wait for the run the scheduler creates when a DAG with a due tick is unpaused
SCHEDULED_RUN_WAIT_SECONDS = 60
#: the compose service that runs this module (docker-compose.yml)
COMPOSE_SERVICE = "bootstrap"

Note = Callable[[str], None]
#: opens one lifecycle step (progress display, timing) and yields its ``note`` callback
StepContext = Callable[[lifecycle.Step], AbstractContextManager[Note]]


class BootstrapError(RuntimeError):
    """A bootstrap step failed; the message says which and why."""


def succeeded_since(client: AirflowClient, dag_id: str, since_iso: str) -> bool:
    """Whether a run of ``dag_id`` that started after ``since_iso`` succeeded."""
    return any(
        run["state"] == "success" and str(run.get("start_date") or "") >= since_iso
        for run in client.runs(dag_id)
    )


def _tick_due(dag: dict[str, Any]) -> bool:
    """Whether the scheduler has a tick of this DAG to run now (its next run's time has
    passed), i.e. creates a run as soon as the DAG is unpaused."""
    run_after = dag.get("next_dagrun_run_after")
    if not run_after:
        return False
    return datetime.fromisoformat(str(run_after)) <= datetime.now(UTC)


def start_run(client: AirflowClient, dag_id: str, run_note: str) -> str:
    """Start one run of ``dag_id`` and return its id.

    A paused DAG whose next tick has passed gets a run from the scheduler as soon as it is
    unpaused (``catchup=False``: the latest tick only). That run is the one to wait for:
    a run triggered beside it would be the one run allowed at a time
    (``max_active_runs=1``) and the scheduler would start its own right after, doing the
    same work again (``ml_training``: a second model; ``fraud_pipeline``: a second build
    beside the training). Otherwise a run is triggered (and a paused DAG unpaused: its
    runs would stay queued). ``run_note`` is shown with the run in Airflow."""
    dag = client.wait_for_dag(dag_id)  # a fresh Airflow parses the DAG files first
    if dag["is_paused"] and _tick_due(dag):
        earlier = {run["dag_run_id"] for run in client.runs(dag_id)}
        client.set_paused(dag_id, False)
        deadline = time.monotonic() + SCHEDULED_RUN_WAIT_SECONDS
        while time.monotonic() < deadline:
            new = [run for run in client.runs(dag_id) if run["dag_run_id"] not in earlier]
            if new:
                run_id = str(new[-1]["dag_run_id"])  # newest first: the oldest new one
                client.set_note(dag_id, run_id, run_note)
                return run_id
            time.sleep(1)
        log.warning("the scheduler created no run after unpausing: triggering", dag=dag_id)
        return client.trigger(dag_id, note=run_note)
    run_id = client.trigger(dag_id, note=run_note)
    if dag["is_paused"]:
        client.set_paused(dag_id, False)
    return run_id


def run_dag(
    client: AirflowClient, dag_id: str, timeout: float, note: Note, run_note: str = "bootstrap"
) -> str:
    """Start one run (:func:`start_run`) and wait for it; scheduled runs that appear
    meanwhile are dropped (queued behind this one, they would redo its work right after)."""
    earlier = {run["dag_run_id"] for run in client.runs(dag_id)}
    run_id = start_run(client, dag_id, run_note)
    keep = earlier | {run_id}
    note(f"run {run_id}")
    deadline = time.monotonic() + timeout
    while True:
        client.discard_scheduled_runs(dag_id, keep=keep)
        run = client.run(dag_id, run_id)
        if run["state"] == "success":
            client.discard_scheduled_runs(dag_id, keep=keep)
            return run_id
        if run["state"] == "failed":
            raise BootstrapError(
                f"{dag_id} run {run_id} failed:\n" + client.explain(dag_id, run_id)
            )
        if time.monotonic() > deadline:
            raise BootstrapError(
                f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f}s:\n"
                + client.explain(dag_id, run_id)
            )
        running = [
            ti["task_id"]
            for ti in client.task_instances(dag_id, run_id)
            if ti["state"] == "running"
        ]
        note(f"running {', '.join(running) or 'queued'}")
        time.sleep(5)


def production_version(mlflow_url: str) -> str | None:
    """The model version holding the production alias, or None."""
    model = demo_summary.production_model(mlflow_url)
    return model["version"] if model else None


# ---------------------------------------------------------------------- the steps
def ensure_pipeline_run(
    client: AirflowClient, since_iso: str, timeout: float, note: Note, run_note: str = "bootstrap"
) -> None:
    """Lifecycle step ``pipeline``: one successful ``fraud_pipeline`` run after ``since_iso``."""
    client.wait_for_dag(PIPELINE_DAG)  # a fresh Airflow parses the DAG files first
    if succeeded_since(client, PIPELINE_DAG, since_iso):
        note("a run already succeeded")
    else:
        run_dag(client, PIPELINE_DAG, timeout, note, run_note)


def ensure_production_model(
    client: AirflowClient, mlflow_url: str, timeout: float, note: Note, run_note: str = "bootstrap"
) -> str:
    """Lifecycle step ``training``: a model version holding the production alias."""
    version = production_version(mlflow_url)
    if version is not None:
        note(f"version {version} already in production")
        return version
    run_dag(client, TRAINING_DAG, timeout, note, run_note)
    version = production_version(mlflow_url)
    if version is None:
        raise BootstrapError(
            f"{TRAINING_DAG} succeeded but no version holds @{ALIAS_PRODUCTION}: "
            "the gate rejected the model (see the evaluate task's log in Airflow)"
        )
    note(f"version {version} promoted to production")
    return version


def unpause(client: AirflowClient, note: Note) -> None:
    """Lifecycle step ``unpause``: both DAGs run on their schedules from now on."""
    for dag_id in DAGS:
        client.set_paused(dag_id, False)
    note(f"{' and '.join(DAGS)} scheduled")


def bootstrap(
    client: AirflowClient,
    mlflow_url: str,
    since_iso: str,
    step: StepContext,
    pipeline_timeout: float = 40 * 60,
    training_timeout: float = 60 * 60,
    run_note: str = "bootstrap",
) -> str:
    """The lifecycle steps this module performs, in the lifecycle's order, each inside
    ``step(<lifecycle step>)``; returns the production model's version. ``run_note`` is
    shown in Airflow with each run this triggers."""
    version = ""

    def training(note: Note) -> None:
        nonlocal version
        version = ensure_production_model(client, mlflow_url, training_timeout, note, run_note)

    actions: dict[str, Callable[[Note], None]] = {
        lifecycle.PIPELINE.name: lambda note: ensure_pipeline_run(
            client, since_iso, pipeline_timeout, note, run_note
        ),
        lifecycle.TRAINING.name: training,
        lifecycle.UNPAUSE.name: lambda note: unpause(client, note),
    }
    for stage in lifecycle.steps_performed_by(COMPOSE_SERVICE):
        with step(stage) as note:
            actions[stage.name](note)
    return version


# ---------------------------------------------------------------------- fraud-bootstrap
class BootstrapSettings(BaseSettings):
    """Where Airflow and MLflow are, and how long the first runs may take."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    airflow_api_url: str = "http://127.0.0.1:8082"
    airflow_admin_user: str = "admin"
    airflow_admin_password: SecretStr
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    bootstrap_pipeline_timeout_s: float = Field(40 * 60, gt=0)
    bootstrap_training_timeout_s: float = Field(60 * 60, gt=0)


@contextmanager
def logged_step(stage: lifecycle.Step) -> Iterator[Note]:
    """A lifecycle step as log lines: started, each new note, done (or failed)."""
    title = lifecycle.label(stage)
    t0 = time.monotonic()
    last: list[str] = []
    log.info("step started", step=title)

    def note(text: str) -> None:
        if not last or last[-1] != text:
            last.append(text)
            log.info("step progress", step=title, note=text)

    try:
        yield note
    except Exception:
        log.error("step failed", step=title, seconds=round(time.monotonic() - t0, 1))
        raise
    log.info(
        "step done",
        step=title,
        note=last[-1] if last else "",
        seconds=round(time.monotonic() - t0, 1),
    )


def run(cfg: BootstrapSettings, settings: PlatformSettings) -> int:
    manifest = read_manifest(settings)
    if manifest is None:
        log.error(
            "no backfill recorded in the object store: run fraud-backfill first",
            bucket=settings.s3_bucket,
        )
        return 1
    try:
        client = AirflowClient(
            cfg.airflow_api_url,
            cfg.airflow_admin_user,
            cfg.airflow_admin_password.get_secret_value(),
        )
        client.login()
        version = bootstrap(
            client,
            cfg.mlflow_tracking_uri,
            manifest.landed_at,
            logged_step,
            cfg.bootstrap_pipeline_timeout_s,
            cfg.bootstrap_training_timeout_s,
            run_note="fraud-bootstrap (compose)",
        )
    except (BootstrapError, AirflowError, requests.RequestException) as err:
        log.error("bootstrap failed", reason=str(err))
        return 1
    log.info("bootstrap done", production_version=version, scheduled=list(DAGS))
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_logging(level=os.environ.get("LOG_LEVEL", "INFO"))
    parser = argparse.ArgumentParser(prog="fraud-bootstrap", description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    cfg = BootstrapSettings()  # type: ignore[call-arg]  # the password comes from the environment
    settings = PlatformSettings()  # type: ignore[call-arg]  # secrets come from the environment
    return run(cfg, settings)


if __name__ == "__main__":
    sys.exit(main())
