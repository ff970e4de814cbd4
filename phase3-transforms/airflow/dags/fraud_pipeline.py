"""``fraud_pipeline``: bronze -> silver -> gold with dbt on Trino every 15 minutes, then
one log line with the sizes of the quarantines (``fraud-quarantine``).

Only tests of data that would corrupt features or training fail ``dbt_test``;
incomplete or unmatched data (orphan or duplicate labels, unknown merchants) is
quarantined in silver and warns (the dbt project's README, "Which tests block").
The online features are not this DAG's: the streaming feature job keeps them current
within seconds (phase4-ml/serving/feature_stream.py), by the same definition gold's
point-in-time features follow.

One run at a time (``max_active_runs=1``) and no catch-up: a late or long run delays the
next one instead of piling runs up. Every task retries with backoff, has its own
execution timeout, and a failure is logged with its DAG, run, try and log URL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG
from fraud_tasks import bash_chain, dbt_command, default_args, platform_command

#: task id -> (bash command, execution timeout), in pipeline order
STEPS: dict[str, tuple[str, timedelta]] = {
    "bronze_freshness_check": (
        dbt_command("source", "freshness", "--select", "source:bronze"),
        timedelta(minutes=5),
    ),
    "dbt_seed": (dbt_command("seed"), timedelta(minutes=10)),
    "dbt_staging": (dbt_command("run", "--select", "staging"), timedelta(minutes=10)),
    "dbt_intermediate": (dbt_command("run", "--select", "intermediate"), timedelta(minutes=30)),
    "dbt_marts": (dbt_command("run", "--select", "marts"), timedelta(minutes=30)),
    # the data tests; the dbt unit tests check the models' code on fixed inputs, which
    # CI runs (dbt's advice: not in production, where they cost a run's time every time)
    "dbt_test": (
        dbt_command("test", "--exclude-resource-type", "unit_test"),
        timedelta(minutes=20),
    ),
    "report_quarantine": (platform_command("fraud-quarantine"), timedelta(minutes=5)),
}

with DAG(
    dag_id="fraud_pipeline",
    description="dbt medallion models (bronze -> silver -> gold) and the quarantine report",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=default_args(retries=2, retry_delay=timedelta(seconds=30)),
    tags=["fraud-platform", "dbt", "phase3"],
) as dag:
    bash_chain(STEPS)
