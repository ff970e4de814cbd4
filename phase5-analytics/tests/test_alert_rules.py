"""The alerting configuration, checked without a running platform.

- Prometheus: ``promtool check config`` / ``check rules`` and every rule file's unit tests
  (``promtool test rules``); Alertmanager: ``amtool check-config`` and the routing tree.
- Conventions: every alert has a severity, ``summary``, ``description`` and a
  ``runbook_url`` whose RUNBOOK.md section exists, and promtool cases where it must not
  fire and where it fires with exact labels and annotations.
- Contracts: every metric and label a rule reads is exported by the platform's code (or
  is listed as pending); both launchers scrape the same jobs, at the ports the native
  stack declares and on the compose network.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

pytestmark = pytest.mark.unit

ANALYTICS = Path(__file__).resolve().parents[1]
REPO = ANALYTICS.parent
PROMETHEUS_DIR = ANALYTICS / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
NATIVE_TARGETS = PROMETHEUS_DIR / "targets"
COMPOSE_TARGETS = PROMETHEUS_DIR / "compose-targets"
ALERTMANAGER_CONFIG = ANALYTICS / "alertmanager" / "alertmanager.yml"
RUNBOOK = ANALYTICS / "RUNBOOK.md"
SERVICES_YAML = REPO / "infra" / "native" / "services.yaml"
COMPOSE_FILE = REPO / "docker-compose.yml"

SEVERITIES = frozenset({"critical", "warning"})
ANNOTATIONS = frozenset({"summary", "description", "runbook_url"})
RECEIVER = "alert-log"
#: every service of the platform is a scrape job (job name = service name in both launchers)
PLATFORM_JOBS = frozenset(
    {
        "prometheus",
        "alertmanager",
        "alert-log",
        "producer",
        "bronze-writer",
        "fraud-api",
        "live-scorer",
        "model-monitor",
        "pipeline-exporter",
        "postgres-exporter",
        "redis-exporter",
        "node-exporter",
        "kafka",
        "trino",
    }
)
#: the issue's symptoms -> the alerts on them
SYMPTOMS: dict[str, set[str]] = {
    "DLQ records in the last 5 min > 0": {"DeadLetterRecords"},
    "API 5xx rate > 1 %": {"FraudApiErrorRateHigh"},
    "fraud rate > 2x its 7-day baseline": {"FraudRateAboveBaseline"},
    "bronze stale": {"BronzeStale"},
    "gold / feature store stale": {"GoldStale", "FeatureStoreStale"},
    "lag growing": {"BronzeLagGrowing"},
    "p99 scoring latency over its objective": {"FraudApiLatencyHigh"},
    "no model loaded or older than its retraining period": {"FraudApiNoModel", "ModelStale"},
    "feature-store fallback rate above 5 % or the breaker open": {
        "FeatureFallbackRateHigh",
        "RedisBreakerOpen",
    },
    "prediction log spilling": {"PredictionLogSpilling"},
    "live precision below a floor": {"LivePrecisionLow"},
    "a target down": {"TargetDown"},
}
#: modules whose import registers every metric the platform's services export
EXPORTERS = (
    "producer.metrics",
    "spark_jobs.metrics",
    "serving.metrics",
    "serving.live_scorer",
    "serving.feature_stream",
    "training.monitor",
    "alert_log.app",
    "pipeline_exporter.metrics",
)
#: metrics the rules read that no exporter of the repository has yet -> who exports them.
#: Once one is exported, it must leave this list (the test says so).
PENDING_METRICS: dict[str, str] = {}
#: metrics Prometheus itself makes
BUILTIN_METRICS = frozenset({"up"})

_METRIC = re.compile(r"(?<![\w:])(fraud_[a-z0-9_]+)(?![\w:])")
_SELECTOR = re.compile(r"(?<![\w:])(fraud_[a-z0-9_]+)\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


# ============================================================================ helpers
def tool(name: str, required: bool = True) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: bash infra/native/install/debian.sh installs it"
        if required:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def run(*args: str | Path, cwd: Path = PROMETHEUS_DIR) -> str:
    """Run a checker; on failure the test fails with its whole output."""
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed:\n{output}", pytrace=False)
    return output


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@cache
def alerts() -> dict[str, dict[str, Any]]:
    """Every alerting rule by name."""
    found: dict[str, dict[str, Any]] = {}
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["alert"] not in found, f"alert {rule['alert']} defined twice"
                    found[rule["alert"]] = {**rule, "file": path.name}
    return found


def all_exprs() -> Iterator[tuple[str, str]]:
    """(rule name, expression) of every alerting and recording rule."""
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                yield rule.get("alert") or rule["record"], rule["expr"]


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def runbook_sections() -> dict[str, str]:
    """``## `` headings of RUNBOOK.md by anchor."""
    return {
        anchor(line[3:]): line[3:].strip()
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }


