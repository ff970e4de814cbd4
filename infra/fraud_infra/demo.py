"""``make demo``: from nothing to a live, scored transaction stream, in one command.

    fraud-demo [--days 38] [--traffic history|uniform] [--tps 50] [--seed 42]

On the native stack, each step shown with its elapsed time, each skipped when already
done (so a second run, also after Ctrl-C, is harmless and quick). The steps, their order
and titles are :mod:`fraud_infra.lifecycle`'s, which compose's ``make up`` follows too:

1. start the platform's engines (group ``core``: Postgres, Redis, object store, Kafka,
   registry, Trino, Prometheus, MLflow, Airflow);
2. backfill ``--days`` of simulated history with a small share of malformed records
   (:mod:`fraud_infra.backfill`: producer, then the bronze writer once);
3.-5. :func:`fraud_infra.bootstrap.bootstrap`: run ``fraud_pipeline`` once through
   Airflow's REST API (dbt silver and gold, the Redis feature push), unless a run
   succeeded since the backfill; train, gate and promote by running the ``ml_training``
   DAG, unless a model holds the ``production`` alias; unpause both DAGs so the platform
   keeps itself fresh;
6. start the live stream (group ``pipeline``: the producer and the streaming bronze
   writer), left running; it starts after the batch steps, which then have the
   machine's cores to themselves. The backfill's history ends when the demo starts and
   the producer continues it (``--traffic history``): the minutes the batch steps took
   are caught up at up to ``--tps``, then transactions come at the history's own rates
   (per card, per terminal, by time of day), so the live features look like the ones the
   model learned from;
7. start the scoring API, the live scorer (group ``serving``), which sends every new
   transaction of ``transactions.raw`` to ``/predict``, and the live model monitor
   (``fraud-monitor``: the prediction log joined with the labels that come back), and
   wait for the first scored transactions;
8. print the summary (:mod:`fraud_infra.demo_summary`).

A failing step names the service and shows its log tail (or the Airflow task's log) and
the command exits 1. ``make local-down`` stops all of it. Every program is one of the
phases' entry points, started by name (``infra/native/services.yaml``, the DAGs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import psycopg
import requests
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from fraud_common.logs import configure_logging
from fraud_common.settings import PlatformSettings
from fraud_infra import demo_summary, lifecycle
from fraud_infra.airflow_client import AirflowClient, AirflowError
from fraud_infra.backfill import BackfillError, ensure_backfill
from fraud_infra.bootstrap import BootstrapError, bootstrap
from fraud_infra.stack import Stack, StackError

console = Console(stderr=True, highlight=False)


class DemoSettings(BaseSettings):
    """``DEMO_*`` variables (``.env`` or the environment); CLI options override them."""

    model_config = SettingsConfigDict(env_prefix="DEMO_", env_file=".env", extra="ignore")

    #: the 30-day windows and the label delay, then a week in which every window is full:
    #: the drift monitor's reference, and what live vectors are compared with
    days: int = Field(38, ge=16, description="days of history (training needs 16 or more)")
    seed: int = 42
    traffic: Literal["history", "uniform"] = Field(
        "history",
        description="history: the live stream continues the history (its rates per card and "
        "terminal, its time of day: about 10,000 transactions a day), catching up at up to "
        "--tps; uniform: --tps transactions a second from the same cards (load, far denser "
        "per card than the history the model learned from)",
    )
    tps: float = Field(
        50.0, gt=0, description="live transactions per second (history: the most, catching up)"
    )
    malformed_fraction: float = Field(0.001, ge=0, le=0.1)
    pipeline_timeout_s: float = 40 * 60
    training_timeout_s: float = 60 * 60
    first_predictions_timeout_s: float = 300


class StepFailedError(RuntimeError):
    """A step failed; the message says which service and why (with its log tail)."""


@contextmanager
def step(stage: lifecycle.Step, **details: object) -> Iterator[Callable[[str], None]]:
    """Show a spinner with the elapsed time while the step runs, then ✓ or ✗."""
    title = lifecycle.label(stage, **details)
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
            BootstrapError,
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


def prediction_count(settings: PlatformSettings, env: dict[str, str]) -> int:
    """Rows of the prediction log (0 before the API created it)."""
    return sum(demo_summary.predictions(settings, env).values())


def run(cfg: DemoSettings) -> int:
    started = time.monotonic()
    # the live producer's configuration (stack env): it continues the history it backfills
    os.environ["PRODUCER_TPS"] = f"{cfg.tps:g}"
    os.environ["PRODUCER_TRAFFIC"] = cfg.traffic
    os.environ["PRODUCER_SEED"] = str(cfg.seed)
    stack = Stack.load()
    env = {k: v for k, v in stack.env.items() if k.isupper()}
    settings = PlatformSettings.from_env(env)
    console.print(f"[bold]Fraud Detection Analytics Platform — demo[/] (state: {stack.state})")
    try:
        with step(lifecycle.ENGINES):
            stack.up(lifecycle.ENGINES.native_groups)
        with step(lifecycle.BACKFILL, days=cfg.days) as note:
            backfill, reused = ensure_backfill(
                settings,
                env,
                cfg.days,
                cfg.seed,
                cfg.malformed_fraction,
                say=note,
                history_end=dt.datetime.now(dt.UTC).replace(microsecond=0),
            )
            note(
                ("already there: " if reused else "")
                + f"{backfill.transactions:,} transactions, {backfill.labels:,} fraud labels, "
                f"{backfill.malformed:,} malformed to the DLQ"
            )
        client = airflow_client(stack)
        mlflow_url = stack.services["mlflow"].url or "http://127.0.0.1:5000"
        # pipeline, training, unpause: the same function as compose's bootstrap job
        bootstrap(
            client,
            mlflow_url,
            backfill.landed_at,
            step,
            cfg.pipeline_timeout_s,
            cfg.training_timeout_s,
            run_note="make demo",
        )
        # The live stream starts after the batch steps, which then have the two cores.
        rate = "the history's rate" if cfg.traffic == "history" else f"{cfg.tps:g} TPS"
        with step(lifecycle.LIVE_STREAM, rate=rate):
            stack.up(lifecycle.LIVE_STREAM.native_groups)
        with step(lifecycle.SERVING) as note:
            before = prediction_count(settings, env)
            stack.up(lifecycle.SERVING.native_groups)
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
        with step(lifecycle.SUMMARY):
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
    parser.add_argument("--days", type=int, help="days of history (DEMO_DAYS, default 38)")
    parser.add_argument(
        "--traffic",
        choices=["history", "uniform"],
        help="the live stream: the history's rates, or uniform load at --tps "
        "(DEMO_TRAFFIC, default history)",
    )
    parser.add_argument(
        "--tps",
        type=float,
        help="live transactions per second: the most while catching up (history), or the "
        "rate (uniform) (DEMO_TPS, default 50)",
    )
    parser.add_argument("--seed", type=int, help="simulator seed (DEMO_SEED, default 42)")
    args = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    cfg = DemoSettings(**args)
    return run(cfg)


if __name__ == "__main__":
    sys.exit(main())
