"""Static check: ``make up`` takes the lifecycle of ``make demo`` (no Docker engine needed).

The lifecycle (:mod:`fraud_infra.lifecycle`) lists the steps from nothing to a live,
scored stream and, for each, the compose services that perform it. Here the compose file
is read as ``make up`` runs it (test_compose.py's interpolation, ``.env.example`` with
dummy secrets), the services of a profile set are selected the way compose does (a
``required: false`` dependency on a service outside it is dropped) and the ``depends_on``
graph is checked against the lifecycle:

- order: every service of a step starts only after every service of the step before it
  is done: a one-shot job exited 0 (``service_completed_successfully``), a long-running
  service healthy (``service_healthy``), through a direct edge or a chain of them. Checked
  for ``make up`` and for each ``make phaseN-up`` (a step without services there is
  skipped, e.g. no bootstrap before phase 4: the live stream must still follow the
  backfill). No engine waits for a later step;
- presence: ``make up`` starts every step's services; the jobs are one-shots (restart
  "no"), the live stream and serving are long-running;
- engines: a service whose environment points at Redis, Kafka or Trino waits for it to be
  healthy (``ADDRESS_ONLY`` lists who only inherits the address from a shared anchor);
- the feature store: every profile with a service that pushes features has Redis.

Each check returns the problems it found; the negative cases mutate the parsed file
(drop or reorder an edge, weaken a condition, remove a service) and assert the checkers
report it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import yaml
from test_compose import (
    COMPOSE_FILE,
    INIT_BUILD_ARGS,
    REPO,
    Compose,
    _example,
    _versions,
    build_of,
    compose_env,
    depends_on,
    dockerfile_arg_problems,
    environment,
    interpolate,
    is_one_shot,
    services,
)

from fraud_infra import lifecycle

pytestmark = pytest.mark.unit

MAKEFILE = REPO / "Makefile"
NATIVE_SERVICES = REPO / "infra" / "native" / "services.yaml"
INFRA_PYPROJECT = REPO / "infra" / "pyproject.toml"
JOBS_DOCKERFILE = "infra/jobs/Dockerfile"
PIPELINE_DAG_FILE = REPO / "phase3-transforms" / "airflow" / "dags" / "fraud_pipeline.py"

HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"
#: engines whose clients must wait for them to be healthy
ENGINES_WAITED_FOR = ("redis", "kafka", "trino")
#: (service, engine): the engine's address comes with a shared anchor, the service never
#: connects to it. x-init-environment gives each fraud-init job and the bootstrap job
#: every engine's settings (PlatformSettings validates them all); x-airflow-common gives
#: each Airflow process the tasks' settings, and only the scheduler runs tasks
#: (LocalExecutor).
ADDRESS_ONLY: frozenset[tuple[str, str]] = frozenset(
    {
        ("postgres-init", "kafka"),
        ("s3-init", "kafka"),
        ("trino-init", "kafka"),
        ("bootstrap", "kafka"),
        ("airflow-init", "redis"),
        ("airflow-init", "trino"),
        ("airflow-api-server", "redis"),
        ("airflow-api-server", "trino"),
        ("airflow-dag-processor", "redis"),
        ("airflow-dag-processor", "trino"),
    }
)
#: the program that writes the online feature state into Redis (the streaming feature job)
FEATURE_WRITER = "fraud-feature-stream"


# ============================================================================ the model
@dataclass(frozen=True)
class Project:
    """The services compose starts for a profile set, and their dependency conditions."""

    profiles: tuple[str, ...]
    services: dict[str, dict[str, Any]]
    #: service -> {dependency: condition}
    edges: dict[str, dict[str, str]]


def select(doc: Compose, profiles: Iterable[str]) -> Project:
    """The services of ``profiles``; a ``required: false`` dependency on a service that is
    not among them is dropped, as compose does (a required one is kept: the checks then
    report it as missing)."""
    wanted = set(profiles)
    enabled = {
        name: svc for name, svc in services(doc).items() if set(svc.get("profiles") or []) & wanted
    }
    edges: dict[str, dict[str, str]] = {}
    for name, svc in enabled.items():
        edges[name] = {
            dep: str(spec.get("condition", "service_started"))
            for dep, spec in depends_on(svc).items()
            if dep in enabled or spec.get("required", True) is not False
        }
    return Project(tuple(sorted(wanted)), enabled, edges)


def done_condition(project: Project, name: str) -> str:
    """The condition that means ``name`` has done its part: exited 0 or healthy."""
    return COMPLETED if is_one_shot(project.services.get(name, {})) else HEALTHY


def done_word(project: Project, name: str) -> str:
    return "completed" if done_condition(project, name) == COMPLETED else "healthy"


def upstream(project: Project, name: str) -> set[str]:
    """``name`` and every service it waits for, directly or through others."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(project.edges.get(current, {}))
    return seen


