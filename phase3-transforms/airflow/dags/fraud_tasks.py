"""Shared pieces of the platform's DAGs: commands, defaults and the failure callback.

Tasks run programs of the *platform's* Python environment (dbt, the ML entry points),
never Airflow's own: Airflow's pins conflict with the platform's. Where things are comes
from the environment of the Airflow services (set in ``infra/native/services.yaml`` and
``docker-compose.yml``), resolved by bash when a task runs, so nothing here names a
host or a path of one machine:

- ``FRAUD_PLATFORM_BIN``: the ``bin`` directory of the platform's environment;
- ``DBT_PROJECT_DIR``: ``phase3-transforms/dbt_project`` (holds ``profiles.yml`` too);
- the dbt profile reads ``TRINO_HOST``/``TRINO_PORT``/``TRINO_USER``/``TRINO_CATALOG``;
  ``DBT_TARGET_PATH``/``DBT_LOG_PATH`` keep dbt's output out of the repository.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

#: environment variables every task needs
REQUIRED_ENV = ("FRAUD_PLATFORM_BIN", "DBT_PROJECT_DIR")


def platform_command(program: str, *args: str) -> str:
    """A bash command running ``program`` from the platform's environment.

    It fails at once, naming the variable, when the environment is incomplete.
    """
    checks = " ".join(
        f'"${{{name}:?is not set for the Airflow services}}"' for name in REQUIRED_ENV
    )
    argv = " ".join(shlex.quote(arg) for arg in args)
    return "; ".join(
        [
            "set -euo pipefail",
            f": {checks}",
            f'exec "$FRAUD_PLATFORM_BIN/{program}" {argv}'.rstrip(),
        ]
    )


def dbt_command(*args: str) -> str:
    """``dbt ARGS`` against the platform's dbt project and its profiles.yml."""
    dirs = ' --project-dir "$DBT_PROJECT_DIR" --profiles-dir "$DBT_PROJECT_DIR"'
    return platform_command("dbt", *args) + dirs


def bash_chain(steps: Mapping[str, tuple[str, timedelta]]) -> None:
    """One BashOperator per ``task id -> (bash command, execution timeout)``, chained in
    order, inside the DAG being defined (Airflow is imported here so that this module
    stays importable without it, for the unit tests)."""
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import chain

    chain(
        *(
            BashOperator(
                task_id=task_id,
                bash_command=command,
                execution_timeout=timeout,
                skip_on_exit_code=None,
                do_xcom_push=False,
            )
            for task_id, (command, timeout) in steps.items()
        )
    )


def _log_task_event(event: str, context: Mapping[str, Any]) -> None:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", "?")
    retries = getattr(getattr(ti, "task", None), "retries", None)
    log.error(
        "%s dag=%s task=%s run=%s try=%s/%s error=%r log=%s",
        event,
        dag_id,
        getattr(ti, "task_id", "?"),
        run_id,
        getattr(ti, "try_number", "?"),
        (retries + 1) if isinstance(retries, int) else "?",
        context.get("exception"),
        getattr(ti, "log_url", "?"),
    )


def log_task_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback``: one clear line naming the DAG, task, run, try and log URL."""
    _log_task_event("TASK FAILED", context)


def log_task_retry(context: Mapping[str, Any]) -> None:
    """``on_retry_callback``: the same line for a failed try that will be retried."""
    _log_task_event("TASK UP FOR RETRY", context)


def default_args(retries: int = 2, retry_delay: timedelta = timedelta(minutes=1)) -> dict[str, Any]:
    """Arguments shared by every task of the platform's DAGs."""
    return {
        "owner": "fraud-platform",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": log_task_failure,
        "on_retry_callback": log_task_retry,
    }
