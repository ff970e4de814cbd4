"""The native Prometheus' configuration directory (fraud_infra/init_prometheus.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fraud_infra.init_prometheus import parse_overrides, render, source_dir

pytestmark = pytest.mark.unit


def alerts(rules_dir: Path) -> dict[str, dict[str, object]]:
    out = {}
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    out[rule["alert"]] = rule
    return out


def test_parse_overrides_reads_alert_duration_pairs_and_refuses_anything_else() -> None:
    assert parse_overrides("") == {}
    assert parse_overrides(" RedisBreakerOpen=20s , A=1m30s") == {
        "RedisBreakerOpen": "20s",
        "A": "1m30s",
    }
    for bad in ("RedisBreakerOpen", "RedisBreakerOpen=soon", "=20s", "A=20"):
        with pytest.raises(ValueError, match="PROMETHEUS_RULE_FOR"):
            parse_overrides(bad)


def test_without_overrides_every_file_is_the_committed_one(tmp_path: Path) -> None:
    assert render(source_dir(), tmp_path, {}) == {}
    assert (tmp_path / "prometheus.yml").resolve() == source_dir() / "prometheus.yml"
    assert (tmp_path / "targets").resolve() == source_dir() / "targets"
    rules = sorted(p.name for p in (tmp_path / "rules").iterdir())
    assert rules == sorted(p.name for p in (source_dir() / "rules").glob("*.yml"))
    assert all((tmp_path / "rules" / r).resolve() == source_dir() / "rules" / r for r in rules)


def test_an_override_changes_that_alerts_for_and_nothing_else(tmp_path: Path) -> None:
    committed = alerts(source_dir() / "rules")
    assert render(source_dir(), tmp_path, {"RedisBreakerOpen": "20s"}) == {
        "RedisBreakerOpen": str(committed["RedisBreakerOpen"]["for"])
    }
    rendered = alerts(tmp_path / "rules")
    assert rendered["RedisBreakerOpen"]["for"] == "20s"
    assert {k: v for k, v in rendered.items() if k != "RedisBreakerOpen"} == {
        k: v for k, v in committed.items() if k != "RedisBreakerOpen"
    }
    # a second render without it is the committed configuration again
    render(source_dir(), tmp_path, {})
    assert alerts(tmp_path / "rules") == committed


def test_an_override_of_an_unknown_alert_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NoSuchAlert"):
        render(source_dir(), tmp_path, {"NoSuchAlert": "1s"})


def test_the_rendered_directory_is_a_valid_prometheus_configuration(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: bash infra/native/install/debian.sh installs it")
    render(source_dir(), tmp_path, {"RedisBreakerOpen": "20s"})
    done = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