def starts_after_done(project: Project, later: str, earlier: str) -> bool:
    """Whether ``later`` starts only once ``earlier`` is done. Compose starts a service
    after its dependencies' conditions hold, so a chain of edges keeps the order; what
    matters is the condition of the edge that reaches ``earlier``."""
    wanted = done_condition(project, earlier)
    return any(
        project.edges.get(via, {}).get(earlier) == wanted for via in upstream(project, later)
    )


def stages(project: Project) -> list[tuple[str, tuple[str, ...]]]:
    """The steps after the engines with their services in ``project``; consecutive steps
    performed by the same services are one stage (their order is that job's own)."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for step in lifecycle.STEPS[1:]:
        present = tuple(s for s in step.compose if s in project.services)
        if not present:
            continue
        if out and out[-1][1] == present:
            out[-1] = (f"{out[-1][0]}/{step.name}", present)
        else:
            out.append((step.name, present))
    return out


# ============================================================================ the checks
def order_problems(project: Project) -> list[str]:
    """Each stage's services start after every service of every earlier stage is done
    (the stage just before, and by the chain the others; checking all of them names the
    earliest step a broken service may overtake); no engine waits for a later step."""
    problems = []
    walked = stages(project)
    for j, (later_steps, later) in enumerate(walked):
        for earlier_steps, earlier in walked[:j]:
            for b in later:
                for a in earlier:
                    if not starts_after_done(project, b, a):
                        problems.append(
                            f"{b} ({later_steps}) may start before {a} ({earlier_steps}) is "
                            f"{done_word(project, a)}"
                        )
    later_services = {s for step in lifecycle.STEPS[1:] for s in step.compose}
    for engine in lifecycle.ENGINES.compose:
        if engine not in project.services:
            continue
        for waited in sorted((upstream(project, engine) - {engine}) & later_services):
            problems.append(f"engine {engine} waits for {waited}, a later lifecycle step")
    return [f"[{'+'.join(project.profiles)}] {p}" for p in problems]


def presence_problems(project: Project) -> list[str]:
    """``project`` (make up) starts every step's services, each of the right kind."""
    problems = []
    for step in lifecycle.STEPS:
        for name in step.compose:
            if name not in project.services:
                problems.append(f"step {step.name}: {name} is not started by make up")
    jobs = set(lifecycle.COMPOSE_JOBS) | {
        dep
        for deps in project.edges.values()
        for dep, condition in deps.items()
        if condition == COMPLETED
    }
    for name in sorted(jobs & set(project.services)):
        restart = project.services[name].get("restart", "no (default)")
        if restart != "no":
            problems.append(f"{name}: one-shot job with restart {restart!r}, not 'no'")
    for step in (lifecycle.LIVE_STREAM, lifecycle.SERVING):
        for name in step.compose:
            if name in project.services and is_one_shot(project.services[name]):
                problems.append(f"{name}: step {step.name} needs it running, it is a one-shot")
    return problems


_HOST = r"(?:^|[/@,\s]){}(?::\d+)?(?:[/,\s]|$)"


def talks_to(service: Mapping[str, Any], engine: str) -> bool:
    """Whether an environment value of ``service`` addresses the service ``engine``."""
    pattern = re.compile(_HOST.format(re.escape(engine)))
    return any(value and pattern.search(value) for value in environment(service).values())


