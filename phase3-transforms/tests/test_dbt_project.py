"""Phase 3 unit checks of the dbt project: it parses, carries enough tests, agrees with the
feature contract (fraud_contracts/features.py) and the simulator's merchants, and classifies
every data test (blocking or not) as its README states."""

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
    assert v["zscore_min_count"] == features.ZSCORE_MIN_COUNT
    assert v["zscore_min_std"] == features.ZSCORE_MIN_STD
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


#: README class -> dbt severity
CLASSES = {"blocking": "error", "non-blocking": "warn"}


def readme_classification() -> dict[tuple[str, str], str]:
    """(target, test) -> severity from the README's table under "Which tests block"; a row
    names its target (`model.column`, `model`, `source.table.column` or a singular test)
    and the generic tests on it."""
    section = (PROJECT / "README.md").read_text().split("## Which tests block")[1]
    section = section.split("\n## ")[0]
    out: dict[tuple[str, str], str] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        found = re.fullmatch(r"`([^`]+)`(.*)", cells[0])
        assert found, line
        target, names = found.group(1), found.group(2)
        for test in [n.strip() for n in names.split(",") if n.strip()] or ["singular"]:
            assert (target, test) not in out, f"listed twice: {target} {test}"
            out[target, test] = CLASSES[cells[1]]
    return out


def manifest_classification(manifest: dict[str, object]) -> dict[tuple[str, str], str]:
    """(target, test) -> severity of every data test dbt parsed."""
    nodes = manifest["nodes"]
    assert isinstance(nodes, dict)
    out: dict[tuple[str, str], str] = {}
    for node in nodes.values():
        if node["resource_type"] != "test":
            continue
        meta = node.get("test_metadata")
        if not meta:
            key = (node["name"], "singular")
        else:
            attached = node.get("attached_node")
            base = attached.split(".")[-1] if attached else ".".join(node["sources"][0])
            column = node.get("column_name")
            key = (f"{base}.{column}" if column else base, meta["name"])
        assert key not in out, f"two tests with one key: {key}"
        out[key] = str(node["config"]["severity"]).lower()
    return out


def test_every_data_test_is_classified_in_the_readme(manifest: dict[str, object]) -> None:
    """The README's table is the project's tests, each with the severity dbt applies."""
    readme, parsed = readme_classification(), manifest_classification(manifest)
    assert sorted(set(parsed) - set(readme)) == [], "tests missing from the README's table"
    assert sorted(set(readme) - set(parsed)) == [], "README rows naming no test"
    wrong = {k: (readme[k], parsed[k]) for k in parsed if readme[k] != parsed[k]}
    assert wrong == {}, "README class (severity) != the test's severity"


def test_unmatched_data_warns_and_corrupting_data_blocks(manifest: dict[str, object]) -> None:
    """Orphan labels, duplicate reports and unknown merchants warn; keys, point in time
    and the training labels block."""
    parsed = manifest_classification(manifest)
    for key in [
        ("stg_bronze__fraud_labels.transaction_id", "relationships"),
        ("stg_bronze__fraud_labels.transaction_id", "unique"),
        ("int_fraud_labels.transaction_id", "relationships"),
        ("int_transactions_enriched.merchant_id", "relationships"),
        ("mart_terminal_risk_profiles.merchant_id", "relationships"),
    ]:
        assert parsed[key] == "warn", key
    for key in [
        ("int_transactions_enriched.transaction_id", "unique"),
        ("int_fraud_labels.transaction_id", "unique"),
        ("mart_fraud_features.transaction_id", "unique"),
        ("mart_fraud_features.is_fraud", "accepted_values"),
        ("mart_fraud_features", "features_complete"),
        ("assert_features_point_in_time", "singular"),
        ("assert_no_future_events", "singular"),
        ("assert_fraud_rate_sane", "singular"),
    ]:
        assert parsed[key] == "error", key
