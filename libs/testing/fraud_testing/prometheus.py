"""Prometheus' view of the platform, for the tests: is every configured target up? (and
an instant query, :func:`instant_query`)

Used by the demo's end-to-end test while the whole platform runs (tests/e2e/test_1_demo.py)
and by phase5-analytics/tests/test_targets_up.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests
import yaml

from fraud_common.paths import repo_root

PROMETHEUS_URL = "http://127.0.0.1:9090"


def config_path() -> Path:
    return repo_root() / "phase5-analytics" / "prometheus" / "prometheus.yml"


def configured_jobs(path: Path | None = None) -> set[str]:
    """The scrape jobs of prometheus.yml (every service of the platform is one)."""
    config = yaml.safe_load((path or config_path()).read_text())
    return {str(job["job_name"]) for job in config["scrape_configs"]}


def down_targets(payload: Mapping[str, Any], jobs: Iterable[str]) -> list[str]:
    """What is not up in an ``/api/v1/targets`` answer: each target of ``jobs`` that is
    not healthy (with Prometheus' last error) and each job that has no target at all."""
    active = payload["data"]["activeTargets"]
    problems = []
    for job in sorted(jobs):
        targets = [t for t in active if t["labels"].get("job") == job]
        if not targets:
            problems.append(f"{job}: no target (is the job's targets file read?)")
        for target in targets:
            if target["health"] != "up":
                error = target.get("lastError") or "not scraped yet"
                problems.append(f"{job} {target['scrapeUrl']}: {target['health']} ({error})")
    return problems


def reload(url: str = PROMETHEUS_URL) -> None:
    """Make Prometheus re-read prometheus.yml (it runs with --web.enable-lifecycle)."""
    requests.post(f"{url}/-/reload", timeout=30).raise_for_status()


def wait_until_all_up(
    url: str = PROMETHEUS_URL, jobs: Iterable[str] | None = None, timeout: float = 90.0
) -> list[str]:
    """Reload the configuration, then poll the targets until every one of ``jobs`` (all
    configured jobs by default) is up; returns what is still down at ``timeout`` ([] when
    all are up). A target is scraped every 15 s, so a new one needs up to that."""
    wanted = set(jobs) if jobs is not None else configured_jobs()
    reload(url)
    deadline = time.monotonic() + timeout
    while True:
        resp = requests.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=30)
        resp.raise_for_status()
        problems = down_targets(resp.json(), wanted)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(3)


def instant_query(expr: str, url: str = PROMETHEUS_URL) -> list[tuple[dict[str, str], float]]:
    """``/api/v1/query`` of a vector expression: (labels, value) of each series."""
    resp = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=30)
    resp.raise_for_status()
    return [
        (dict(item["metric"]), float(item["value"][1])) for item in resp.json()["data"]["result"]
    ]