def engine_problems(project: Project, address_only: frozenset[tuple[str, str]]) -> list[str]:
    """A client of Redis, Kafka or Trino waits for it to be healthy (a direct edge)."""
    problems = []
    for name, svc in project.services.items():
        for engine in ENGINES_WAITED_FOR:
            if name == engine or not talks_to(svc, engine) or (name, engine) in address_only:
                continue
            condition = project.edges[name].get(engine)
            if condition != HEALTHY:
                problems.append(
                    f"{name} talks to {engine} but waits for it with {condition or 'nothing'}, "
                    "not service_healthy"
                )
    return problems


def feature_pushers(doc: Compose) -> set[str]:
    """Services that write the feature store: those running the streaming feature job."""
    pushers = set()
    for name, svc in services(doc).items():
        command = svc.get("command") or []
        words = command.split() if isinstance(command, str) else [str(w) for w in command]
        if any(FEATURE_WRITER in w for w in words):
            pushers.add(name)
    return pushers


def feature_store_problems(doc: Compose) -> list[str]:
    """Every profile with a feature-pushing service has Redis."""
    svcs = services(doc)
    redis_profiles = set(svcs.get("redis", {}).get("profiles") or [])
    problems = []
    for name in sorted(feature_pushers(doc)):
        for profile in sorted(set(svcs[name].get("profiles") or []) - redis_profiles):
            problems.append(f"profile {profile} runs {name}, which pushes features, without redis")
    return problems


def lifecycle_problems(doc: Compose) -> list[str]:
    """Every check, for make up and each make phaseN-up."""
    up = select(doc, make_up_profiles())
    problems = presence_problems(up) + engine_problems(up, ADDRESS_ONLY)
    problems += feature_store_problems(doc)
    for profiles in cumulative_profile_sets():
        problems += order_problems(select(doc, profiles))
    return list(dict.fromkeys(problems))


# ============================================================================ fixtures
@cache
def make_up_profiles() -> tuple[str, ...]:
    """The profiles ``make up`` passes (the Makefile's PHASES)."""
    match = re.search(r"^PHASES\s*:?=\s*(.+)$", MAKEFILE.read_text(), re.MULTILINE)
    assert match, "no PHASES in the Makefile"
    return tuple(match.group(1).split())


def cumulative_profile_sets() -> list[tuple[str, ...]]:
    """``make phase1-up`` ... ``make phase5-up`` (= ``make up``)."""
    phases = make_up_profiles()
    return [phases[: n + 1] for n in range(len(phases))]


@cache
def _compose() -> Compose:
    doc: Compose = interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), _env())
    return doc


@cache
def _env() -> dict[str, str]:
    return compose_env(_versions(), _example())


@pytest.fixture
def compose() -> Compose:
    return copy.deepcopy(_compose())


# ============================================================================ tests
def test_make_up_passes_every_phase_profile() -> None:
    assert make_up_profiles() == ("phase1", "phase2", "phase3", "phase4", "phase5")


def test_make_up_starts_every_step_with_services_of_the_right_kind(compose: Compose) -> None:
    assert presence_problems(select(compose, make_up_profiles())) == []


@pytest.mark.parametrize("profiles", cumulative_profile_sets(), ids=lambda p: p[-1])
def test_compose_takes_the_lifecycle_steps_in_order(
    compose: Compose, profiles: tuple[str, ...]
) -> None:
    assert order_problems(select(compose, profiles)) == []


def test_make_up_has_the_stages_of_the_native_demo(compose: Compose) -> None:
    """What the order check walks for make up: every step but the summary (natively
    only), the bootstrap's three as one stage."""
    assert stages(select(compose, make_up_profiles())) == [
        ("backfill", ("backfill",)),
        ("pipeline/training/unpause", ("bootstrap",)),
        ("live-stream", ("producer", "bronze-writer")),
        ("serving", ("fraud-api", "live-scorer", "model-monitor")),
    ]


