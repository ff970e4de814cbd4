"""Every service of the platform is a Prometheus target, and with the demo running every
target is up (``/api/v1/targets``; a down one is named with Prometheus' last error).

The end-to-end check needs the whole platform: the demo's own end-to-end test
(tests/e2e/test_demo.py) runs it while its live traffic flows, through
:func:`fraud_testing.prometheus.wait_until_all_up`. Run alone, the test here checks the
platform that is up (e.g. after ``make demo``, with ``FRAUD_STACK_AUTOSTART=0``) and skips
when the demo's services are not running.
"""

from __future__ import annotations

import pytest
import requests

from fraud_infra.stack import Stack
from fraud_testing.prometheus import (
    PROMETHEUS_URL,
    configured_jobs,
    down_targets,
    wait_until_all_up,
)

#: the demo's scoring API: when it does not answer, the demo is not running
DEMO_PROBE = "http://127.0.0.1:8000/health"


def _target(job: str, health: str, error: str = "") -> dict[str, object]:
    return {
        "labels": {"job": job, "instance": "127.0.0.1:1"},
        "scrapeUrl": f"http://127.0.0.1:1/{job}",
        "health": health,
        "lastError": error,
    }


@pytest.mark.unit
def test_down_targets_names_each_down_target_with_its_error_and_jobs_without_targets() -> None:
    payload = {
        "data": {
            "activeTargets": [
                _target("kafka", "up"),
                _target("trino", "down", "server returned HTTP status 401 Unauthorized"),
                _target("redis-exporter", "unknown"),
            ]
        }
    }
    assert down_targets(payload, ["kafka", "trino", "redis-exporter", "node-exporter"]) == [
        "node-exporter: no target (is the job's targets file read?)",
        "redis-exporter http://127.0.0.1:1/redis-exporter: unknown (not scraped yet)",
        "trino http://127.0.0.1:1/trino: down (server returned HTTP status 401 Unauthorized)",
    ]


@pytest.mark.unit
def test_every_engine_and_exporter_is_a_job() -> None:
    assert configured_jobs() >= {
        "kafka",
        "trino",
        "postgres-exporter",
        "redis-exporter",
        "node-exporter",
        "pipeline-exporter",
    }


@pytest.mark.e2e
def test_with_the_demo_running_every_target_is_up(native_stack: Stack) -> None:
    try:
        requests.get(DEMO_PROBE, timeout=5)
    except requests.ConnectionError:
        pytest.skip("the demo is not running (its e2e test, tests/e2e/test_demo.py, checks this)")
    assert wait_until_all_up(PROMETHEUS_URL) == []
