"""Incremental runs build the same gold as a full refresh, row for row.

Six days of the lakehouse's bronze are copied into a side bronze schema in two landings:
the first holds the events before a cut-off (minus a fifth of the last 90 minutes'
events, held back) and the labels reported before it; it is built from scratch into side
silver/gold schemas. The second landing, stamped later, holds the rest: the held-back
events (late by up to 90 minutes, inside the models' late-event lookback), the events
after the cut-off and the labels reported since, many of them for transactions of the
first landing. An incremental run over that is compared, for every gold table, with a
``--full-refresh`` build of the same bronze into other schemas: both directions of
``EXCEPT ALL`` must be empty (run bookkeeping columns aside).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from trino_helpers import SideLake

from fraud_common.settings import PlatformSettings
from fraud_testing.lakehouse import Lakehouse
from transforms.dbt import run_dbt

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

#: gold table -> its merge key
GOLD = {
    "mart_fraud_features": ("transaction_id", "event_date"),
    "mart_hourly_metrics": ("hour_start",),
    "mart_user_risk_profiles": ("user_id",),
    "mart_terminal_risk_profiles": ("merchant_id",),
}
#: sums and averages over the same rows may differ in their last bits with the order
#: Trino aggregates them in (a merge recomputes a group from other splits than a build)
REL_TOL = 1e-9
#: when a row was (re)computed, not what it says: differs between the two paths by design
BOOKKEEPING = {"_batch_at", "_source_batch_at"}
DAYS = 6
CUT_BEFORE_END = timedelta(hours=36)
LATE_WINDOW = timedelta(minutes=90)


def build(side: SideLake, suffix: str, *args: str) -> None:
    """Seed and models in one dbt process (``dbt seed`` + ``dbt run``, no tests)."""
    no_tests = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    run_dbt(["build", *no_tests, *args, "--vars", side.dbt_vars(suffix)], side.settings)


@pytest.fixture(scope="module")
def side(lakehouse: Lakehouse, settings: PlatformSettings) -> Iterator[SideLake]:
    side = SideLake(settings, f"inc{uuid.uuid4().hex[:6]}")
    try:
        yield side
    finally:
        side.drop()


def test_incremental_runs_equal_a_full_refresh(side: SideLake) -> None:
    end = side.sql(f"SELECT to_unixtime(max(event_time)) FROM {side.catalog}.bronze.transactions")
    end_sql = f"from_unixtime({float(str(end[0][0])):.3f})"

    def ts(delta: timedelta) -> str:
        return f"({end_sql} - INTERVAL '{int(delta.total_seconds())}' SECOND)"

    start, cut, late_from = (
        ts(timedelta(days=DAYS)),
        ts(CUT_BEFORE_END),
        ts(CUT_BEFORE_END + LATE_WINDOW),
    )
    # a fifth of the last 90 minutes before the cut-off lands only with the second batch
    held_back = (
        f"(event_time >= {late_from} AND event_time < {cut} "
        "AND from_big_endian_64(substr(xxhash64(to_utf8(transaction_id)), 1, 8)) % 5 = 0)"
    )
    window = f"event_time >= {start}"
    in_window = (
        f"transaction_id IN (SELECT transaction_id FROM {side.catalog}.bronze.transactions "
        f"WHERE {window})"
    )
    side.create_bronze()
    first_tx = side.copy(
        "transactions", f"{window} AND event_time < {cut} AND NOT {held_back}", create=True
    )
    first_labels = side.copy("fraud_labels", f"{in_window} AND reported_at < {cut}", create=True)
    build(side, f"inc_{side.tag}")

    all_tx = side.copy("transactions", f"({window} AND event_time >= {cut}) OR {held_back}")
    all_labels = side.copy("fraud_labels", f"{in_window} AND reported_at >= {cut}")
    late = all_tx - first_tx
    assert first_tx > 10_000 and late > 1_000, (first_tx, all_tx)
    assert all_labels > first_labels > 0, (first_labels, all_labels)
    build(side, f"inc_{side.tag}")
    build(side, f"full_{side.tag}", "--full-refresh")

    differences = {
        table: diff
        for table, key in GOLD.items()
        if (diff := _differences(side, table, key, f"gold_inc_{side.tag}", f"gold_full_{side.tag}"))
    }
    assert not differences, differences


def _differences(
    side: SideLake, table: str, key: tuple[str, ...], inc: str, full: str
) -> dict[str, int]:
    """Rows only on one side, and per column the rows whose values differ (doubles beyond
    a relative 1e-9), between the incremental and the full-refresh table."""
    types = {c: t for c, t in side.column_types(full, table).items() if c not in BOOKKEEPING}
    assert types, f"{full}.{table} has no columns"
    a, b = f"{side.catalog}.{inc}.{table}", f"{side.catalog}.{full}.{table}"
    on = " AND ".join(f'i."{k}" = f."{k}"' for k in key)
    checks = {
        "only incremental": f'f."{key[0]}" IS NULL',
        "only full refresh": f'i."{key[0]}" IS NULL',
    }
    for c, t in types.items():
        if c in key:
            continue
        if t in ("double", "real"):
            checks[c] = (
                f'(i."{c}" IS NULL) <> (f."{c}" IS NULL) OR abs(i."{c}" - f."{c}") > '
                f'{REL_TOL} * greatest(1e0, abs(f."{c}"))'
            )
        else:
            checks[c] = f'i."{c}" IS DISTINCT FROM f."{c}"'
    counts = ", ".join(f"count_if({cond})" for cond in checks.values())
    row = side.sql(f"SELECT count(*), {counts} FROM {a} AS i FULL OUTER JOIN {b} AS f ON {on}")[0]
    assert int(str(row[0])) > 0, f"{a} and {b} are empty"
    found = {name: int(str(n)) for name, n in zip(checks, row[1:], strict=True)}
    return {name: n for name, n in found.items() if n}