def rule_test_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """(test file, alert_rule_test case) of every promtool test file."""
    for path in RULE_TESTS:
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test") or []:
                yield path.name, case


def metric_problems(
    exprs: Iterable[tuple[str, str]],
    exported: Mapping[str, frozenset[str] | None],
    pending: Mapping[str, str],
) -> list[str]:
    """Metrics (and selector labels) the expressions read that nothing exports."""
    problems = []
    for rule, expr in exprs:
        for metric in sorted(set(_METRIC.findall(expr))):
            if metric not in exported and metric not in pending:
                problems.append(f"{rule}: {metric} is exported by nothing")
        for metric, matchers in _SELECTOR.findall(expr):
            known = exported.get(metric)
            for label in _MATCHER.findall(matchers):
                if known is not None and label not in known | {"job", "instance"}:
                    problems.append(f"{rule}: {metric} has no label {label}")
    for metric in sorted(pending):
        if metric in exported:
            problems.append(f"{metric} is exported now: remove it from PENDING_METRICS")
    return problems


def exported_metrics() -> dict[str, frozenset[str] | None]:
    """Series names the exporters expose -> the metric's label names (None: unknown)."""
    for module in EXPORTERS:
        importlib.import_module(module)
    labels_of: dict[str, frozenset[str] | None] = {}
    for collector in list(REGISTRY._collector_to_names):  # every registered collector
        names = REGISTRY._collector_to_names[collector]
        labelnames = getattr(collector, "_labelnames", None)
        for name in names:
            labels_of[name] = None if labelnames is None else frozenset(labelnames)
    return labels_of


# ============================================================================ promtool, amtool
def test_promtool_check_config() -> None:
    """The configuration and the rule files it loads (rules/*.yml) are valid."""
    output = run(tool("promtool"), "check", "config", PROMETHEUS_CONFIG)
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in output


def test_promtool_check_rules() -> None:
    run(tool("promtool"), "check", "rules", *RULE_FILES)


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_rule_unit_tests(test_file: Path) -> None:
    run(tool("promtool"), "test", "rules", test_file, cwd=test_file.parent)


def test_a_wrong_expectation_fails_with_promtools_output(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: Down\n        expr: up == 0\n        for: 1m\n"
    )
    (tmp_path / "test.yml").write_text(
        "rule_files: [rules.yml]\ntests:\n  - interval: 1m\n    input_series:\n"
        "      - {series: 'up{job=\"x\"}', values: '0x5'}\n    alert_rule_test:\n"
        "      - {eval_time: 3m, alertname: Down, exp_alerts: []}\n"
    )
    with pytest.raises(pytest.fail.Exception, match=r"(?s)FAILED.*alertname: Down"):
        run(tool("promtool"), "test", "rules", "test.yml", cwd=tmp_path)


def test_every_rule_file_has_a_unit_test_file() -> None:
    tested = {
        (path.parent / rule_file).resolve()
        for path in RULE_TESTS
        for rule_file in load_yaml(path)["rule_files"]
    }
    assert {p.resolve() for p in RULE_FILES} == tested


def test_amtool_check_config() -> None:
    output = run(tool("amtool", required=False), "check-config", ALERTMANAGER_CONFIG)
    assert "1 receivers" in output


@pytest.mark.parametrize("name", sorted(alerts()))
def test_every_alert_is_routed_to_the_alert_log(name: str) -> None:
    amtool = tool("amtool", required=False)
    severity = alerts()[name]["labels"]["severity"]
    output = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"alertname={name}",
        f"severity={severity}",
    )
    assert output.split("\n")[0].strip() == RECEIVER, output


# ============================================================================ conventions
def test_the_issue_symptoms_are_all_covered() -> None:
    assert len(alerts()) >= 10
    missing = {symptom: names - set(alerts()) for symptom, names in SYMPTOMS.items()}
    assert {k: v for k, v in missing.items() if v} == {}


@pytest.mark.parametrize("name", sorted(alerts()))
def test_alert_has_severity_annotations_and_runbook_section(name: str) -> None:
    rule = alerts()[name]
    assert rule["labels"]["severity"] in SEVERITIES
    assert set(rule["annotations"]) == ANNOTATIONS
    assert all(str(v).strip() for v in rule["annotations"].values())
    assert rule["annotations"]["runbook_url"] == f"phase5-analytics/RUNBOOK.md#{name.lower()}"
    sections = runbook_sections()
    assert sections.get(name.lower()) == name, f"RUNBOOK.md has no section '## {name}'"


