"""``ml_training``: weekly retraining on the gold training table, evaluation, promotion.

The entry points belong to the ML phase (phase4-ml): ``fraud-train`` logs a model to
MLflow, ``fraud-evaluate`` applies the promotion gate (alias ``staging``),
``fraud-promote`` moves ``staging`` to ``production``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, chain
from fraud_tasks import default_args, platform_command

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
    chain(
        *(
            BashOperator(
                task_id=task_id,
                bash_command=platform_command(program),
                execution_timeout=timeout,
                skip_on_exit_code=None,
                do_xcom_push=False,
            )
            for task_id, (program, timeout) in STEPS.items()
        )
    )
