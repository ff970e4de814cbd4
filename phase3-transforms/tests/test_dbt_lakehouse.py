"""Phase 3 end to end: 38 simulated days through phases 1-2, then dbt build on Trino.

The session fixture ``lakehouse`` (transforms.testing) produces the backfill, lands it in
bronze with the Spark writer and runs ``dbt seed`` + ``dbt build`` (models, their data
tests and unit tests) once; these tests check what the build produced.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from trino_helpers import BronzeHistory, bronze_history, query, scalar

from fraud_common.settings import PlatformSettings
from fraud_contracts.avro import decode
from fraud_contracts.features import (
    FEATURE_NAMES,
    TERMINAL_FEATURES,
    USER_RECORD,
    Event,
    TransactionContext,
    reference_features,
    reference_records,
    to_ms,
)
from fraud_contracts.registry import CachedSchemaLookup, SchemaRegistry
from fraud_testing.lakehouse import Lakehouse
from fraud_testing.stack import consume_all
from transforms.dbt import run_dbt

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

MARTS = (
    "mart_fraud_features",
    "mart_hourly_metrics",
    "mart_user_risk_profiles",
    "mart_terminal_risk_profiles",
)
SILVER = ("int_transactions_enriched", "int_user_velocity", "int_terminal_velocity")
COUNT_FEATURES = {n for n in FEATURE_NAMES if "_tx_count_" in n}


@pytest.fixture(scope="module")
def history(lakehouse: Lakehouse, settings: PlatformSettings) -> BronzeHistory:
    return bronze_history(settings)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def mismatches(
    expected: dict[str, float], row: dict[str, Any], names: tuple[str, ...]
) -> dict[str, Any]:
    return {n: (row[n], expected[n]) for n in names if not close(float(row[n]), expected[n])}


def test_one_row_per_bronze_transaction(lakehouse: Lakehouse, settings: PlatformSettings) -> None:
    counts = scalar(
        settings,
        "SELECT (SELECT count(*) FROM gold.mart_fraud_features) AS mart, "
        "(SELECT count(DISTINCT transaction_id) FROM gold.mart_fraud_features) AS mart_ids, "
        "(SELECT count(DISTINCT transaction_id) FROM bronze.transactions) AS bronze_ids, "
        "(SELECT count(*) FROM bronze.transactions b WHERE NOT EXISTS ("
        "  SELECT 1 FROM gold.mart_fraud_features f WHERE f.transaction_id = b.transaction_id"
        ")) AS missing",
    )
    assert counts["mart"] == counts["mart_ids"] == counts["bronze_ids"]
    assert counts["mart"] == lakehouse.backfill.transactions
    assert counts["missing"] == 0


def test_labels_match_the_labels_topic(lakehouse: Lakehouse, settings: PlatformSettings) -> None:
    messages = consume_all(
        settings.kafka_bootstrap_servers,
        settings.kafka_topic_labels,
        expected=lakehouse.backfill.labels,
    )
    lookup = CachedSchemaLookup(SchemaRegistry(settings.schema_registry_url))
    from_topic = {
        record["transaction_id"]: record["scenario"]
        for _, record in (decode(m.value(), lookup) for m in messages)
        if record["is_fraud"]
    }
    rows = query(
        settings,
        "SELECT transaction_id, fraud_scenario FROM gold.mart_fraud_features WHERE is_fraud = 1",
    )
    in_mart = {r["transaction_id"]: r["fraud_scenario"] for r in rows}
    assert len(from_topic) == lakehouse.backfill.labels > 0
    assert in_mart == from_topic
    rate = len(in_mart) / lakehouse.backfill.transactions
    assert 0.002 < rate < 0.03, rate


def test_point_in_time_features_equal_a_recomputation_from_bronze(
    lakehouse: Lakehouse, settings: PlatformSettings, history: BronzeHistory
) -> None:
    """1,000 random transactions: every feature recomputed in Python from bronze with only
    strictly earlier events (features.reference_features) equals the mart's."""
    columns = ", ".join(FEATURE_NAMES)
    rows = query(
        settings,
        f"SELECT transaction_id, user_id, merchant_id, event_time, {columns} "
        "FROM gold.mart_fraud_features ORDER BY xxhash64(to_utf8(transaction_id)) LIMIT 1000",
    )
    assert len(rows) == 1000
    wrong: dict[str, Any] = {}
    for row in rows:
        tx = TransactionContext(row["amount"], bool(row["is_international"]), row["event_time"])
        expected = reference_features(
            tx, history.by_user[row["user_id"]], history.by_terminal[row["merchant_id"]]
        )
        diff = mismatches(expected, row, FEATURE_NAMES)
        if diff:
            wrong[row["transaction_id"]] = diff
    assert not wrong, f"{len(wrong)} of 1000 differ, e.g. {list(wrong.items())[:3]}"
    # The sample exercises the windows: not all zeros and defaults.
    assert sum(r["user_tx_count_24h"] > 0 for r in rows) > 100
    assert sum(r["terminal_risk_30d"] > 0 for r in rows) > 5


