"""The lifecycle's programs without engines: ``fraud-bootstrap``, ``fraud-backfill`` and the
order ``make demo`` takes the steps in.

Airflow, MLflow, the stack and the backfill are replaced by small fakes that record what
they are asked; the assertions are on that record (which step, which DAG, in what order)
and on the exit status the compose jobs report.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fraud_infra import backfill_cli, bootstrap, demo, demo_summary, lifecycle
from fraud_infra.backfill import Backfill, BackfillError

pytestmark = pytest.mark.unit

LANDED_AT = "2026-12-01T10:00:00Z"
SECRETS = {
    "S3_ACCESS_KEY": "test-access",
    "S3_SECRET_KEY": "test-secret",
    "POSTGRES_PASSWORD": "test-postgres",
    "REDIS_PASSWORD": "test-redis",
}


@dataclass
class FakeAirflow:
    """The part of :class:`~fraud_infra.airflow_client.AirflowClient` the bootstrap uses:
    paused DAGs whose runs end in ``outcome``. Like Airflow's scheduler, unpausing a DAG
    whose tick is ``due`` creates a scheduled run for it."""

    events: list[tuple[str, ...]]
    outcome: str = "success"
    runs_by_dag: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    paused: dict[str, bool] = field(
        default_factory=lambda: {bootstrap.PIPELINE_DAG: True, bootstrap.TRAINING_DAG: True}
    )
    due: dict[str, bool] = field(
        default_factory=lambda: {bootstrap.PIPELINE_DAG: True, bootstrap.TRAINING_DAG: True}
    )

    def login(self) -> None:
        self.events.append(("login",))

    def wait_for_dag(self, dag_id: str) -> dict[str, Any]:
        return self.dag(dag_id)

    def dag(self, dag_id: str) -> dict[str, Any]:
        run_after = "2026-11-29T00:00:00Z" if self.due[dag_id] else "2999-01-01T00:00:00Z"
        return {
            "dag_id": dag_id,
            "is_paused": self.paused[dag_id],
            "next_dagrun_run_after": run_after,
        }

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.runs_by_dag.get(dag_id, []))

    def _add_run(self, dag_id: str, run_id: str, run_type: str) -> None:
        run = {"dag_run_id": run_id, "run_type": run_type, "state": "queued", "start_date": None}
        self.runs_by_dag.setdefault(dag_id, []).insert(0, run)  # newest first, as the API

    def trigger(self, dag_id: str, note: str) -> str:
        run_id = f"manual__{dag_id}"
        self.events.append(("trigger", dag_id, note))
        self._add_run(dag_id, run_id, "manual")
        return run_id

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.events.append(("paused" if paused else "unpaused", dag_id))
        self.paused[dag_id] = paused
        if not paused and self.due[dag_id]:  # the scheduler's run for the latest tick
            self.due[dag_id] = False
            self.events.append(("scheduled", dag_id))
            self._add_run(dag_id, f"scheduled__{dag_id}", "scheduled")

    def set_note(self, dag_id: str, run_id: str, note: str) -> None:
        self.events.append(("note", run_id, note))

    def discard_scheduled_runs(self, dag_id: str, keep: set[str]) -> list[str]:
        dropped = [
            r["dag_run_id"]
            for r in self.runs(dag_id)
            if r.get("run_type") == "scheduled" and r["dag_run_id"] not in keep
        ]
        for run_id in dropped:
            self.events.append(("discarded", run_id))
        self.runs_by_dag[dag_id] = [r for r in self.runs(dag_id) if r["dag_run_id"] not in dropped]
        return dropped

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        run = next(r for r in self.runs_by_dag[dag_id] if r["dag_run_id"] == run_id)
        if self.paused[dag_id]:
            return run  # a paused DAG's runs stay queued
        run.update(state=self.outcome, start_date="2026-12-01T11:00:00Z")
        if dag_id == bootstrap.TRAINING_DAG and self.outcome == "success":
            self.events.append(("model promoted",))
        return run

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return []

    def explain(self, dag_id: str, run_id: str) -> str:
        return f"  dbt_marts failed (log of {dag_id})"


@pytest.fixture
def events() -> list[tuple[str, ...]]:
    return []


@pytest.fixture
def mlflow(monkeypatch: pytest.MonkeyPatch, events: list[tuple[str, ...]]) -> dict[str, str]:
    """The production alias: empty until the fake training run promoted a model."""
    state: dict[str, str] = {}

    def production_version(url: str) -> str | None:
        if ("model promoted",) in events and "gate" not in state:
            state.setdefault("version", "1")
        return state.get("version")

    monkeypatch.setattr(bootstrap, "production_version", production_version)
    monkeypatch.setattr(time, "sleep", lambda _: None)
    return state


def recording_step(events: list[tuple[str, ...]]) -> bootstrap.StepContext:
    @contextmanager
    def step(stage: lifecycle.Step) -> Iterator[bootstrap.Note]:
        events.append(("step", stage.name))
        yield lambda text: None

    return step


# ============================================================================ lifecycle
def test_lifecycle_lists_each_step_once_in_the_demo_s_order() -> None:
    names = [step.name for step in lifecycle.STEPS]
    assert names == [
        "engines",
        "backfill",
        "pipeline",
        "training",
        "unpause",
        "live-stream",
        "serving",
        "summary",
    ]
    assert lifecycle.label(lifecycle.ENGINES) == "1/8 engines (core)"
    assert lifecycle.label(lifecycle.BACKFILL, days=30) == "2/8 backfill 30 days of history"
    assert lifecycle.steps_performed_by(bootstrap.COMPOSE_SERVICE) == (
        lifecycle.PIPELINE,
        lifecycle.TRAINING,
        lifecycle.UNPAUSE,
    )
    for service in lifecycle.COMPOSE_JOBS:
        assert lifecycle.steps_performed_by(service), service


# ============================================================================ bootstrap
def test_bootstrap_runs_pipeline_then_training_then_unpauses(
    events: list[tuple[str, ...]], mlflow: dict[str, str]
) -> None:
    client = FakeAirflow(events)
    version = bootstrap.bootstrap(
        client,  # type: ignore[arg-type]
        "http://mlflow",
        LANDED_AT,
        recording_step(events),
        run_note="test",
    )
    assert version == "1"
    assert events == [
        ("step", "pipeline"),
        # unpausing makes the scheduler start the latest tick's run: that one is awaited
        ("unpaused", "fraud_pipeline"),
        ("scheduled", "fraud_pipeline"),
        ("note", "scheduled__fraud_pipeline", "test"),
        ("step", "training"),
        ("unpaused", "ml_training"),
        ("scheduled", "ml_training"),
        ("note", "scheduled__ml_training", "test"),
        ("model promoted",),
        ("step", "unpause"),
        ("unpaused", "fraud_pipeline"),
        ("unpaused", "ml_training"),
    ]


def test_bootstrap_triggers_a_run_when_no_tick_is_due(
    events: list[tuple[str, ...]], mlflow: dict[str, str]
) -> None:
    client = FakeAirflow(events, due={bootstrap.PIPELINE_DAG: False, bootstrap.TRAINING_DAG: False})
    bootstrap.bootstrap(client, "http://mlflow", LANDED_AT, recording_step(events), run_note="t")  # type: ignore[arg-type]
    assert [e for e in events if e[0] != "step"][:4] == [
        ("trigger", "fraud_pipeline", "t"),
        ("unpaused", "fraud_pipeline"),  # a paused DAG's run would wait for ever
        ("trigger", "ml_training", "t"),
        ("unpaused", "ml_training"),
    ]


def test_bootstrap_drops_a_scheduled_run_queued_behind_its_own(
    events: list[tuple[str, ...]], mlflow: dict[str, str]
) -> None:
    """A tick that passes while the bootstrap's run works queues a run that would redo it."""
    client = FakeAirflow(events)
    client.runs_by_dag[bootstrap.TRAINING_DAG] = [
        {"dag_run_id": "scheduled__old", "run_type": "scheduled", "state": "success"}
    ]
    original = client.run

    def run(dag_id: str, run_id: str) -> dict[str, Any]:
        if (
            dag_id == bootstrap.TRAINING_DAG
            and not any(r["dag_run_id"] == "scheduled__next" for r in client.runs(dag_id))
            and ("discarded", "scheduled__next") not in events
        ):
            client._add_run(dag_id, "scheduled__next", "scheduled")
        return original(dag_id, run_id)

    client.run = run  # type: ignore[method-assign]
    bootstrap.bootstrap(client, "http://mlflow", LANDED_AT, recording_step(events))  # type: ignore[arg-type]
    assert ("discarded", "scheduled__next") in events
    assert ("discarded", "scheduled__old") not in events  # finished runs are history
    assert ("discarded", "scheduled__ml_training") not in events  # the awaited run


