"""Alerts as an operator sees them, for the tests: Alertmanager's API and the alert log.

- :func:`wait_for_alert` polls Alertmanager (``GET /api/v2/alerts``) until an alert is
  active (or gone) and returns how long that took;
- :func:`rule_for_seconds`, :func:`prometheus_intervals` and :func:`route_timing` read
  the timings that bound it from the committed configuration (the rules' ``for:``,
  ``scrape_interval`` / ``evaluation_interval`` of prometheus.yml, Alertmanager's
  ``group_wait`` / ``group_interval``), so a test's time budget follows the configuration;
- :func:`loaded_rule_for_seconds` reads the ``for:`` the running Prometheus evaluates
  (``GET /api/v1/rules``): the test session may shorten a committed one
  (``PROMETHEUS_RULE_FOR``, fraud_infra/init_prometheus.py; :data:`SESSION_RULE_FOR`);
- :func:`logged_alerts` reads what the alert-log webhook received (``GET /alerts``).

Used by tests/e2e/test_3_alert_drill.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from fraud_common.paths import repo_root

PROMETHEUS_URL = "http://127.0.0.1:9090"
ALERTMANAGER_URL = "http://127.0.0.1:9094"
ALERT_LOG_URL = "http://127.0.0.1:9095"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86_400.0,
    "w": 604_800.0,
    "y": 31_536_000.0,
}
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!=|!~|=)\s*"?(.*?)"?\s*$')


def analytics_dir() -> Path:
    return repo_root() / "phase5-analytics"


def parse_duration(text: str | int | float) -> float:
    """Seconds of a Prometheus/Alertmanager duration (``15s``, ``2m``, ``1h30m``, ``0s``)."""
    if isinstance(text, int | float):
        return float(text)
    value = str(text).strip()
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


# ---------------------------------------------------------------------- configuration
def alert_rule(name: str, rules_dir: Path | None = None) -> dict[str, Any]:
    """The rule of alert ``name`` in the Prometheus rule files."""
    for path in sorted((rules_dir or analytics_dir() / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == name:
                    return dict(rule)
    raise KeyError(f"no alert rule named {name}")


def rule_for_seconds(name: str, rules_dir: Path | None = None) -> float:
    """The alert's ``for:`` in seconds (0 without one: it fires at its first evaluation)."""
    return parse_duration(alert_rule(name, rules_dir).get("for", "0s"))


def loaded_rule_for_seconds(name: str, url: str = PROMETHEUS_URL) -> float:
    """The ``for:`` of alert ``name`` as the running Prometheus has loaded it, in seconds."""
    resp = requests.get(f"{url}/api/v1/rules", params={"type": "alert"}, timeout=10)
    resp.raise_for_status()
    for group in resp.json()["data"]["groups"]:
        for rule in group["rules"]:
            if rule.get("name") == name:
                return float(rule.get("duration", 0.0))
    raise KeyError(f"Prometheus at {url} has no alert rule named {name}")


@dataclass(frozen=True)
class PrometheusIntervals:
    scrape: float
    evaluation: float


def prometheus_intervals(path: Path | None = None) -> PrometheusIntervals:
    """The global ``scrape_interval`` and ``evaluation_interval`` (Prometheus' defaults:
    1m each when absent)."""
    config = yaml.safe_load((path or analytics_dir() / "prometheus" / "prometheus.yml").read_text())
    glob = config.get("global") or {}
    return PrometheusIntervals(
        scrape=parse_duration(glob.get("scrape_interval", "1m")),
        evaluation=parse_duration(glob.get("evaluation_interval", "1m")),
    )


def _matches(matcher: str, labels: Mapping[str, str]) -> bool:
    found = _MATCHER.match(matcher)
    if found is None:
        raise ValueError(f"matcher not understood: {matcher!r}")
    name, op, value = found.groups()
    got = labels.get(name, "")
    if op == "=":
        return got == value
    if op == "!=":
        return got != value
    hit = re.fullmatch(value, got) is not None
    return hit if op == "=~" else not hit


@dataclass(frozen=True)
class RouteTiming:
    group_wait: float
    group_interval: float


def route_timing(labels: Mapping[str, str], path: Path | None = None) -> RouteTiming:
    """Alertmanager's ``group_wait`` and ``group_interval`` for an alert with ``labels``:
    the first matching child route's (``matchers`` only, one level: this configuration's
    shape), else the root route's (Alertmanager's defaults: 30s, 5m)."""
    config = yaml.safe_load(
        (path or analytics_dir() / "alertmanager" / "alertmanager.yml").read_text()
    )
    root = config["route"]
    wait, interval = root.get("group_wait", "30s"), root.get("group_interval", "5m")
    for route in root.get("routes") or []:
        if all(_matches(m, labels) for m in route.get("matchers") or []):
            wait = route.get("group_wait", wait)
            interval = route.get("group_interval", interval)
            break
    return RouteTiming(parse_duration(wait), parse_duration(interval))


# ---------------------------------------------------------------------- Alertmanager
def alert_states(
    payload: list[dict[str, Any]], name: str, labels: Mapping[str, str] | None = None
) -> list[str]:
    """The states (``active``, ``suppressed``, ``unprocessed``) of the alerts named ``name``
    (and carrying ``labels``) in a ``GET /api/v2/alerts`` answer. Alertmanager leaves
    resolved alerts out of it, so an empty list means: not firing (any more)."""
    wanted = {"alertname": name, **(labels or {})}
    return [
        str(alert.get("status", {}).get("state", "unprocessed"))
        for alert in payload
        if all(alert.get("labels", {}).get(k) == v for k, v in wanted.items())
    ]


def current_alerts(name: str, url: str = ALERTMANAGER_URL) -> list[dict[str, Any]]:
    """Alertmanager's alerts named ``name`` (not resolved ones)."""
    resp = requests.get(
        f"{url}/api/v2/alerts", params={"filter": f'alertname="{name}"'}, timeout=10
    )
    resp.raise_for_status()
    answer: list[dict[str, Any]] = resp.json()
    return answer


def wait_for_alert(
    name: str,
    active: bool,
    timeout: float,
    labels: Mapping[str, str] | None = None,
    url: str = ALERTMANAGER_URL,
    poll: float = 1.0,
) -> float:
    """Poll Alertmanager until the alert ``name`` (with ``labels``) is active
    (``active=True``) or no longer there at all, i.e. resolved (``active=False``); returns
    the seconds that took. Raises ``AssertionError`` after ``timeout`` seconds, with the
    states last seen."""
    began = time.monotonic()
    while True:
        states = alert_states(current_alerts(name, url), name, labels)
        done = "active" in states if active else not states
        elapsed = time.monotonic() - began
        if done:
            return elapsed
        if elapsed > timeout:
            want = "active" if active else "resolved"
            raise AssertionError(
                f"{name} {dict(labels or {})} not {want} in Alertmanager after {elapsed:.0f} s "
                f"(states seen: {states or 'none'})"
            )
        time.sleep(poll)


# ---------------------------------------------------------------------- the alert log
def logged_alerts(
    name: str, status: str | None = None, url: str = ALERT_LOG_URL, limit: int = 200
) -> list[dict[str, Any]]:
    """The latest notifications of alert ``name`` the alert-log webhook received, newest
    first (``status``: ``firing`` or ``resolved``; both by default)."""
    params: dict[str, str | int] = {"limit": limit}
    if status is not None:
        params["status"] = status
    resp = requests.get(f"{url}/alerts", params=params, timeout=10)
    resp.raise_for_status()
    return [a for a in resp.json() if a.get("alertname") == name]