def test_online_profiles_equal_the_features_of_a_transaction_at_as_of(
    lakehouse: Lakehouse, settings: PlatformSettings, history: BronzeHistory
) -> None:
    """The per-user and per-terminal rows the feature store serves are exactly what a
    transaction at ``as_of`` would get (so online and training vectors agree)."""
    users = query(
        settings,
        f"SELECT user_id, as_of, {', '.join(USER_RECORD)} FROM gold.mart_user_risk_profiles",
    )
    terminals = query(
        settings,
        "SELECT merchant_id, as_of, "
        f"{', '.join(TERMINAL_FEATURES)} FROM gold.mart_terminal_risk_profiles",
    )
    as_of = {r["as_of"] for r in users} | {r["as_of"] for r in terminals}
    assert len(as_of) == 1, as_of
    (moment,) = as_of
    newest = max(e.time_ms for events in history.by_user.values() for e in events)
    assert to_ms(moment) == newest + 1
    rng = random.Random(7)
    none: list[Event] = []
    wrong = []
    for row in rng.sample(users, 300):
        user, _ = reference_records(
            TransactionContext(1.0, False, moment), history.by_user[row["user_id"]], none
        )
        if diff := mismatches(dict(user.values), row, USER_RECORD):
            wrong.append((row["user_id"], diff))
    for row in rng.sample(terminals, 300):
        ref = reference_features(
            TransactionContext(1.0, False, moment), none, history.by_terminal[row["merchant_id"]]
        )
        if diff := mismatches(ref, row, TERMINAL_FEATURES):
            wrong.append((row["merchant_id"], diff))
    assert not wrong, wrong[:3]
    assert sum(r["user_tx_count_30d"] > 0 for r in users) > len(users) // 2


def table_counts(settings: PlatformSettings) -> dict[str, Any]:
    parts = [f"(SELECT count(*) FROM gold.{m}) AS {m}" for m in MARTS]
    parts += [f"(SELECT count(*) FROM silver.{m}) AS {m}" for m in SILVER]
    parts.append("(SELECT sum(is_fraud) FROM gold.mart_fraud_features) AS frauds")
    parts.append("(SELECT sum(fraud_count) FROM gold.mart_hourly_metrics) AS hourly_frauds")
    return scalar(settings, "SELECT " + ", ".join(parts))


#: incremental models that must merge nothing when nothing new landed (the profile marts
#: recompute their active users as of the newest event on every run, by design)
NO_OP_MODELS = (
    "int_transactions_enriched",
    "int_user_velocity",
    "int_terminal_velocity",
    "mart_fraud_features",
    "mart_hourly_metrics",
)


def test_a_second_run_changes_no_row_count(
    lakehouse: Lakehouse, settings: PlatformSettings, tmp_path: Path
) -> None:
    before = table_counts(settings)
    target = tmp_path / "target"
    run_dbt(["run", "--target-path", str(target)], settings)
    after = table_counts(settings)
    assert after == before
    assert before["frauds"] == before["hourly_frauds"] == lakehouse.backfill.labels
    # and merges nothing: watermarks from the Delta statistics, the enriched model's
    # anti-join (before it, each no-op run re-merged the newest landing's last 2 minutes,
    # after a backfill the whole backfill, and everything downstream recomputed)
    results = json.loads((target / "run_results.json").read_text())["results"]
    merged = {
        r["unique_id"].split(".")[-1]: (r.get("adapter_response") or {}).get("rows_affected")
        for r in results
    }
    assert {m: merged.get(m) for m in NO_OP_MODELS} == dict.fromkeys(NO_OP_MODELS, 0)
