"""The native Prometheus' configuration directory, made from phase 5's files before each start.

``phase5-analytics/prometheus`` (``prometheus.yml``, ``targets/``, ``rules/``) is the one
configuration of both launchers: compose mounts it; natively Prometheus reads
``$PROMETHEUS_CONFIG_DIR`` (``<state>/prometheus/config``), which links to those files.
The one thing a run may change is the ``for:`` of named alerts, for drills that must not
wait the committed minutes: ``PROMETHEUS_RULE_FOR="RedisBreakerOpen=20s,..."`` (the test
session sets it; unset in ``make demo``). A rule file holding an overridden alert is
written with the new ``for:`` (and says so in its first line); every other file is a
symbolic link to the committed one, so an edit in the repository reaches Prometheus on
its next reload. promtool checks the committed rules (phase5-analytics/tests), whatever
a run overrides; the drills read the ``for:`` Prometheus actually uses from its API.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fraud_common.paths import repo_root

OVERRIDES_VAR = "PROMETHEUS_RULE_FOR"
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def source_dir() -> Path:
    return repo_root() / "phase5-analytics" / "prometheus"


def parse_overrides(text: str) -> dict[str, str]:
    """``"A=20s, B=1m"`` -> ``{"A": "20s", "B": "1m"}``; a malformed entry is an error."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, duration = (s.strip() for s in item.partition("="))
        if not sep or not name or not _DURATION.match(duration):
            raise ValueError(
                f"{OVERRIDES_VAR}: {item!r} is not ALERT=DURATION (a Prometheus duration: 20s)"
            )
        out[name] = duration
    return out


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.symlink_to(target)


def render(source: Path, target: Path, overrides: Mapping[str, str]) -> dict[str, str]:
    """Make ``target`` a Prometheus configuration directory of ``source`` with the
    overrides applied; returns {alert: committed for: ('0s' without one)} of those
    overridden. An override naming no alert rule is an error."""
    target.mkdir(parents=True, exist_ok=True)
    _link(source / "prometheus.yml", target / "prometheus.yml")
    _link(source / "targets", target / "targets")
    rules = target / "rules"
    if rules.is_symlink() or rules.is_file():
        rules.unlink()
    rules.mkdir(exist_ok=True)
    for stale in rules.iterdir():
        stale.unlink()
    committed: dict[str, str] = {}
    for path in sorted((source / "rules").glob("*.yml")):
        doc: dict[str, Any] = yaml.safe_load(path.read_text())
        changed = False
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert")
                if name in overrides:
                    committed[name] = str(rule.get("for", "0s"))
                    rule["for"] = overrides[name]
                    changed = True
        if changed:
            header = (
                f"# generated from {path.name} with {OVERRIDES_VAR}: "
                + ", ".join(f"{n} for: {committed[n]} -> {overrides[n]}" for n in sorted(committed))
                + "\n"
            )
            (rules / path.name).write_text(header + yaml.safe_dump(doc, sort_keys=False))
        else:
            (rules / path.name).symlink_to(path)
    unknown = sorted(set(overrides) - set(committed))
    if unknown:
        raise ValueError(f"{OVERRIDES_VAR} names no alert rule of {source / 'rules'}: {unknown}")
    return committed


def main() -> int:
    """``fraud-init prometheus-config``: the native stack's ``setup`` of Prometheus."""
    target = os.environ.get("PROMETHEUS_CONFIG_DIR")
    if not target:
        sys.stderr.write("PROMETHEUS_CONFIG_DIR is not set\n")
        return 2
    try:
        overrides = parse_overrides(os.environ.get(OVERRIDES_VAR, ""))
        changed = render(source_dir(), Path(target), overrides)
    except ValueError as err:
        sys.stderr.write(f"{err}\n")
        return 1
    for name, was in sorted(changed.items()):
        sys.stderr.write(f"prometheus: alert {name} for: {was} -> {overrides[name]}\n")
    return 0
