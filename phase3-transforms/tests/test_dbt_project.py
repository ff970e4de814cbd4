"""Phase 3 unit checks of the dbt project: it parses, carries enough tests, and agrees with
the feature contract (phase4-ml/features.py) and the simulator's merchants."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from fraud_common.settings import PlatformSettings
from fraud_contracts import features
from fraud_simulator.profiles import write_merchants_csv
from transforms.dbt import project_dir, run_dbt

pytestmark = pytest.mark.unit

PROJECT = project_dir()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """``dbt parse`` (no connection needed) into a temporary target directory."""
    target = tmp_path_factory.mktemp("dbt-target")
    settings = PlatformSettings(  # type: ignore[call-arg]  # secrets unused by parse
        s3_access_key="unused",
        s3_secret_key="unused",
        postgres_password="unused",
        redis_password="unused",
    )
    run_dbt(
        ["parse", "--target-path", str(target), "--log-path", str(target)],
        settings,
        capture=True,
    )
    data: dict[str, object] = json.loads((target / "manifest.json").read_text())
    return data


def test_project_vars_match_the_feature_contract() -> None:
    project = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())
    v = project["vars"]
    assert v["label_delay_days"] == features.LABEL_DELAY_DAYS
    assert v["night_end_hour"] == features.NIGHT_END_HOUR
    assert tuple(v["feature_names"]) == features.FEATURE_NAMES


def test_window_macros_match_the_feature_contract() -> None:
    text = (PROJECT / "macros" / "windows.sql").read_text()

    def windows(macro: str) -> dict[str, int]:
        body = text.split(f"macro {macro}()")[1].split("endmacro")[0]
        found = re.findall(r'"(\w+)": window_ms\((days|hours)=(\d+)\)', body)
        unit = {"days": features.DAY_MS, "hours": features.HOUR_MS}
        return {name: int(n) * unit[kind] for name, kind, n in found}

    assert windows("activity_windows") == features.WINDOWS
    assert windows("risk_windows") == features.RISK_WINDOWS


def test_merchants_seed_is_the_simulators(tmp_path: Path) -> None:
    fresh = tmp_path / "merchants.csv"
    write_merchants_csv(fresh)
    assert (PROJECT / "seeds" / "merchants.csv").read_bytes() == fresh.read_bytes()


def test_project_parses_with_enough_tests(manifest: dict[str, object]) -> None:
    nodes = manifest["nodes"]
    assert isinstance(nodes, dict)
    tests = [n for n in nodes.values() if n["resource_type"] == "test"]
    unit_tests = manifest["unit_tests"]
    assert isinstance(unit_tests, dict)
    singular = {n["name"] for n in tests if not n.get("test_metadata")}
    assert {
        "assert_fraud_rate_sane",
        "assert_no_future_events",
        "assert_features_point_in_time",
    } <= singular
    assert len(tests) + len(unit_tests) >= 30
    assert len(unit_tests) >= 2
    models = {n["name"]: n for n in nodes.values() if n["resource_type"] == "model"}
    for name in (
        "mart_fraud_features",
        "mart_hourly_metrics",
        "mart_user_risk_profiles",
        "mart_terminal_risk_profiles",
    ):
        config = models[name]["config"]
        assert models[name]["schema"] == "gold"
        assert config["materialized"] == "incremental"
        assert config["incremental_strategy"] == "merge"
        assert config["unique_key"]
    assert {m["schema"] for n, m in models.items() if n.startswith(("stg_", "int_"))} == {"silver"}