def test_bootstrap_skips_what_is_done(
    events: list[tuple[str, ...]], mlflow: dict[str, str]
) -> None:
    mlflow["version"] = "7"
    client = FakeAirflow(events)
    client.runs_by_dag[bootstrap.PIPELINE_DAG] = [
        {"dag_run_id": "earlier", "state": "success", "start_date": "2026-12-01T10:05:00Z"}
    ]
    version = bootstrap.bootstrap(
        client,  # type: ignore[arg-type]
        "http://mlflow",
        LANDED_AT,
        recording_step(events),
    )
    assert version == "7"
    assert [e for e in events if e[0] not in {"step", "scheduled"}] == [
        ("unpaused", "fraud_pipeline"),
        ("unpaused", "ml_training"),
    ]


def test_bootstrap_reruns_the_pipeline_when_its_last_success_predates_the_backfill(
    events: list[tuple[str, ...]], mlflow: dict[str, str]
) -> None:
    mlflow["version"] = "7"
    client = FakeAirflow(events)
    client.runs_by_dag[bootstrap.PIPELINE_DAG] = [
        {"dag_run_id": "old", "state": "success", "start_date": "2026-11-30T10:00:00Z"}
    ]
    bootstrap.bootstrap(client, "http://mlflow", LANDED_AT, recording_step(events))  # type: ignore[arg-type]
    assert ("note", "scheduled__fraud_pipeline", "bootstrap") in events


