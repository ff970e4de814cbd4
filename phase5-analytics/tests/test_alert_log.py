"""alert-log, the Alertmanager webhook receiver: payloads in, log lines and JSON lines out.

The unit tests serve the app with uvicorn in a thread and post what Alertmanager posts;
the integration test puts the real Alertmanager (Debian's prometheus-alertmanager, a
throwaway instance on a free port) in front of it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn

from alert_log.app import create_app
from alert_log.settings import AlertLogSettings

ALERTMANAGER = "prometheus-alertmanager"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The app on a free port, in a background thread of the test process."""

    def __init__(self, settings: AlertLogSettings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("alert-log did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def alert(name: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "critical", **labels},
        "annotations": {
            "summary": f"{name} summary",
            "description": f"{name} description",
            "runbook_url": f"phase5-analytics/RUNBOOK.md#{name.lower()}",
        },
        "startsAt": "2026-12-03T10:00:00.000Z",
        "endsAt": "2026-12-03T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up+%3D%3D+0",
        "fingerprint": f"fp-{name}",
    }


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    """A webhook body exactly as Alertmanager 0.25 sends it."""
    return {
        "receiver": "alert-log",
        "status": alerts[0]["status"],
        "alerts": list(alerts),
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9094",
        "version": "4",
        "groupKey": '{}:{alertname="TargetDown"}',
        "truncatedAlerts": 0,
    }


@pytest.fixture
def settings(tmp_path: Path) -> AlertLogSettings:
    return AlertLogSettings(file=tmp_path / "log" / "alerts.jsonl", recent=10)


@pytest.fixture
def server(settings: AlertLogSettings) -> Iterator[Server]:
    with Server(settings) as srv:
        yield srv


@pytest.mark.unit
def test_each_alert_becomes_one_json_line(server: Server, settings: AlertLogSettings) -> None:
    body = notification(alert("TargetDown", job="producer"), alert("TargetDown", job="fraud-api"))
    r = requests.post(f"{server.url}/alerts", json=body, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 2}
    lines = [json.loads(line) for line in settings.file.read_text().splitlines()]
    assert [line["labels"]["job"] for line in lines] == ["producer", "fraud-api"]
    first = lines[0]
    assert first["status"] == "firing"
    assert first["alertname"] == "TargetDown" and first["severity"] == "critical"
    assert first["summary"] == "TargetDown summary"
    assert first["annotations"]["runbook_url"] == "phase5-analytics/RUNBOOK.md#targetdown"
    assert first["starts_at"] == "2026-12-03T10:00:00Z"
    assert first["ends_at"] is None  # Alertmanager's "no end yet"
    assert first["receiver"] == "alert-log" and first["fingerprint"] == "fp-TargetDown"
    assert first["received_at"].endswith("Z")


@pytest.mark.unit
def test_latest_alerts_newest_first_and_by_status(server: Server) -> None:
    for body in (
        notification(alert("BronzeStale")),
        notification(alert("DeadLetterRecords")),
        notification(alert("BronzeStale", status="resolved")),
    ):
        requests.post(f"{server.url}/alerts", json=body, timeout=5).raise_for_status()
    latest = requests.get(f"{server.url}/alerts", timeout=5).json()
    assert [(a["alertname"], a["status"]) for a in latest] == [
        ("BronzeStale", "resolved"),
        ("DeadLetterRecords", "firing"),
        ("BronzeStale", "firing"),
    ]
    assert latest[0]["ends_at"] == "2026-12-03T10:05:00Z"
    firing = requests.get(f"{server.url}/alerts?status=firing&limit=1", timeout=5).json()
    assert [a["alertname"] for a in firing] == ["DeadLetterRecords"]
    assert requests.get(f"{server.url}/alerts?limit=0", timeout=5).status_code == 422


@pytest.mark.unit
def test_history_survives_a_restart(settings: AlertLogSettings) -> None:
    with Server(settings) as first:
        body = notification(alert("GoldStale"))
        requests.post(f"{first.url}/alerts", json=body, timeout=5).raise_for_status()
    with settings.file.open("a") as f:
        f.write('{"torn": ')  # a line cut short by a crash is skipped, not fatal
    with Server(settings) as second:
        latest = requests.get(f"{second.url}/alerts", timeout=5).json()
    assert [a["alertname"] for a in latest] == ["GoldStale"]


@pytest.mark.unit
def test_invalid_payload_is_refused(server: Server, settings: AlertLogSettings) -> None:
    body = notification(alert("TargetDown"))
    body["version"] = "3"
    assert requests.post(f"{server.url}/alerts", json=body, timeout=5).status_code == 422
    del body["alerts"][0]["labels"]
    body["version"] = "4"
    assert requests.post(f"{server.url}/alerts", json=body, timeout=5).status_code == 422
    assert not settings.file.exists()


@pytest.mark.unit
def test_unwritable_log_answers_5xx_so_alertmanager_retries(tmp_path: Path) -> None:
    settings = AlertLogSettings(file=tmp_path)  # a directory: opening it for append fails
    with Server(settings) as srv:
        r = requests.post(f"{srv.url}/alerts", json=notification(alert("X")), timeout=5)
        metrics = requests.get(f"{srv.url}/metrics", timeout=5).text
    assert r.status_code == 503
    assert "fraud_alert_log_write_errors_total " in metrics


@pytest.mark.unit
def test_health_and_metrics(server: Server) -> None:
    assert requests.get(f"{server.url}/health", timeout=5).json() == {"status": "ok"}
    body = notification(alert("RedisBreakerOpen", severity="warning"))
    requests.post(f"{server.url}/alerts", json=body, timeout=5).raise_for_status()
    metrics = requests.get(f"{server.url}/metrics", timeout=5).text
    assert 'fraud_alert_log_alerts_total{severity="warning",status="firing"}' in metrics


@pytest.mark.integration
def test_alertmanager_delivers_to_the_alert_log(
    server: Server, settings: AlertLogSettings, tmp_path: Path
) -> None:
    """The real Alertmanager, configured like ours but pointing at this test's receiver
    and without the group wait, delivers an alert posted to its API."""
    binary = shutil.which(ALERTMANAGER)
    if binary is None:
        pytest.skip(f"{ALERTMANAGER} is not installed (infra/native/install/debian.sh)")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: alert-log\n  group_wait: 0s\n"
        "receivers:\n  - name: alert-log\n    webhook_configs:\n"
        f"      - url: {server.url}/alerts\n        send_resolved: true\n"
    )
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "alertmanager.log").read_text()
            time.sleep(0.1)
        posted = [{"labels": {"alertname": "TargetDown", "severity": "critical", "job": "x"},
                   "annotations": {"summary": "x is down"}}]  # fmt: skip
        requests.post(f"{base}/api/v2/alerts", json=posted, timeout=5).raise_for_status()
        deadline = time.monotonic() + 30
        while not settings.file.exists():
            assert time.monotonic() < deadline, (tmp_path / "alertmanager.log").read_text()
            time.sleep(0.1)
        line = json.loads(settings.file.read_text().splitlines()[0])
        assert line["alertname"] == "TargetDown" and line["summary"] == "x is down"
        assert line["labels"]["job"] == "x" and line["status"] == "firing"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
