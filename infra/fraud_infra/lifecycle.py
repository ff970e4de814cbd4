"""The platform's lifecycle: from nothing to a live, scored transaction stream.

One ordered list of steps, shared by both launchers:

- natively, ``make demo`` (:mod:`fraud_infra.demo`) runs the steps one after the other,
  in this order, under these titles;
- with compose, ``make up`` reaches the same state through the dependency graph of
  ``docker-compose.yml``: each step is performed by the services named here, and a
  service of a later step starts only once every service of the step before it is done
  (a one-shot job exited 0, a long-running service healthy). The engines come first for
  both; there, a service waits for the engines it talks to. A static test
  (``infra/tests/test_compose_lifecycle.py``) checks the compose graph against this list.

=========== ========================================= ====================================
step        natively (``fraud-demo``)                 compose (``make up``)
=========== ========================================= ====================================
engines     ``fraud-stack up core``                   the engines, their ``*-init`` jobs,
                                                      the Spark master and worker
backfill    ``ensure_backfill`` (backfill.py)         one-shot ``backfill``
pipeline    ``fraud_pipeline`` run, Airflow REST API  one-shot ``bootstrap``
training    ``ml_training`` run, Airflow REST API     one-shot ``bootstrap``
unpause     both DAGs unpaused, Airflow REST API      one-shot ``bootstrap``
live-stream ``fraud-stack up pipeline``               ``producer``, ``bronze-writer``
serving     ``fraud-stack up serving``                ``fraud-api``, ``live-scorer``,
                                                      ``model-monitor``
summary     ``demo_summary``                          none (``docker compose ps``)
=========== ========================================= ====================================

The pipeline, training and unpause steps are one function,
:func:`fraud_infra.bootstrap.bootstrap`, which ``make demo`` calls and compose's
``bootstrap`` job runs (``fraud-bootstrap``); the backfill step is
:func:`fraud_infra.backfill.ensure_backfill` for both (``fraud-backfill`` in compose).

The live stream starts only after the backfill: ``ensure_backfill`` refuses topics that
already hold records no backfill wrote, checks that bronze holds exactly what it
produced, and lands them with the bronze writer's checkpoint, which a running streaming
writer would share. It also starts after the batch steps, which then have the machine's
cores to themselves.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One step of the lifecycle and who performs it in each launcher."""

    #: short identifier
    name: str
    #: what ``make demo`` shows; ``{placeholders}`` are filled by :func:`label`
    title: str
    #: what the native demo does for it
    native: str
    #: ``fraud-stack`` groups (infra/native/services.yaml) the demo starts for it
    native_groups: tuple[str, ...]
    #: docker-compose.yml services that perform it
    compose: tuple[str, ...]


ENGINES = Step(
    name="engines",
    title="engines (core)",
    native="fraud-stack up core",
    native_groups=("core",),
    compose=(
        "postgres",
        "postgres-init",
        "object-store",
        "s3-init",
        "redis",
        "kafka-jmx-agent",
        "kafka",
        "kafka-init",
        "schema-registry",
        "trino",
        "trino-init",
        "prometheus",
        "mlflow",
        "airflow-init",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "feature-stream",
        # compose only: the bronze writer runs on a standalone cluster (natively local[*])
        "spark-master",
        "spark-worker",
    ),
)
BACKFILL = Step(
    name="backfill",
    title="backfill {days} days of history",
    native="fraud_infra.backfill.ensure_backfill (producer in backfill mode, bronze writer once)",
    native_groups=(),
    compose=("backfill",),
)
PIPELINE = Step(
    name="pipeline",
    title="fraud_pipeline (dbt silver + gold, Redis feature push)",
    native="one fraud_pipeline run through Airflow's REST API (fraud_infra.bootstrap)",
    native_groups=(),
    compose=("bootstrap",),
)
TRAINING = Step(
    name="training",
    title="ml_training (train, gate, promote)",
    native="one ml_training run through Airflow's REST API (fraud_infra.bootstrap)",
    native_groups=(),
    compose=("bootstrap",),
)
UNPAUSE = Step(
    name="unpause",
    title="unpause fraud_pipeline and ml_training",
    native="both DAGs unpaused through Airflow's REST API (fraud_infra.bootstrap)",
    native_groups=(),
    compose=("bootstrap",),
)
LIVE_STREAM = Step(
    name="live-stream",
    title="live stream (at {rate}) and streaming bronze writer",
    native="fraud-stack up pipeline",
    native_groups=("pipeline",),
    compose=("producer", "bronze-writer"),
)
SERVING = Step(
    name="serving",
    title="scoring API, live scorer and live model monitor",
    native="fraud-stack up serving, then wait for the first scored transactions",
    native_groups=("serving",),
    compose=("fraud-api", "live-scorer", "model-monitor"),
)
SUMMARY = Step(
    name="summary",
    title="summary",
    native="fraud_infra.demo_summary",
    native_groups=(),
    compose=(),
)

#: the steps, in the order both launchers take them
STEPS: tuple[Step, ...] = (
    ENGINES,
    BACKFILL,
    PIPELINE,
    TRAINING,
    UNPAUSE,
    LIVE_STREAM,
    SERVING,
    SUMMARY,
)

#: compose's one-shot lifecycle jobs -> the console script each runs (infra/pyproject.toml)
COMPOSE_JOBS: dict[str, str] = {
    "backfill": "fraud-backfill",
    "bootstrap": "fraud-bootstrap",
}


def label(step: Step, **details: object) -> str:
    """``"<n>/<total> <title>"``, the title's placeholders filled from ``details``."""
    return f"{STEPS.index(step) + 1}/{len(STEPS)} {step.title.format(**details)}"


def steps_performed_by(service: str) -> tuple[Step, ...]:
    """The steps a compose service performs, in lifecycle order."""
    return tuple(step for step in STEPS if service in step.compose)
