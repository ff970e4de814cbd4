"""Superset's versioned assets (phase5-analytics/superset/assets/) and configuration.

The bundle parses, every chart's dataset and every dataset's database is in it, every
dashboard places only charts of the bundle, no database file carries a credential, and
the files are exactly what build_assets.py writes. superset_config.py refuses to load
without its secrets, naming the missing variable.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

SUPERSET = Path(__file__).resolve().parents[1] / "superset"
ASSETS = SUPERSET / "assets"
DASHBOARDS = {"Transaction Overview", "Fraud Analytics", "Real-Time Risk Feed"}


def _load(kind: str) -> dict[str, dict[str, Any]]:
    return {
        str(path.relative_to(ASSETS)): yaml.safe_load(path.read_text())
        for path in sorted((ASSETS / kind).rglob("*.yaml"))
    }


def test_bundle_references_only_objects_it_contains() -> None:
    meta = yaml.safe_load((ASSETS / "metadata.yaml").read_text())
    assert meta["type"] == "Dashboard" and meta["version"] == "1.0.0"
    databases = {d["uuid"] for d in _load("databases").values()}
    datasets = _load("datasets")
    charts = _load("charts")
    dashboards = _load("dashboards")
    assert len(databases) == 2
    assert {d["database_uuid"] for d in datasets.values()} <= databases
    dataset_ids = {d["uuid"] for d in datasets.values()}
    assert {c["dataset_uuid"] for c in charts.values()} <= dataset_ids
    chart_ids = {c["uuid"] for c in charts.values()}
    placed: set[str] = set()
    for dash in dashboards.values():
        for node in dash["position"].values():
            if isinstance(node, dict) and node.get("type") == "CHART":
                assert node["meta"]["uuid"] in chart_ids, node
                placed.add(node["meta"]["uuid"])
    assert placed == chart_ids, "a chart of the bundle is on no dashboard"
    assert {d["dashboard_title"] for d in dashboards.values()} == DASHBOARDS


def test_database_files_carry_no_credentials() -> None:
    for path, db in _load("databases").items():
        uri = db["sqlalchemy_uri"]
        userinfo = uri.split("://", 1)[1].split("@")[0] if "@" in uri else ""
        if ":" in userinfo:
            assert userinfo.split(":", 1)[1] == "XXXXXXXXXX", f"{path} carries a password"
        assert db["allow_dml"] is False, path


def test_assets_are_what_the_builder_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_assets", SUPERSET / "build_assets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_assets"] = module
    spec.loader.exec_module(module)
    module.write(module.build(), tmp_path)
    built = {p.relative_to(tmp_path): p.read_text() for p in tmp_path.rglob("*.yaml")}
    committed = {p.relative_to(ASSETS): p.read_text() for p in ASSETS.rglob("*.yaml")}
    assert built == committed, "assets/ is stale: run phase5-analytics/superset/build_assets.py"


@pytest.mark.parametrize("missing", ["SUPERSET_SECRET_KEY", "SUPERSET_DB_PASSWORD"])
def test_config_names_a_missing_secret(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setenv("SUPERSET_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("SUPERSET_DB_PASSWORD", "pw")
    monkeypatch.delenv(missing)
    with pytest.raises(RuntimeError, match=missing):
        runpy.run_path(str(SUPERSET / "superset_config.py"))


def test_config_enables_csrf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPERSET_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("SUPERSET_DB_PASSWORD", "pw")
    config = runpy.run_path(str(SUPERSET / "superset_config.py"))
    assert config["WTF_CSRF_ENABLED"] is True
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("@127.0.0.1:5432/superset")
