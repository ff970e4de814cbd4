"""The alert drill's helpers (fraud_testing.alerts), without a running platform: reading
Alertmanager's ``/api/v2/alerts`` answers (fake responses), polling them, and the timings
read from the committed configuration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fraud_testing.alerts import (
    alert_states,
    parse_duration,
    prometheus_intervals,
    route_timing,
    rule_for_seconds,
    wait_for_alert,
)

pytestmark = pytest.mark.unit


def _alert(name: str, state: str, **labels: str) -> dict[str, Any]:
    """One alert as Alertmanager's API v2 lists it (the fields the helpers read, and more)."""
    return {
        "labels": {"alertname": name, "severity": "warning", **labels},
        "annotations": {"summary": "s"},
        "startsAt": "2026-12-02T06:00:00.000Z",
        "endsAt": "2026-12-02T06:04:00.000Z",
        "fingerprint": "0123456789abcdef",
        "receivers": [{"name": "alert-log"}],
        "status": {"inhibitedBy": [], "silencedBy": [], "state": state},
        "updatedAt": "2026-12-02T06:00:00.000Z",
    }


def test_alert_states_are_those_of_the_named_alert_with_the_labels() -> None:
    payload = [
        _alert("DeadLetterRecords", "active", job="bronze-writer"),
        _alert("DeadLetterRecords", "suppressed", job="producer"),
        _alert("TargetDown", "active", job="fraud-api"),
    ]
    assert alert_states(payload, "DeadLetterRecords") == ["active", "suppressed"]
    assert alert_states(payload, "DeadLetterRecords", {"job": "producer"}) == ["suppressed"]
    assert alert_states(payload, "DeadLetterRecords", {"job": "live-scorer"}) == []
    assert alert_states([], "RedisBreakerOpen") == []


class _FakeResponse:
    def __init__(self, payload: list[dict[str, Any]]) -> None:
        self.payload = payload

    def raise_for_status(self) -> None:
        return None

    def json(self) -> list[dict[str, Any]]:
        return self.payload


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[dict[str, Any]]]]:
    """Alertmanager's successive answers (the last one repeats); the requests are recorded."""
    queue: list[list[dict[str, Any]]] = []
    calls: list[dict[str, Any]] = []

    def fake_get(url: str, params: dict[str, str], timeout: float) -> _FakeResponse:
        calls.append({"url": url, **params})
        return _FakeResponse(queue.pop(0) if len(queue) > 1 else queue[0])

    monkeypatch.setattr(requests, "get", fake_get)
    monkeypatch.setattr("fraud_testing.alerts.time.sleep", lambda _: None)
    yield queue
    assert all(c["url"].endswith("/api/v2/alerts") for c in calls)
    assert all(c["filter"].startswith('alertname="') for c in calls)


def test_wait_for_alert_returns_once_the_alert_is_active(
    answers: list[list[dict[str, Any]]],
) -> None:
    answers += [
        [],
        [_alert("RedisBreakerOpen", "unprocessed")],
        [_alert("RedisBreakerOpen", "active")],
    ]
    assert wait_for_alert("RedisBreakerOpen", active=True, timeout=60) >= 0


def test_wait_for_alert_inactive_waits_until_alertmanager_no_longer_lists_it(
    answers: list[list[dict[str, Any]]],
) -> None:
    answers += [[_alert("RedisBreakerOpen", "active")], [_alert("RedisBreakerOpen", "active")], []]
    assert wait_for_alert("RedisBreakerOpen", active=False, timeout=60) >= 0


def test_wait_for_alert_fails_at_its_timeout_naming_the_states_seen(
    answers: list[list[dict[str, Any]]],
) -> None:
    answers.append([_alert("DeadLetterRecords", "suppressed", job="bronze-writer")])
    with pytest.raises(AssertionError, match=r"not active .*states seen: \['suppressed'\]"):
        wait_for_alert("DeadLetterRecords", active=True, timeout=0, labels={"job": "bronze-writer"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15s", 15), ("2m", 120), ("1h30m", 5400), ("0s", 0), ("500ms", 0.5), (10, 10)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2 minutes", "5m garbage", "m"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_the_drills_timings_come_from_the_committed_configuration() -> None:
    assert rule_for_seconds("RedisBreakerOpen") == 120
    assert rule_for_seconds("DeadLetterRecords") == 0  # no for: it fires at once
    intervals = prometheus_intervals()
    assert (intervals.scrape, intervals.evaluation) == (15, 15)
    warning = route_timing({"alertname": "DeadLetterRecords", "severity": "warning"})
    assert (warning.group_wait, warning.group_interval) == (30, 300)
    critical = route_timing({"alertname": "TargetDown", "severity": "critical"})
    assert (critical.group_wait, critical.group_interval) == (10, 300)
    with pytest.raises(KeyError):
        rule_for_seconds("NoSuchAlert")
