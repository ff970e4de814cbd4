"""``make demo``: from nothing to a live, scored transaction stream, in one command.

    fraud-demo [--days 30] [--tps 50] [--seed 42]

On the native stack, each step shown with its elapsed time, each skipped when already
done (so a second run, also after Ctrl-C, is harmless and quick):

1. start the platform's engines (group ``core``: Postgres, Redis, object store, Kafka,
   registry, Trino, Prometheus, MLflow, Airflow);
2. backfill ``--days`` of simulated history with a small share of malformed records
   (:mod:`fraud_infra.backfill`: producer, then the bronze writer once);
3. run ``fraud_pipeline`` once through Airflow's REST API (dbt silver and gold, the
   Redis feature push), unless a run succeeded since the backfill;
4. train, gate and promote by running the ``ml_training`` DAG, unless a model holds the
   ``production`` alias; then unpause both DAGs so the platform keeps itself fresh;
5. start the live stream (group ``pipeline``: the producer at ``--tps`` and the
   streaming bronze writer), left running; it starts after the batch steps, which then
   have the machine's cores to themselves;
6. start the scoring API, the live scorer (group ``serving``), which sends every new
   transaction of ``transactions.raw`` to ``/predict``, and the live model monitor
   (``fraud-monitor``: the prediction log joined with the labels that come back), and
   wait for the first scored transactions;
7. print the summary (:mod:`fraud_infra.demo_summary`).

A failing step names the service and shows its log tail (or the Airflow task's log) and
the command exits 1. ``make local-down`` stops all of it. Every program is one of the
phases' entry points, started by name (``infra/native/services.yaml``, the DAGs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import requests
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from fraud_common.logs import configure_logging
from fraud_common.settings import PlatformSettings
from fraud_contracts.names import ALIAS_PRODUCTION
from fraud_infra import demo_summary
from fraud_infra.airflow_client import AirflowClient, AirflowError
from fraud_infra.backfill import BackfillError, ensure_backfill
from fraud_infra.stack import Stack, StackError

PIPELINE_DAG = "fraud_pipeline"
TRAINING_DAG = "ml_training"
#: how long after unpausing a DAG to watch for the catch-up run the scheduler adds
CATCH_UP_WATCH_SECONDS = 15
console = Console(stderr=True, highlight=False)


class DemoSettings(BaseSettings):
    """``DEMO_*`` variables (``.env`` or the environment); CLI options override them."""

    model_config = SettingsConfigDict(env_prefix="DEMO_", env_file=".env", extra="ignore")

    days: int = Field(30, ge=16, description="days of history (training needs 16 or more)")
    seed: int = 42
    tps: float = Field(50.0, gt=0, description="live transactions per second")
    malformed_fraction: float = Field(0.001, ge=0, le=0.1)
    pipeline_timeout_s: float = 40 * 60
    training_timeout_s: float = 60 * 60
    first_predictions_timeout_s: float = 300


class StepFailedError(RuntimeError):
    """A step failed; the message says which service and why (with its log tail)."""


@contextmanager
def step(title: str) -> Iterator[Callable[[str], None]]:
    """Show a spinner with the elapsed time while the step runs, then ✓ or ✗."""
    t0 = time.monotonic()
    notes: list[str] = []
    with console.status(f"[bold]{title}[/]") as status:

        def note(text: str) -> None:
            notes.append(text)
            status.update(f"[bold]{title}[/] — {text} ({time.monotonic() - t0:.0f}s)")

        try:
            yield note
        except (
            StackError,
            AirflowError,
            BackfillError,
            StepFailedError,
            psycopg.Error,
            requests.RequestException,
            subprocess.CalledProcessError,
        ) as err:
            console.print(f"[red]✗ {title}[/] after {time.monotonic() - t0:.1f}s\n{err}")
            raise StepFailedError(title) from err
    suffix = f" — {notes[-1]}" if notes else ""
    console.print(f"[green]✓[/] {title}{suffix} [dim]({time.monotonic() - t0:.1f}s)[/]")


def airflow_client(stack: Stack) -> AirflowClient:
    url = stack.services["airflow-api-server"].url or "http://127.0.0.1:8082"
    client = AirflowClient(
        url, stack.env["AIRFLOW_ADMIN_USER"], stack.env["AIRFLOW_ADMIN_PASSWORD"]
    )
    client.login()
    return client


def succeeded_since(client: AirflowClient, dag_id: str, since_iso: str) -> bool:
    """Whether a run of ``dag_id`` that started after ``since_iso`` succeeded."""
    return any(
        run["state"] == "success" and str(run.get("start_date") or "") >= since_iso
        for run in client.runs(dag_id)
    )


def run_dag(client: AirflowClient, dag_id: str, timeout: float, note: Callable[[str], None]) -> str:
    """Trigger one run and wait for it. A paused DAG's runs stay queued, so the DAG is
    unpaused first; that makes the scheduler add a run for the latest missed tick, which
    is dropped (the demo's own run does that work)."""
    client.wait_for_dag(dag_id)  # a fresh Airflow parses the DAG files first
    earlier = {run["dag_run_id"] for run in client.runs(dag_id)}
    run_id = client.trigger(dag_id, note="make demo")
    note(f"run {run_id}")
    if client.dag(dag_id)["is_paused"]:
        client.set_paused(dag_id, False)
        for _ in range(CATCH_UP_WATCH_SECONDS):
            client.discard_scheduled_runs(dag_id, keep=earlier)
            time.sleep(1)
    deadline = time.monotonic() + timeout
    while True:
        run = client.run(dag_id, run_id)
        if run["state"] == "success":
            return run_id
        if run["state"] == "failed":
            raise StepFailedError(
                f"{dag_id} run {run_id} failed:\n" + client.explain(dag_id, run_id)
            )
        if time.monotonic() > deadline:
            raise StepFailedError(
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


def prediction_count(settings: PlatformSettings, env: dict[str, str]) -> int:
    """Rows of the prediction log (0 before the API created it)."""
    return sum(demo_summary.predictions(settings, env).values())


def run(cfg: DemoSettings) -> int:
    started = time.monotonic()
    os.environ["PRODUCER_TPS"] = f"{cfg.tps:g}"  # the live producer's rate (stack env)
    stack = Stack.load()
    env = {k: v for k, v in stack.env.items() if k.isupper()}
    settings = PlatformSettings.from_env(env)
    console.print(f"[bold]Fraud Detection Analytics Platform — demo[/] (state: {stack.state})")
    try:
        with step("1/7 engines (core)"):
            stack.up(["core"])
        with step(f"2/7 backfill {cfg.days} days of history") as note:
            backfill, reused = ensure_backfill(
                settings, env, cfg.days, cfg.seed, cfg.malformed_fraction, say=note
            )
            note(
                ("already there: " if reused else "")
                + f"{backfill.transactions:,} transactions, {backfill.labels:,} fraud labels, "
                f"{backfill.malformed:,} malformed to the DLQ"
            )
        client = airflow_client(stack)
        with step(f"3/7 {PIPELINE_DAG} (dbt silver + gold, Redis feature push)") as note:
            client.wait_for_dag(PIPELINE_DAG)  # a fresh Airflow parses the DAG files first
            if succeeded_since(client, PIPELINE_DAG, backfill.landed_at):
                note("a run already succeeded")
            else:
                run_dag(client, PIPELINE_DAG, cfg.pipeline_timeout_s, note)
        mlflow_url = stack.services["mlflow"].url or "http://127.0.0.1:5000"
        with step(f"4/7 {TRAINING_DAG} (train, gate, promote)") as note:
            version = production_version(mlflow_url)
            if version is not None:
                note(f"version {version} already in production")
            else:
                run_dag(client, TRAINING_DAG, cfg.training_timeout_s, note)
                version = production_version(mlflow_url)
                if version is None:
                    raise StepFailedError(
                        f"{TRAINING_DAG} succeeded but no version holds @{ALIAS_PRODUCTION}: "
                        "the gate rejected the model (see the evaluate task's log in Airflow)"
                    )
                note(f"version {version} promoted to production")
            for dag_id in (PIPELINE_DAG, TRAINING_DAG):
                client.set_paused(dag_id, False)
        # The live stream starts after the batch steps, which then have the two cores.
        with step(f"5/7 live stream ({cfg.tps:g} TPS) and streaming bronze writer"):
            stack.up(["pipeline"])
        with step("6/7 scoring API, live scorer and live model monitor") as note:
            before = prediction_count(settings, env)
            stack.up(["serving"])
            deadline = time.monotonic() + cfg.first_predictions_timeout_s
            while (scored := prediction_count(settings, env) - before) <= 0:
                if time.monotonic() > deadline:
                    raise StepFailedError(
                        "no live transaction was scored: last lines of the live scorer's log:\n"
                        + stack.log_tail("live-scorer")
                    )
                note("waiting for the first live predictions")
                time.sleep(2)
            note(f"{scored} live transactions scored so far")
        with step("7/7 summary"):
            report = demo_summary.collect(stack, settings, env)
    except StepFailedError:
        console.print(
            "[red]demo stopped[/]: `make local-logs SERVICE=<name>` shows a service's log"
        )
        return 1
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted[/]: `make demo` again resumes where this run stopped")
        return 130
    demo_summary.render(console, report)
    console.print(
        f"\n[bold green]demo ready[/] in {time.monotonic() - started:.0f}s; "
        "`make local-down` stops everything"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_logging(level=os.environ.get("LOG_LEVEL", "WARNING"))
    parser = argparse.ArgumentParser(prog="fraud-demo", description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, help="days of history (DEMO_DAYS, default 30)")
    parser.add_argument(
        "--tps", type=float, help="live transactions per second (DEMO_TPS, default 50)"
    )
    parser.add_argument("--seed", type=int, help="simulator seed (DEMO_SEED, default 42)")
    args = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    cfg = DemoSettings(**args)
    return run(cfg)


if __name__ == "__main__":
    sys.exit(main())
