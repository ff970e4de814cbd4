"""``ml_training``: weekly retraining on the gold training table, evaluation, promotion.

The entry points belong to the ML phase (phase4-ml): ``fraud-train`` logs a model to
MLflow, ``fraud-evaluate`` applies the promotion gate (alias ``staging``),
``fraud-promote`` moves ``staging`` to ``production``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG
from fraud_tasks import bash_chain, default_args, platform_command

#: task id -> (program of the platform's environment, execution timeout), in order
STEPS: dict[str, tuple[str, timedelta]] = {
    "train": ("fraud-train", timedelta(hours=2)),
    "evaluate": ("fraud-evaluate", timedelta(minutes=30)),
    "promote": ("fraud-promote", timedelta(minutes=10)),
}

with DAG(
    dag_id="ml_training",
    description="weekly model training, evaluation against production, promotion",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args=default_args(retries=1, retry_delay=timedelta(minutes=5)),
    tags=["fraud-platform", "ml", "phase4"],
) as dag:
    bash_chain({task: (platform_command(program), t) for task, (program, t) in STEPS.items()})
