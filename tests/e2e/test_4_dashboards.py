"""Every query of every Grafana dashboard has data in the native Prometheus.

Grafana runs in compose only; natively its dashboards are checked without it: each panel's
expressions, with the template variables substituted as Grafana would for "All" and a
30-minute range ($__rate_interval -> 1m, $__range -> 1800s, $model_version -> .*), are
evaluated by Prometheus' query API over the range a dashboard opens with (the last 30
minutes, as Grafana draws it) and must return at least one series.

It runs on the session's demo platform (tests/e2e/conftest.py), live traffic flowing, after
the alert drill. Nothing is skipped: on a platform without recent data it fails, naming
each dashboard, panel and expression without data.
"""

from __future__ import annotations

import os

import pytest

from fraud_dashboards.dashboards import DASHBOARDS, DashboardSpec
from fraud_dashboards.main import committed
from fraud_dashboards.promql import PROMETHEUS_URL, Prometheus, panels_without_data
from fraud_testing.demo import Demo

pytestmark = pytest.mark.e2e

#: the dashboards' default range, in seconds (DASHBOARD_CHECK_WINDOW_SECONDS overrides it)
WINDOW = float(os.environ.get("DASHBOARD_CHECK_WINDOW_SECONDS", "1800"))


@pytest.mark.parametrize("spec", DASHBOARDS, ids=[spec.slug for spec in DASHBOARDS])
def test_every_panel_query_returns_a_series(demo: Demo, spec: DashboardSpec) -> None:
    board = committed(spec)
    problems = panels_without_data(Prometheus(PROMETHEUS_URL), [board], window=WINDOW)
    assert problems == [], "queries without data:\n" + "\n".join(problems)
