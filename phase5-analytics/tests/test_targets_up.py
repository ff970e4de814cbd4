"""Every service of the platform is a Prometheus target, and a down one is named with
Prometheus' last error (``/api/v1/targets``).

That every target is up with the demo running needs the whole platform: the demo's e2e
test (tests/e2e/test_1_demo.py) checks it while its live traffic flows, through
:func:`fraud_testing.prometheus.wait_until_all_up`.
"""

from __future__ import annotations

import pytest

from fraud_testing.prometheus import (
    configured_jobs,
    down_targets,
)


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
