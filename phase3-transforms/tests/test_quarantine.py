"""No single bad record stops the pipeline (issue 17): unmatched data is quarantined and
counted, the build still passes, and a repaired record joins on the next run.

Two days of the lakehouse's bronze are copied into a side bronze schema with bad records
added: two orphan labels (one whose transaction will land later, one for an event in the
future that the bronze writer sent to the DLQ: its label still landed, as a chargeback
would), a second report of a labelled transaction, and two transactions at a terminal
missing from the merchant reference data. ``dbt build`` into side silver/gold schemas
must pass with warnings only; each bad record must be in its quarantine with its reason;
the unknown terminal's transactions must have features (equal to the reference
computation) and a profile; ``fraud-quarantine`` must log the sizes. Then the missing
transaction lands and an incremental ``dbt build`` must resolve its label's quarantine
row (first_seen_at kept) and put the label on its training row; a further run with
nothing new merges nothing into the quarantines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from trino_helpers import SideLake, query

from fraud_common.settings import PlatformSettings
from fraud_common.trino import sql_literal
from fraud_contracts.features import (
    FEATURE_NAMES,
    Event,
    TransactionContext,
    reference_features,
    to_ms,
)
from fraud_infra.backfill import Backfill, ensure_backfill
from fraud_testing.lakehouse import BACKFILL_DAYS, BACKFILL_MALFORMED, BACKFILL_SEED
from transforms.dbt import run_dbt

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

DAYS = 2
UNKNOWN_MERCHANT = "M99999"
UNKNOWN_TX = ("q17-unknown-terminal-1", "q17-unknown-terminal-2")
ORPHAN_REPAIRED = "q17-orphan-repaired"  # its transaction lands on the second run
ORPHAN_FUTURE = "q17-orphan-future"  # its transaction is in the DLQ for good
QUARANTINES = (
    "quarantine_orphan_labels",
    "quarantine_duplicate_labels",
    "quarantine_unknown_merchants",
)


@dataclass(frozen=True)
class Side(SideLake):
    """The side lake of this module: one silver/gold pair named after the tag."""

    @property
    def silver(self) -> str:
        return self.layer("silver")

    @property
    def gold(self) -> str:
        return self.layer("gold")

    def rows(self, statement: str) -> list[dict[str, Any]]:
        """A query's rows as dicts of Python values (timestamps as datetimes)."""
        return query(self.settings, statement)

    def dbt(self, target: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return run_dbt(
            [
                *args,
                "--vars",
                self.dbt_vars(),
                "--target-path",
                str(target),
                "--log-path",
                str(target),
            ],
            self.settings,
            check=False,
            capture=True,
        )


@pytest.fixture(scope="module")
def bronze_backfill(platform_env: dict[str, str], settings: PlatformSettings) -> Backfill:
    """The session's history in bronze (landed once per stack; dbt not run: this module
    builds its own schemas)."""
    env = {k: v for k, v in platform_env.items() if k.isupper()}
    backfill, _ = ensure_backfill(
        settings, env, days=BACKFILL_DAYS, seed=BACKFILL_SEED, malformed=BACKFILL_MALFORMED
    )
    return backfill


@pytest.fixture(scope="module")
def side(bronze_backfill: Backfill, settings: PlatformSettings) -> Iterator[Side]:
    side = Side(settings, f"q{uuid.uuid4().hex[:6]}")
    try:
        yield side
    finally:
        side.drop()


def ts(expr: str) -> str:
    """A Trino timestamp(3) with time zone literal of a value read back from Trino."""
    return f"from_iso8601_timestamp({sql_literal(expr)})"


def land_bad_bronze(side: Side) -> dict[str, Any]:
    """Two days of bronze plus the bad records; returns what the assertions need."""
    (start,) = side.sql("SELECT to_iso8601(min(event_time)) FROM bronze.transactions")[0]
    window = f"event_time < {ts(start)} + INTERVAL '{DAYS}' DAY"
    side.create_bronze()
    side.copy("transactions", window, {}, create=True)
    side.copy(
        "fraud_labels",
        f"transaction_id IN (SELECT transaction_id FROM bronze.transactions WHERE {window})",
        {},
        create=True,
    )
    # a second report of a labelled transaction of the window, an hour after the first
    (dup_id,) = side.sql(f"SELECT min(transaction_id) FROM {side.bronze}.fraud_labels")[0]
    side.copy(
        "fraud_labels",
        f"transaction_id = {sql_literal(dup_id)}",
        {
            "reported_at": "reported_at + INTERVAL '1' HOUR",
            "kafka_offset": "kafka_offset + 3000000",
        },
    )
    # a card-present transaction of the window's second day: the bad records copy it
    (base_id, base_time) = side.sql(
        f"SELECT transaction_id, to_iso8601(event_time) FROM bronze.transactions "
        f"WHERE {window} AND channel = 'pos' AND event_time > {ts(start)} + INTERVAL '1' DAY "
        "ORDER BY transaction_id LIMIT 1"
    )[0]
    base = f"transaction_id = {sql_literal(base_id)}"
    t0 = ts(base_time)

    # a terminal new to the reference data: two transactions 30 minutes apart
    for i, (tx_id, minutes) in enumerate(zip(UNKNOWN_TX, (1, 31), strict=True)):
        side.copy(
            "transactions",
            base,
            {
                "transaction_id": sql_literal(tx_id),
                "merchant_id": sql_literal(UNKNOWN_MERCHANT),
                "merchant_name": "'Pop-up Stall'",
                "merchant_category": "'retail'",
                "amount": f"{40.0 + 10 * i}",
                "event_time": f"{t0} + INTERVAL '{minutes}' MINUTE",
                "event_date": f"CAST({t0} + INTERVAL '{minutes}' MINUTE AS date)",
                "kafka_offset": f"kafka_offset + {1_000_000 + i}",
            },
        )
    # the label of a fraud whose transaction has not landed (it will, on the next run)
    label = {
        "user_id": f"(SELECT user_id FROM bronze.transactions WHERE {base})",
        "is_fraud": "true",
        "scenario": "'card_testing'",
        "kafka_offset": "kafka_offset + 2000000",
    }
    any_label = "transaction_id = (SELECT min(transaction_id) FROM bronze.fraud_labels)"
    side.copy(
        "fraud_labels",
        any_label,
        {
            **label,
            "transaction_id": sql_literal(ORPHAN_REPAIRED),
            "event_time": f"{t0} + INTERVAL '2' MINUTE",
            "reported_at": f"{t0} + INTERVAL '1' DAY",
            "event_date": f"CAST({t0} + INTERVAL '2' MINUTE AS date)",
        },
    )
    # the label of an event from the future, which the bronze writer sent to the DLQ
    side.copy(
        "fraud_labels",
        any_label,
        {
            **label,
            "transaction_id": sql_literal(ORPHAN_FUTURE),
            "event_time": "current_timestamp + INTERVAL '2' DAY",
            "reported_at": "current_timestamp + INTERVAL '3' DAY",
            "event_date": "CAST(current_timestamp + INTERVAL '2' DAY AS date)",
            "kafka_offset": "kafka_offset + 2000001",
        },
    )
    return {"base": base, "t0": t0, "duplicate_of": dup_id}


def results(target: Path) -> dict[str, dict[str, Any]]:
    """dbt's run_results.json: node name -> result."""
    data = json.loads((target / "run_results.json").read_text())
    return {str(r["unique_id"]).split(".")[2]: r for r in data["results"]}


def warned(target: Path) -> dict[str, int]:
    return {
        name: int(r.get("failures") or 0)
        for name, r in results(target).items()
        if r["status"] == "warn"
    }


def assert_passed_with_warnings(proc: subprocess.CompletedProcess[str], target: Path) -> None:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    bad = {n: r["status"] for n, r in results(target).items() if r["status"] in {"error", "fail"}}
    assert bad == {}


def failures(found: Mapping[str, int], prefix: str) -> int:
    (name,) = [n for n in found if n.startswith(prefix)]
    return found[name]


def report(side: Side, target: Path) -> dict[str, Any]:
    """``fraud-quarantine`` (the console script) on the side build: its one JSON line."""
    env = {
        **os.environ,
        "TRINO_HOST": side.settings.trino_host,
        "TRINO_PORT": str(side.settings.trino_port),
        "TRINO_CATALOG": side.catalog,
        "LOG_FORMAT": "json",
    }
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("fraud-quarantine")),
            "--schema-suffix",
            side.tag,
            "--run-results",
            str(target / "run_results.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if '"quarantine sizes"' in ln]
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def events(side: Side, column: str, value: str) -> list[Event]:
    """The side bronze's transactions of one user or terminal, with their fraud report time
    (the reference computation's input, as trino_helpers.bronze_history reads bronze)."""
    rows = side.rows(
        "SELECT t.event_time, t.amount, min(l.reported_at) AS reported "
        f"FROM {side.bronze}.transactions t LEFT JOIN {side.bronze}.fraud_labels l "
        "ON l.transaction_id = t.transaction_id AND l.is_fraud "
        f"WHERE t.{column} = {sql_literal(value)} "
        "GROUP BY t.transaction_id, t.event_time, t.amount"
    )
    return [
        Event(
            to_ms(r["event_time"]),
            float(r["amount"]),
            to_ms(r["reported"]) if r["reported"] is not None else None,
        )
        for r in rows
    ]


def test_bad_records_are_quarantined_counted_and_repaired_without_blocking(
    side: Side, tmp_path: Path
) -> None:
    landed = land_bad_bronze(side)

    # ---------------------------------------------------------------- first build
    first = tmp_path / "first"
    assert_passed_with_warnings(side.dbt(first, "build"), first)
    found = warned(first)
    assert failures(found, "relationships_stg_bronze__fraud_labels_transaction_id") == 2
    assert failures(found, "relationships_int_fraud_labels_transaction_id") == 2
    assert failures(found, "unique_stg_bronze__fraud_labels_transaction_id") == 1
    assert failures(found, "relationships_int_transactions_enriched_merchant_id") == 2
    assert failures(found, "relationships_mart_terminal_risk_profiles_merchant_id") == 1
    assert results(first)["assert_no_future_events"]["status"] == "pass"

    orphans = side.rows(
        f"SELECT transaction_id, reason, first_seen_at, resolved_at FROM "
        f"{side.silver}.quarantine_orphan_labels ORDER BY transaction_id"
    )
    assert [(r["transaction_id"], r["reason"], r["resolved_at"]) for r in orphans] == [
        (ORPHAN_FUTURE, "transaction_not_found", None),
        (ORPHAN_REPAIRED, "transaction_not_found", None),
    ]
    first_seen = {r["transaction_id"]: r["first_seen_at"] for r in orphans}
    assert all(first_seen.values())

    duplicates = side.sql(
        f"SELECT transaction_id, reason, report_rank FROM {side.silver}.quarantine_duplicate_labels"
    )
    assert duplicates == [[landed["duplicate_of"], "duplicate_report", 2]]

    unknown = side.sql(
        f"SELECT transaction_id, merchant_id, merchant_name, merchant_category, reason "
        f"FROM {side.silver}.quarantine_unknown_merchants ORDER BY transaction_id"
    )
    assert unknown == [
        [tx, UNKNOWN_MERCHANT, "Pop-up Stall", "retail", "merchant_not_in_reference"]
        for tx in UNKNOWN_TX
    ]

    # the unknown terminal's transactions: default enrichment, features, a profile
    enriched = side.sql(
        f"SELECT merchant_name, merchant_category, is_known_merchant, "
        f"merchant_country = country FROM {side.silver}.int_transactions_enriched "
        f"WHERE merchant_id = {sql_literal(UNKNOWN_MERCHANT)}"
    )
    assert enriched == [["Pop-up Stall", "retail", False, True]] * 2
    columns = ", ".join(FEATURE_NAMES)
    features = side.rows(
        f"SELECT transaction_id, user_id, event_time, {columns} "
        f"FROM {side.gold}.mart_fraud_features "
        f"WHERE merchant_id = {sql_literal(UNKNOWN_MERCHANT)} ORDER BY transaction_id"
    )
    assert [r["transaction_id"] for r in features] == list(UNKNOWN_TX)
    terminal = events(side, "merchant_id", UNKNOWN_MERCHANT)
    for row in features:
        user = events(side, "user_id", row["user_id"])
        context = TransactionContext(
            row["amount"], bool(row["is_international"]), row["event_time"]
        )
        expected = reference_features(context, user, terminal)
        assert {n: row[n] for n in FEATURE_NAMES} == pytest.approx(expected), row["transaction_id"]
    assert features[1]["terminal_tx_count_1h"] == 1.0
    assert features[1]["terminal_avg_amount_1h"] == features[0]["amount"]
    assert features[1]["user_tx_count_30d"] > 0
    profile = side.sql(
        f"SELECT terminal_tx_count_30d FROM {side.gold}.mart_terminal_risk_profiles "
        f"WHERE merchant_id = {sql_literal(UNKNOWN_MERCHANT)}"
    )
    assert profile == [[2.0]]

    sizes = report(side, first)
    assert {k: sizes[k] for k in ("orphan_labels", "orphan_labels_resolved", "duplicate_labels",
                                   "unknown_merchant_transactions", "unknown_merchants")} == {
        "orphan_labels": 2,
        "orphan_labels_resolved": 0,
        "duplicate_labels": 1,
        "unknown_merchant_transactions": 2,
        "unknown_merchants": 1,
    }  # fmt: skip
    assert sizes["schema"] == f"silver_{side.tag}"
    assert sizes["tests_warned"] == len(found) >= 5

    # ---------------------------------------------------------------- the repair
    side.copy(
        "transactions",
        landed["base"],
        {
            "transaction_id": sql_literal(ORPHAN_REPAIRED),
            "event_time": f"{landed['t0']} + INTERVAL '2' MINUTE",
            "event_date": f"CAST({landed['t0']} + INTERVAL '2' MINUTE AS date)",
            "kafka_offset": "kafka_offset + 4000000",
        },
    )
    second = tmp_path / "second"
    assert_passed_with_warnings(side.dbt(second, "build"), second)
    assert failures(warned(second), "relationships_int_fraud_labels_transaction_id") == 1

    after = {
        r["transaction_id"]: r
        for r in side.rows(
            "SELECT transaction_id, first_seen_at, resolved_at "
            f"FROM {side.silver}.quarantine_orphan_labels"
        )
    }
    assert after[ORPHAN_REPAIRED]["resolved_at"] is not None
    assert after[ORPHAN_FUTURE]["resolved_at"] is None
    assert {t: r["first_seen_at"] for t, r in after.items()} == first_seen
    training = side.sql(
        "SELECT is_fraud, fraud_scenario, label_reported_at IS NOT NULL "
        f"FROM {side.gold}.mart_fraud_features "
        f"WHERE transaction_id = {sql_literal(ORPHAN_REPAIRED)}"
    )
    assert training == [[1, "card_testing", True]]
    sizes = report(side, second)
    assert (sizes["orphan_labels"], sizes["orphan_labels_resolved"]) == (1, 1)
    assert (sizes["duplicate_labels"], sizes["unknown_merchant_transactions"]) == (1, 2)

    # ---------------------------------------------------------------- nothing new
    third = tmp_path / "third"
    proc = side.dbt(third, "run", "--select", "intermediate.quarantine")
    assert proc.returncode == 0, proc.stdout[-4000:]
    ran = results(third)
    merged = {m: (ran[m].get("adapter_response") or {}).get("rows_affected") for m in QUARANTINES}
    assert merged == dict.fromkeys(QUARANTINES, 0)
