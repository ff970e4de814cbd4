"""The Grafana dashboards as code: the committed JSON is the generator's output, every
panel reads the provisioned datasource, and every query reads a metric some service
exports. Their data against the native Prometheus: tests/e2e/test_4_dashboards.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fraud_dashboards.dashboards import DASHBOARDS, DATASOURCE_UID, DashboardSpec, render_json
from fraud_dashboards.main import committed, dashboard_path
from fraud_dashboards.promql import substitute, targets, variable_values

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "phase5-analytics" / "grafana"
RULES = REPO / "phase5-analytics" / "prometheus" / "rules"
#: where the platform's metrics are defined (prometheus_client calls, the JMX rules)
EXPORTERS = [
    *REPO.glob("phase1-ingestion/producer/*.py"),
    *REPO.glob("phase2-streaming/spark_jobs/*.py"),
    *REPO.glob("phase4-ml/serving/*.py"),
    *REPO.glob("phase4-ml/training/*.py"),
    *REPO.glob("phase5-analytics/pipeline_exporter/*.py"),
]
#: PromQL words that are not metric names
PROMQL = {
    "sum", "max", "min", "by", "without", "rate", "increase", "histogram_quantile", "time",
    "ignoring", "on", "group_left", "group_right", "le", "and", "or", "unless", "offset",
}  # fmt: skip
#: metrics a panel reads that no service exports yet -> who is to export them. Once one is
#: exported, the test below asks to remove it from here (as PENDING_SECRETS in
#: infra/tests/test_compose.py); until then the e2e check (tests/e2e) fails on its panel.
PENDING_METRICS: dict[str, str] = {}
NAME = re.compile(r"(?<![\w\"'{=~])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w\"'])")
ids = [spec.slug for spec in DASHBOARDS]


@pytest.mark.parametrize("spec", DASHBOARDS, ids=ids)
def test_committed_json_is_the_generators_output(spec: DashboardSpec) -> None:
    path = dashboard_path(spec)
    assert path.read_text() == render_json(spec), (
        f"{path.relative_to(REPO)} differs from the generator: run `fraud-dashboards generate`"
    )


def test_provisioned_datasource_has_the_dashboards_uid() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    assert [(d["uid"], d["type"]) for d in config["datasources"]] == [
        (DATASOURCE_UID, "prometheus")
    ]


def test_dashboards_are_provisioned_from_the_committed_directory() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning/dashboards/dashboards.yml").read_text())
    (provider,) = config["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./phase5-analytics/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    assert sorted(p.name for p in (GRAFANA / "dashboards").glob("*.json")) == sorted(
        f"{spec.slug}.json" for spec in DASHBOARDS
    )


@pytest.mark.parametrize("spec", DASHBOARDS, ids=ids)
def test_every_panel_and_query_uses_the_provisioned_datasource(spec: DashboardSpec) -> None:
    board = committed(spec)
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
    for var in board.get("templating", {}).get("list", []):
        assert var["datasource"]["uid"] == DATASOURCE_UID


@pytest.mark.parametrize("spec", DASHBOARDS, ids=ids)
def test_panel_ids_are_unique(spec: DashboardSpec) -> None:
    ids_ = [p["id"] for p in committed(spec)["panels"]]
    assert len(ids_) == len(set(ids_))


def exported_names() -> set[str]:
    names: set[str] = set()
    for path in EXPORTERS:
        text = path.read_text()
        names |= set(re.findall(r"\"(fraud_[a-z0-9_]+)\"", text))
        # training/monitor.py names its gauges f"fraud_model_live_{name}" from a dict
        names |= {f"fraud_model_live_{n}" for n in re.findall(r"\"([a-z_]+)\": \"", text)}
    for rules in RULES.glob("*.yml"):
        for group in yaml.safe_load(rules.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression (labels, strings and durations removed)."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\([^()]*?\)\s*\(", " ", expr)
    bare = re.sub(r"\bby\s*\([^)]*\)|\bignoring\s*\([^)]*\)|\bon\s*\([^)]*\)", " ", bare)
    return {n for n in NAME.findall(bare) if n not in PROMQL and not n.isdigit()}


def counter_base(name: str) -> str:
    return re.sub(r"_(total|bucket|count|sum)$", "", name)


@pytest.mark.parametrize("spec", DASHBOARDS, ids=ids)
def test_every_query_reads_an_exported_metric(spec: DashboardSpec) -> None:
    """Names caught here before any Prometheus sees them: a typo is a panel with no data.
    The Kafka broker's names come from the JMX exporter's rules (not checked here), and
    ``up`` from Prometheus itself."""
    board = committed(spec)
    exported = {counter_base(n) for n in exported_names()}
    unknown = []
    for target in targets(board):
        expr = substitute(target.expr, variable_values(board))
        for name in metric_names(expr):
            if name == "up" or name.startswith("kafka_"):
                continue
            if counter_base(name) in exported and name in PENDING_METRICS:
                unknown.append(f"{name} is exported now: remove it from PENDING_METRICS")
            elif counter_base(name) not in exported and name not in PENDING_METRICS:
                unknown.append(f"{target.where()}: {name} is exported by no service")
    assert unknown == []


def test_substitution_replaces_grafana_and_dashboard_variables() -> None:
    board = {"templating": {"list": [{"name": "v", "includeAll": True, "allValue": ".*"}]}}
    values = variable_values(board, "10m")
    expr = 'increase(x{v=~"$v"}[$__range]) / rate(x{v=~"${v}"}[$__rate_interval])'
    assert substitute(expr, values) == 'increase(x{v=~".*"}[10m]) / rate(x{v=~".*"}[1m])'
    with pytest.raises(KeyError, match="unknown"):
        substitute("x[$nope]", values)