def test_runbook_has_no_section_for_an_unknown_alert() -> None:
    alert_like = {title for title in runbook_sections().values() if re.fullmatch(r"\w+", title)}
    assert alert_like - set(alerts()) == set()


@pytest.mark.parametrize("name", sorted(alerts()))
def test_alert_has_promtool_cases_where_it_fires_and_where_it_does_not(name: str) -> None:
    cases = [(f, c) for f, c in rule_test_cases() if c["alertname"] == name]
    quiet = [c for _, c in cases if not c.get("exp_alerts")]
    firing = [c for _, c in cases if c.get("exp_alerts")]
    assert quiet, f"{name}: no promtool case where it must not fire"
    assert firing, f"{name}: no promtool case where it fires"
    severity = alerts()[name]["labels"]["severity"]
    for case in firing:
        for expected in case["exp_alerts"]:
            assert expected["exp_labels"].get("severity") == severity
            assert set(expected.get("exp_annotations") or {}) == ANNOTATIONS


# ============================================================================ contracts
def test_rules_read_only_metrics_and_labels_the_platform_exports() -> None:
    assert metric_problems(all_exprs(), exported_metrics(), PENDING_METRICS) == []


def test_metric_check_reports_unknown_metrics_and_labels() -> None:
    exported: dict[str, frozenset[str] | None] = {
        "fraud_a_total": frozenset({"tier"}),
        "fraud_custom": None,  # a custom collector: labels unknown, not judged
        "fraud_pending": frozenset(),
    }
    exprs = [
        ("A", 'rate(fraud_a_total{tier="high", job="x"}[5m]) / job:fraud_a_total:rate5m'),
        ("B", 'fraud_a_total{teir="high"} + fraud_custom{any="x"} + fraud_typo'),
    ]
    assert metric_problems(exprs, exported, {"fraud_pending": "later"}) == [
        "B: fraud_typo is exported by nothing",
        "B: fraud_a_total has no label teir",
        "fraud_pending is exported now: remove it from PENDING_METRICS",
    ]


def _scrape_jobs() -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}


def _targets(path: Path) -> list[str]:
    return [t for group in load_yaml(path) for t in group["targets"]]


def test_every_platform_service_is_a_scrape_job() -> None:
    assert set(_scrape_jobs()) >= PLATFORM_JOBS


def test_both_launchers_have_the_same_targets_files() -> None:
    native = {p.name for p in NATIVE_TARGETS.glob("*.yml")}
    compose = {p.name for p in COMPOSE_TARGETS.glob("*.yml")}
    used = {
        Path(f).name
        for job in _scrape_jobs().values()
        for sd in job.get("file_sd_configs", [])
        for f in sd["files"]
    }
    alerting = load_yaml(PROMETHEUS_CONFIG)["alerting"]["alertmanagers"]
    used |= {Path(f).name for am in alerting for sd in am["file_sd_configs"] for f in sd["files"]}
    assert native == compose == used


def test_native_targets_are_the_ports_the_native_stack_declares() -> None:
    services = load_yaml(SERVICES_YAML)["services"]
    for name, job in _scrape_jobs().items():
        for sd in job.get("file_sd_configs", []):
            for target_file in sd["files"]:
                for target in _targets(PROMETHEUS_DIR / target_file):
                    host, _, port = target.rpartition(":")
                    assert host == "127.0.0.1", f"{name}: {target}"
                    assert int(port) in services[name]["ports"], f"{name}: {target}"


def test_compose_targets_are_the_compose_services() -> None:
    """Same port as natively, on the host name of the job's compose service (or of the
    service whose network it shares)."""
    compose = load_yaml(COMPOSE_FILE)["services"]
    mounts = compose["prometheus"]["volumes"]
    assert "./phase5-analytics/prometheus/compose-targets:/etc/prometheus/targets:ro" in mounts
    for name, job in _scrape_jobs().items():
        for sd in job.get("file_sd_configs", []):
            for target_file in sd["files"]:
                native = _targets(PROMETHEUS_DIR / target_file)
                in_compose = _targets(COMPOSE_TARGETS / Path(target_file).name)
                network = str(compose[name].get("network_mode", ""))
                host = network.removeprefix("service:") if network else name
                assert [t.rpartition(":")[2] for t in in_compose] == [
                    t.rpartition(":")[2] for t in native
                ], name
                assert {t.rpartition(":")[0] for t in in_compose} == {host}, name
