"""How much incomplete or unmatched data the pipeline set aside, as one log line.

The dbt project keeps data that corrupts nothing but matches nothing in quarantine
models of silver (``models/intermediate/quarantine``; the rule is in the project's
README): labels whose transaction has not landed, later reports of a labelled
transaction, transactions at terminals missing from the reference data. Their tests
warn instead of blocking, so they must be counted somewhere visible: ``fraud-quarantine``
reads the quarantine sizes through Trino and logs them as one structured line, with the
tests that warned in the last ``dbt test``/``dbt build`` (dbt's ``run_results.json``)::

    fraud-quarantine                       # silver's quarantines
    fraud-quarantine --schema-suffix q17   # a side build (dbt --vars '{schema_suffix: q17}')

``fraud_pipeline`` runs it as its last task. Trino's address comes from the variables the
dbt profile reads (``TRINO_HOST``, ``TRINO_PORT``, ``TRINO_CATALOG``, ``TRINO_USER``),
so it runs with the Airflow tasks' environment and needs no secret.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from fraud_common.logs import configure_logging
from fraud_common.trino import TrinoError, execute
from transforms.dbt import project_dir

log = structlog.get_logger(__name__)

#: the schema of the quarantine models (dbt_project.yml: intermediate -> silver)
SCHEMA = "silver"

#: reported size -> (quarantine model, aggregate over it). "Open" rows are those not
#: resolved yet (an orphan label whose transaction landed, an unknown merchant that is
#: in the reference data now, is resolved); a duplicate report stays one.
SIZES: dict[str, tuple[str, str]] = {
    "orphan_labels": ("quarantine_orphan_labels", "count_if(resolved_at IS NULL)"),
    "orphan_labels_resolved": ("quarantine_orphan_labels", "count_if(resolved_at IS NOT NULL)"),
    "duplicate_labels": ("quarantine_duplicate_labels", "count(*)"),
    "unknown_merchant_transactions": (
        "quarantine_unknown_merchants",
        "count_if(resolved_at IS NULL)",
    ),
    "unknown_merchants": (
        "quarantine_unknown_merchants",
        "count(DISTINCT merchant_id) FILTER (WHERE resolved_at IS NULL)",
    ),
}


@dataclass
class TrinoTarget:
    """Trino's address as the dbt profile reads it (same variables, same defaults)."""

    trino_host: str = "127.0.0.1"
    trino_port: int = 8085
    trino_catalog: str = "delta"
    trino_user: str = "dbt"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrinoTarget:
        default = cls()
        return cls(
            trino_host=env.get("TRINO_HOST", default.trino_host),
            trino_port=int(env.get("TRINO_PORT", default.trino_port)),
            trino_catalog=env.get("TRINO_CATALOG", default.trino_catalog),
            trino_user=env.get("TRINO_USER", default.trino_user),
        )


def schema_name(suffix: str = "") -> str:
    """The quarantines' schema for dbt's ``schema_suffix`` var (macro generate_schema_name)."""
    return f"{SCHEMA}_{suffix}" if suffix else SCHEMA


def sizes_sql(catalog: str, schema: str) -> str:
    """One statement returning every size of :data:`SIZES` as a column."""
    columns = ", ".join(
        f'(SELECT {aggregate} FROM "{catalog}"."{schema}"."{table}") AS {name}'  # noqa: S608
        for name, (table, aggregate) in SIZES.items()
    )
    return f"SELECT {columns}"


def quarantine_sizes(target: TrinoTarget, schema: str = SCHEMA) -> dict[str, int]:
    """The current size of every quarantine (see :data:`SIZES`)."""
    (row,) = execute(target, sizes_sql(target.trino_catalog, schema), user=target.trino_user)
    return {name: int(value) for name, value in zip(SIZES, row, strict=True)}


def default_run_results(env: Mapping[str, str]) -> Path:
    """Where dbt wrote its last ``run_results.json`` (``DBT_TARGET_PATH`` or the project's)."""
    target = env.get("DBT_TARGET_PATH")
    return (Path(target) if target else project_dir() / "target") / "run_results.json"


def warned_tests(run_results: Path) -> tuple[dict[str, int], str | None]:
    """Tests that warned in dbt's last ``test``/``build`` (name -> failing rows), and when
    it ran; empty when the last dbt command ran no tests or left no results."""
    try:
        results: dict[str, Any] = json.loads(run_results.read_text())
    except (OSError, ValueError):
        return {}, None
    if results.get("args", {}).get("which") not in {"test", "build"}:
        return {}, None
    warned = {
        str(r["unique_id"]).split(".")[2]: int(r.get("failures") or 0)
        for r in results.get("results", [])
        if r.get("status") == "warn"
    }
    return warned, results.get("metadata", {}).get("generated_at")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fraud-quarantine", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--schema-suffix", default="", help="dbt var schema_suffix of the build to read"
    )
    parser.add_argument(
        "--run-results",
        type=Path,
        default=None,
        help="dbt's run_results.json (default: $DBT_TARGET_PATH or the project's target/)",
    )
    args = parser.parse_args(argv)
    configure_logging()
    schema = schema_name(args.schema_suffix)
    try:
        sizes = quarantine_sizes(TrinoTarget.from_env(os.environ), schema)
    except (TrinoError, OSError) as err:  # requests' errors are OSErrors
        log.error("quarantine sizes unreadable", schema=schema, error=str(err))
        return 1
    warned, tested_at = warned_tests(args.run_results or default_run_results(os.environ))
    log.info(
        "quarantine sizes",
        schema=schema,
        **sizes,
        tests_warned=len(warned),
        warnings=warned,
        tests_at=tested_at,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
