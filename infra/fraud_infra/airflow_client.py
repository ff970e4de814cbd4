"""A small client of Airflow 3's REST API (``/api/v2``), for ``make demo`` and the tests.

Logs in with the admin from ``.env`` (``POST /auth/token``), triggers DAG runs, polls
their state and fetches task logs, so that a failed run can be explained where it is
reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class AirflowError(RuntimeError):
    """Airflow answered with an error (the message has the method, path and answer)."""


class AirflowRunTimeoutError(AirflowError):
    """The DAG run did not finish in time."""


@dataclass
class AirflowClient:
    base_url: str
    username: str
    password: str
    timeout: float = 30.0
    session: requests.Session = field(default_factory=requests.Session)

    def login(self) -> None:
        resp = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout,
        )
        resp.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.session.request(
            method, f"{self.base_url}/api/v2{path}", timeout=self.timeout, **kwargs
        )
        if resp.status_code == 401:  # token expired during a long run: log in again
            self.login()
            resp = self.session.request(
                method, f"{self.base_url}/api/v2{path}", timeout=self.timeout, **kwargs
            )
        if resp.status_code >= 400:
            raise AirflowError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.json() if resp.content else None

    # ------------------------------------------------------------------ DAGs and runs
    def dag(self, dag_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/dags/{dag_id}")
        return result

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict[str, Any]:
        """The DAG as the API server knows it, once the DAG processor has parsed it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.dag(dag_id)
            except AirflowError:  # 404 until the DAG processor has parsed the file
                if time.monotonic() > deadline:
                    raise
                time.sleep(3)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def import_errors(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/importErrors")["import_errors"]
        return result

    def trigger(self, dag_id: str, note: str) -> str:
        run = self.request(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "note": note}
        )
        return str(run["dag_run_id"])

    def set_note(self, dag_id: str, run_id: str, note: str) -> None:
        """The note Airflow shows with a run (who started it and why)."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}"
        self.request("PATCH", path, params={"update_mask": "note"}, json={"note": note})

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request(
            "GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "-run_after"}
        )["dag_runs"]
        return result

    def discard_scheduled_runs(self, dag_id: str, keep: set[str]) -> list[str]:
        """Delete the scheduled runs not in ``keep`` that have not finished (a running one
        is marked failed first, which stops its tasks); returns their ids."""
        discarded = []
        for run in self.runs(dag_id):
            run_id = run["dag_run_id"]
            if run["run_type"] != "scheduled" or run_id in keep:
                continue
            if run["state"] in TERMINAL_RUN_STATES:
                continue
            path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}"
            try:  # failed first: a queued run may start meanwhile, and running ones stop
                self.request("PATCH", path, json={"state": "failed"})
                self.request("DELETE", path)
            except AirflowError:  # its state changed under us: the next call sees it again
                continue
            discarded.append(run_id)
        return discarded

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}")
        return result

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances"
        result: list[dict[str, Any]] = self.request("GET", path)["task_instances"]
        return result

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}"
        body = self.request("GET", path, params={"full_content": "true"})
        content = body.get("content") if isinstance(body, dict) else body
        if isinstance(content, list):  # structured log lines
            return "\n".join(
                str(line.get("event", line)) if isinstance(line, dict) else str(line)
                for line in content
            )
        return str(content)

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float, poll: float = 5.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise AirflowRunTimeoutError(
                    f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f}s\n"
                    + self.explain(dag_id, run_id)
                )
            time.sleep(poll)

    def explain(self, dag_id: str, run_id: str, log_lines: int = 60) -> str:
        """Every task's state, and the tail of the log of each task that did not succeed."""
        out = []
        for ti in self.task_instances(dag_id, run_id):
            out.append(f"  {ti['task_id']:<24} {ti['state']} (try {ti['try_number']})")
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] in {"success", None, "scheduled", "queued"} or not ti["try_number"]:
                continue
            text = self.task_log(dag_id, run_id, ti["task_id"], ti["try_number"])
            tail = "\n".join("      " + line for line in text.splitlines()[-log_lines:])
            out.append(f"  --- log of {ti['task_id']} try {ti['try_number']}:\n{tail}")
        return "\n".join(out)
