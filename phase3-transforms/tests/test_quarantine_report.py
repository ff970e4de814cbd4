"""Unit checks of ``fraud-quarantine`` (transforms/quarantine.py): it reads Trino as the
dbt profile does, names every quarantine model, and reports the tests that warned in
dbt's last test run (its end-to-end run is in test_quarantine.py)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from transforms import quarantine
from transforms.dbt import project_dir

pytestmark = pytest.mark.unit


def test_trino_address_defaults_are_the_dbt_profiles() -> None:
    profile = yaml.safe_load((project_dir() / "profiles.yml").read_text())
    output = profile["fraud_platform"]["outputs"]["trino"]
    defaults = {
        key: re.search(r"env_var\('(\w+)', '([^']*)'\)", str(output[key])).groups()  # type: ignore[union-attr]
        for key in ("host", "port", "user", "database")
    }
    target = quarantine.TrinoTarget.from_env({})
    assert defaults["host"] == ("TRINO_HOST", target.trino_host)
    assert defaults["port"] == ("TRINO_PORT", str(target.trino_port))
    assert defaults["user"] == ("TRINO_USER", target.trino_user)
    assert defaults["database"] == ("TRINO_CATALOG", target.trino_catalog)
    custom = quarantine.TrinoTarget.from_env({"TRINO_HOST": "trino", "TRINO_PORT": "9"})
    assert (custom.trino_host, custom.trino_port) == ("trino", 9)


def test_sizes_read_every_quarantine_model_of_the_schema() -> None:
    models = {p.stem for p in (project_dir() / "models").rglob("quarantine_*.sql")}
    sql = quarantine.sizes_sql("delta", quarantine.schema_name("q17"))
    assert {table for table, _ in quarantine.SIZES.values()} == models
    for table in models:
        assert f'"delta"."silver_q17"."{table}"' in sql
    assert quarantine.schema_name() == "silver"


def run_results(path: Path, which: str, statuses: dict[str, tuple[str, int]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "metadata": {"generated_at": "2026-12-02T05:00:00Z"},
                "args": {"which": which},
                "results": [
                    {"unique_id": f"test.fraud_transforms.{name}.abc123", "status": status,
                     "failures": failures}
                    for name, (status, failures) in statuses.items()
                ],
            }
        )
    )  # fmt: skip
    return path


def test_warned_tests_come_from_the_last_test_run(tmp_path: Path) -> None:
    statuses = {
        "relationships_int_fraud_labels_transaction_id": ("warn", 84),
        "unique_int_fraud_labels_transaction_id": ("pass", 0),
        "accepted_values_stg_bronze__transactions_channel": ("warn", 1),
    }
    warned, at = quarantine.warned_tests(run_results(tmp_path / "t.json", "test", statuses))
    assert warned == {
        "relationships_int_fraud_labels_transaction_id": 84,
        "accepted_values_stg_bronze__transactions_channel": 1,
    }
    assert at == "2026-12-02T05:00:00Z"
    # a `dbt run` ran no tests, and a missing file is no results
    assert quarantine.warned_tests(run_results(tmp_path / "r.json", "run", statuses)) == ({}, None)
    assert quarantine.warned_tests(tmp_path / "missing.json") == ({}, None)


def test_run_results_default_to_dbt_target_path(tmp_path: Path) -> None:
    env = {"DBT_TARGET_PATH": str(tmp_path)}
    assert quarantine.default_run_results(env) == tmp_path / "run_results.json"
    assert quarantine.default_run_results({}) == project_dir() / "target" / "run_results.json"


def test_an_unreachable_trino_fails_with_one_error_line(tmp_path: Path) -> None:
    """Run as the task runs it (a process: configuring logging in pytest's own process
    would leave structlog writing to a captured stream after the test)."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "TRINO_HOST": "127.0.0.1", "TRINO_PORT": str(port), "LOG_FORMAT": "json"}
    proc = subprocess.run(
        [sys.executable, "-m", "transforms.quarantine"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    record = json.loads(line)
    assert record["event"] == "quarantine sizes unreadable"
    assert record["schema"] == "silver"