def test_bootstrap_reports_a_failed_run_with_its_tasks(
    events: list[tuple[str, ...]], mlflow: dict[str, str]
) -> None:
    client = FakeAirflow(events, outcome="failed")
    with pytest.raises(bootstrap.BootstrapError, match=r"fraud_pipeline run .* failed") as err:
        bootstrap.bootstrap(client, "http://mlflow", LANDED_AT, recording_step(events))  # type: ignore[arg-type]
    assert "dbt_marts failed" in str(err.value)
    assert ("step", "training") not in events


def test_bootstrap_reports_a_model_the_gate_rejected(
    events: list[tuple[str, ...]], mlflow: dict[str, str]
) -> None:
    mlflow["gate"] = "rejected"
    client = FakeAirflow(events)
    with pytest.raises(bootstrap.BootstrapError, match="the gate rejected the model"):
        bootstrap.bootstrap(client, "http://mlflow", LANDED_AT, recording_step(events))  # type: ignore[arg-type]
    assert ("step", "unpause") not in events


@pytest.fixture
def job_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The environment compose gives the jobs (no .env: the working directory is empty)."""
    for module in (bootstrap, backfill_cli):  # keep pytest's logging (and captured stderr)
        monkeypatch.setattr(module, "configure_logging", lambda *a, **k: None)
    monkeypatch.chdir(tmp_path)
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRFLOW_API_URL", "http://airflow-api-server:8082")
    monkeypatch.setenv("AIRFLOW_ADMIN_USER", "admin")
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "test-airflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    for key in ("DEMO_DAYS", "DEMO_SEED", "DEMO_MALFORMED_FRACTION"):
        monkeypatch.delenv(key, raising=False)


def _manifest() -> Backfill:
    return Backfill(
        days=30, seed=42, transactions=10, labels=1, malformed=0, seconds=1.0, landed_at=LANDED_AT
    )


def test_fraud_bootstrap_logs_in_with_the_environment_s_admin(
    monkeypatch: pytest.MonkeyPatch,
    job_env: None,
    events: list[tuple[str, ...]],
    mlflow: dict[str, str],
) -> None:
    made: list[tuple[str, str, str]] = []

    def client(url: str, user: str, password: str) -> FakeAirflow:
        made.append((url, user, password))
        return FakeAirflow(events)

    monkeypatch.setattr(bootstrap, "AirflowClient", client)
    monkeypatch.setattr(bootstrap, "read_manifest", lambda settings: _manifest())
    assert bootstrap.main([]) == 0
    assert made == [("http://airflow-api-server:8082", "admin", "test-airflow")]
    assert events[0] == ("login",)
    assert ("note", "scheduled__ml_training", "fraud-bootstrap (compose)") in events
    assert events[-2:] == [("unpaused", "fraud_pipeline"), ("unpaused", "ml_training")]


def test_fraud_bootstrap_fails_without_a_backfill(
    monkeypatch: pytest.MonkeyPatch, job_env: None
) -> None:
    monkeypatch.setattr(bootstrap, "read_manifest", lambda settings: None)
    assert bootstrap.main([]) == 1


def test_fraud_bootstrap_exits_1_when_a_step_fails(
    monkeypatch: pytest.MonkeyPatch,
    job_env: None,
    events: list[tuple[str, ...]],
    mlflow: dict[str, str],
) -> None:
    monkeypatch.setattr(bootstrap, "AirflowClient", lambda *a: FakeAirflow(events, "failed"))
    monkeypatch.setattr(bootstrap, "read_manifest", lambda settings: _manifest())
    assert bootstrap.main([]) == 1
    assert ("unpaused", "ml_training") not in events


# ============================================================================ backfill
@pytest.fixture
def backfills(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def ensure_backfill(
        settings: Any,
        env: dict[str, str],
        days: int,
        seed: int,
        malformed: float,
        say: Any,
        history_end: dt.datetime,
    ) -> tuple[Backfill, bool]:
        # the history ends now: the live producer continues it
        assert abs(history_end - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
        calls.append({"settings": settings, "env": env, "days": days, "seed": seed})
        calls[-1]["malformed"] = malformed
        say("produced")
        return _manifest(), False

    monkeypatch.setattr(backfill_cli, "ensure_backfill", ensure_backfill)
    return calls


def test_fraud_backfill_runs_the_demo_s_backfill_with_its_defaults(
    job_env: None, backfills: list[dict[str, Any]]
) -> None:
    assert backfill_cli.main([]) == 0
    (call,) = backfills
    assert (call["days"], call["seed"], call["malformed"]) == (38, 42, 0.001)
    assert call["env"]["S3_ACCESS_KEY"] == "test-access"  # the programs it starts get it all
    assert call["settings"].s3_secret_key.get_secret_value() == "test-secret"


def test_fraud_backfill_takes_options_and_demo_variables(
    monkeypatch: pytest.MonkeyPatch, job_env: None, backfills: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv("DEMO_DAYS", "20")
    assert backfill_cli.main(["--seed", "7", "--malformed-fraction", "0"]) == 0
    assert (backfills[0]["days"], backfills[0]["seed"], backfills[0]["malformed"]) == (20, 7, 0)
    with pytest.raises(ValueError, match="greater than or equal to 16"):
        backfill_cli.main(["--days", "3"])  # training needs 16 days or more


@pytest.mark.parametrize(
    "error",
    [
        BackfillError("the platform's topics or bronze already hold data"),
        subprocess.CalledProcessError(1, ["fraud-producer"]),
    ],
)
def test_fraud_backfill_exits_1_when_the_backfill_fails(
    monkeypatch: pytest.MonkeyPatch, job_env: None, error: Exception
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(backfill_cli, "ensure_backfill", failing)
    assert backfill_cli.main([]) == 1


def test_console_scripts_of_the_jobs_are_installed() -> None:
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts["fraud-backfill"] == "fraud_infra.backfill_cli:main"
    assert scripts["fraud-bootstrap"] == "fraud_infra.bootstrap:main"


# ============================================================================ make demo
def test_make_demo_takes_the_lifecycle_steps_in_order(
    monkeypatch: pytest.MonkeyPatch, events: list[tuple[str, ...]], mlflow: dict[str, str]
) -> None:
    """demo.run with the stack, the backfill, Airflow and the summary faked: the steps it
    shows, and the stack groups it starts between them, follow the lifecycle."""

    class FakeStack:
        def __init__(self) -> None:
            self.env = dict(SECRETS)
            self.state = Path("/nonexistent")
            self.services = {"mlflow": SimpleNamespace(url="http://mlflow")}

        @classmethod
        def load(cls) -> FakeStack:
            return cls()

        def up(self, groups: Any) -> list[str]:
            events.append(("up", *groups))
            return []

        def log_tail(self, name: str) -> str:
            return ""

    original_step = demo.step

    @contextmanager
    def step(stage: lifecycle.Step, **details: object) -> Iterator[bootstrap.Note]:
        events.append(("step", stage.name))
        with original_step(stage, **details) as note:
            yield note

    scored = iter(range(0, 100, 5))
    for name in ("PRODUCER_TPS", "PRODUCER_TRAFFIC", "PRODUCER_SEED"):
        monkeypatch.setenv(name, "1")  # run() sets them; restored afterwards
    monkeypatch.setattr(demo, "Stack", FakeStack)
    monkeypatch.setattr(demo, "step", step)
    monkeypatch.setattr(demo, "ensure_backfill", lambda *a, **k: (_manifest(), True))
    monkeypatch.setattr(demo, "airflow_client", lambda stack: FakeAirflow(events))
    monkeypatch.setattr(demo, "prediction_count", lambda settings, env: next(scored))
    monkeypatch.setattr(time, "sleep", lambda _: None)
    monkeypatch.setattr(demo_summary, "collect", lambda *a: "report")
    monkeypatch.setattr(demo_summary, "render", lambda console, report: None)

    assert demo.run(demo.DemoSettings(days=16, tps=50, malformed_fraction=0.001)) == 0
    shown = [e for e in events if e[0] in {"step", "up"}]
    assert shown == [
        ("step", "engines"),
        ("up", "core"),
        ("step", "backfill"),
        ("step", "pipeline"),
        ("step", "training"),
        ("step", "unpause"),
        ("step", "live-stream"),
        ("up", "pipeline"),
        ("step", "serving"),
        ("up", "serving"),
        ("step", "summary"),
    ]
    assert [e[1] for e in shown if e[0] == "step"] == [s.name for s in lifecycle.STEPS]
    assert ("note", "scheduled__fraud_pipeline", "make demo") in events
