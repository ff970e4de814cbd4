"""``make demo`` end to end, at test scale, on the native stack: the platform it leaves.

The session's demo (tests/e2e/conftest.py) reuses the session's 30-day backfill (the
lakehouse fixture's, written by the same launcher code), runs the ``ml_training`` DAG
through Airflow, starts the live stream, the scoring API, the live scorer and the live
model monitor. While its live traffic flows:

- its summary shows every section (counts per layer, the production model, the curl
  commands with their answers, the UIs);
- a second ``make demo`` skips every finished step;
- every Prometheus target (every service of the platform) is up;
- the live scorer scores the live transactions, and the live monitor joins the labels
  that came back (the simulator's, delivered after 5 s here) with the prediction log.

What the live traffic adds up to, layer by layer, is test_2_layers.py's, next.
"""

from __future__ import annotations

import pytest

from fraud_testing.conditions import scraped, wait_until
from fraud_testing.demo import Demo, run_demo
from fraud_testing.prometheus import wait_until_all_up

pytestmark = pytest.mark.e2e

SCORER_METRICS = "http://127.0.0.1:8003/metrics"
MONITOR_METRICS = "http://127.0.0.1:8004/metrics"


def test_the_summary_shows_every_section(demo: Demo) -> None:
    for text in ("Counts per layer", "Model in production", "curl -s -X POST", "UIs"):
        assert text in demo.output.stderr, demo.output.stderr


def test_a_second_demo_skips_every_finished_step(demo: Demo) -> None:
    second = run_demo()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already there" in second.stderr and "already in production" in second.stderr


def test_every_prometheus_target_is_up(demo: Demo) -> None:
    # every service is a Prometheus target, and each is up (Prometheus names the others)
    assert wait_until_all_up() == []


def test_live_transactions_are_scored(demo: Demo) -> None:
    scored = scraped(SCORER_METRICS, "fraud_live_scorer_scored_total")
    wait_until(
        "the live scorer's count to grow",
        lambda: scraped(SCORER_METRICS, "fraud_live_scorer_scored_total") > scored > 0,
        timeout=60,
    )


def test_the_live_monitor_joins_the_labels_that_came_back(demo: Demo) -> None:
    wait_until(
        "the live monitor to see labelled frauds",
        lambda: scraped(MONITOR_METRICS, "fraud_model_live_frauds") > 0,
        timeout=180,
    )
    assert scraped(MONITOR_METRICS, "fraud_model_live_labelled") > 0
