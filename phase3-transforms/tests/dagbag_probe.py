"""Run with Airflow's own Python (not the platform's): load the DAG folder the way the
DAG processor does and write what the tests check as JSON (Airflow logs to stdout).

    infra/native/bin/airflow-venv python phase3-transforms/tests/dagbag_probe.py DAGS OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jinja2
from airflow.dag_processing.dagbag import BundleDagBag


def callback_names(value: Any) -> list[str]:
    callbacks = value if isinstance(value, list) else [value]
    return [f"{cb.__module__}.{cb.__name__}" for cb in callbacks if cb is not None]


def describe(dag: Any) -> dict[str, Any]:
    tasks = {}
    for task in dag.tasks:
        command = getattr(task, "bash_command", None)
        tasks[task.task_id] = {
            "downstream": sorted(task.downstream_task_ids),
            "upstream": sorted(task.upstream_task_ids),
            "retries": task.retries,
            "retry_delay": task.retry_delay.total_seconds(),
            "execution_timeout": (
                task.execution_timeout.total_seconds() if task.execution_timeout else None
            ),
            "bash_command": command,
            # what the BashOperator runs after Jinja rendering (must be unchanged)
            "rendered": jinja2.Template(command).render() if command else None,
            "on_failure_callback": callback_names(task.on_failure_callback),
            "on_retry_callback": callback_names(task.on_retry_callback),
        }
    return {
        "schedule": getattr(dag.timetable, "expression", None),
        "timetable": type(dag.timetable).__name__,
        "max_active_runs": dag.max_active_runs,
        "catchup": dag.catchup,
        "dagrun_timeout": dag.dagrun_timeout.total_seconds() if dag.dagrun_timeout else None,
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "order": [t.task_id for t in dag.topological_sort()],
        "tasks": tasks,
    }


def main() -> int:
    folder = Path(sys.argv[1]).resolve()
    bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
    report = {
        "import_errors": bag.import_errors,
        "files": sorted(Path(stat.file).name for stat in bag.dagbag_stats),
        "dags": {dag_id: describe(dag) for dag_id, dag in bag.dags.items()},
    }
    Path(sys.argv[2]).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