def test_the_key_hand_offs_hold(compose: Compose) -> None:
    """Among what the order check covers: the model before serving, the history before
    the live stream, and the live stream directly after the backfill (also when there is
    no bootstrap, e.g. make phase3-up)."""
    up = select(compose, make_up_profiles())
    hand_offs = [
        ("bootstrap", "backfill"),
        ("fraud-api", "bootstrap"),
        ("live-scorer", "bootstrap"),
        ("model-monitor", "bootstrap"),
        ("producer", "backfill"),
        ("bronze-writer", "backfill"),
    ]
    for later, earlier in hand_offs:
        assert starts_after_done(up, later, earlier), (later, earlier)
    for name in lifecycle.LIVE_STREAM.compose:
        assert up.edges[name].get("backfill") == COMPLETED, name
    assert up.edges["fraud-api"].get("bootstrap") == COMPLETED


def test_clients_of_redis_kafka_and_trino_wait_for_them_healthy(compose: Compose) -> None:
    assert engine_problems(select(compose, make_up_profiles()), ADDRESS_ONLY) == []


def test_address_only_exemptions_are_still_needed(compose: Compose) -> None:
    svcs = services(compose)
    stale = [
        (name, engine)
        for name, engine in sorted(ADDRESS_ONLY)
        if name not in svcs or not talks_to(svcs[name], engine)
    ]
    assert stale == []


def test_every_profile_that_pushes_features_has_redis(compose: Compose) -> None:
    assert "feature" not in PIPELINE_DAG_FILE.read_text().split("STEPS", 1)[1].split("with DAG")[0]
    assert feature_pushers(compose) == {"feature-stream"}
    assert feature_store_problems(compose) == []


def test_lifecycle_jobs_run_the_shared_console_scripts(compose: Compose) -> None:
    """compose's jobs run the programs whose functions make demo calls."""
    svcs = services(compose)
    scripts = dict(
        re.findall(r'^(fraud-[\w-]+)\s*=\s*"([\w.:]+)"', INFRA_PYPROJECT.read_text(), re.MULTILINE)
    )
    assert scripts["fraud-backfill"] == "fraud_infra.backfill_cli:main"
    assert scripts["fraud-bootstrap"] == "fraud_infra.bootstrap:main"
    for service, program in lifecycle.COMPOSE_JOBS.items():
        svc = svcs[service]
        words = [*(svc.get("entrypoint") or []), *(svc.get("command") or [])]
        assert words[:1] == [program], (service, words)
        assert program in scripts


def test_jobs_image_is_pinned_like_the_init_image() -> None:
    """infra/jobs/Dockerfile's defaults equal versions.env; compose passes the variables."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for service in lifecycle.COMPOSE_JOBS:
        build = build_of(services(raw)[service]) or {}
        assert build.get("dockerfile") == JOBS_DOCKERFILE, service
        for arg in INIT_BUILD_ARGS:
            assert f"${{{arg}:?" in str((build.get("args") or {}).get(arg)), (service, arg)
    assert dockerfile_arg_problems((REPO / JOBS_DOCKERFILE).read_text(), _versions()) == []


def test_steps_match_the_native_groups() -> None:
    """The lifecycle's native groups hold the services compose runs for the same step."""
    native = yaml.safe_load(NATIVE_SERVICES.read_text())["services"]
    for step in lifecycle.STEPS:
        members = {
            name
            for name, svc in native.items()
            if set(svc.get("groups") or []) & set(step.native_groups)
        }
        if step is lifecycle.ENGINES:  # core may hold more: the engines compose runs are listed
            assert set(step.compose) & set(native) <= members, step.name
        elif step.native_groups:  # the same services, started as a group
            assert members == set(step.compose), step.name
        else:  # a program the demo runs (compose: a one-shot job), no native service
            assert not set(step.compose) & set(native), step.name


# ============================================================================ negative cases
Mutation = Callable[[Compose], None]


def _svc(doc: Compose, name: str) -> dict[str, Any]:
    svc: dict[str, Any] = doc["services"][name]
    return svc


def _drop(service: str, *deps: str) -> Mutation:
    def mutate(doc: Compose) -> None:
        for dep in deps:
            del _svc(doc, service)["depends_on"][dep]

    return mutate


def _condition(service: str, dep: str, condition: str) -> Mutation:
    def mutate(doc: Compose) -> None:
        _svc(doc, service)["depends_on"][dep]["condition"] = condition

    return mutate


def _reorder_backfill_and_bootstrap(doc: Compose) -> None:
    del _svc(doc, "bootstrap")["depends_on"]["backfill"]
    _svc(doc, "backfill")["depends_on"]["bootstrap"] = {"condition": COMPLETED}


def _engine_waits_for_job(doc: Compose) -> None:
    _svc(doc, "airflow-scheduler")["depends_on"]["backfill"] = {"condition": COMPLETED}


def _set(service: str, key: str, value: Any) -> Mutation:
    def mutate(doc: Compose) -> None:
        _svc(doc, service)[key] = value

    return mutate


def _remove(service: str) -> Mutation:
    def mutate(doc: Compose) -> None:
        del doc["services"][service]
        for svc in services(doc).values():
            (svc.get("depends_on") or {}).pop(service, None)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            _drop("bootstrap", "backfill"),
            "bootstrap (pipeline/training/unpause) may start before backfill (backfill) is "
            "completed",
            id="bootstrap-without-backfill",
        ),
        pytest.param(
            _condition("bootstrap", "backfill", "service_started"),
            "bootstrap (pipeline/training/unpause) may start before backfill",
            id="bootstrap-waits-only-for-the-backfill-to-start",
        ),
        pytest.param(
            _reorder_backfill_and_bootstrap,
            "bootstrap (pipeline/training/unpause) may start before backfill",
            id="backfill-and-bootstrap-reordered",
        ),
        pytest.param(
            _drop("producer", "backfill", "bootstrap"),
            "[phase1+phase2+phase3] producer (live-stream) may start before backfill",
            id="producer-before-the-backfill",
        ),
        pytest.param(
            _drop("bronze-writer", "backfill"),
            "[phase1+phase2+phase3] bronze-writer (live-stream) may start before backfill",
            id="bronze-writer-before-the-backfill-without-bootstrap",
        ),
        pytest.param(
            _drop("fraud-api", "bootstrap", "producer", "bronze-writer"),
            "fraud-api (serving) may start before bootstrap (pipeline/training/unpause) is "
            "completed",
            id="fraud-api-before-a-model",
        ),
        pytest.param(
            _drop("live-scorer", "fraud-api"),
            "live-scorer (serving) may start before producer (live-stream) is healthy",
            id="live-scorer-before-the-live-stream",
        ),
        pytest.param(
            _engine_waits_for_job,
            "engine airflow-scheduler waits for backfill, a later lifecycle step",
            id="engine-waits-for-a-later-step",
        ),
        pytest.param(
            _set("bootstrap", "restart", "unless-stopped"),
            "bootstrap: one-shot job with restart 'unless-stopped', not 'no'",
            id="job-restarted-for-ever",
        ),
        pytest.param(
            _set("fraud-api", "restart", "no"),
            "fraud-api: step serving needs it running, it is a one-shot",
            id="serving-as-a-one-shot",
        ),
        pytest.param(
            _remove("bootstrap"),
            "step pipeline: bootstrap is not started by make up",
            id="bootstrap-missing",
        ),
        pytest.param(
            _set("backfill", "profiles", ["maintenance"]),
            "step backfill: backfill is not started by make up",
            id="backfill-outside-make-up",
        ),
        pytest.param(
            _drop("feature-stream", "redis"),
            "feature-stream talks to redis but waits for it with nothing",
            id="feature-pusher-without-redis-dependency",
        ),
        pytest.param(
            _condition("bronze-writer", "kafka", "service_started"),
            "bronze-writer talks to kafka but waits for it with service_started",
            id="kafka-client-waits-only-for-start",
        ),
        pytest.param(
            _set("redis", "profiles", ["phase3", "phase5"]),
            "profile phase4 runs feature-stream, which pushes features, without redis",
            id="redis-missing-from-phase4",
        ),
    ],
)
def test_checks_report_a_broken_lifecycle(
    compose: Compose, mutate: Mutation, expected: str
) -> None:
    assert lifecycle_problems(compose) == []
    mutate(compose)
    problems = lifecycle_problems(compose)
    assert any(expected in p for p in problems), problems
