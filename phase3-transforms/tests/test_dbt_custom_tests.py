"""Each custom dbt test can fail: run its compiled SQL against a deliberately broken copy
of the mart (it must return rows) and against the real mart (it must return none)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from trino_helpers import query

from fraud_common.settings import PlatformSettings
from fraud_testing.lakehouse import Lakehouse
from transforms.dbt import run_dbt

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

MART = "mart_fraud_features"

#: test selector -> (column, broken expression, which rows get it)
BREAKAGES: dict[str, tuple[str, str, str]] = {
    # fraud rate computed from labels: wipe the labels -> rate 0 and labels unaccounted for
    "assert_fraud_rate_sane": ("is_fraud", "0", "true"),
    # an event from tomorrow
    "assert_no_future_events": (
        "event_time",
        "current_timestamp + interval '1' day",
        "transaction_id = (SELECT min(transaction_id) FROM {mart})",
    ),
    # a window that counts the transaction itself (the classic off-by-one frame)
    "assert_features_point_in_time": ("user_tx_count_1h", "user_tx_count_1h + 1", "true"),
    # a feature left null (defaults not applied)
    "test_name:features_complete": (
        "terminal_risk_7d",
        "CAST(NULL AS double)",
        "transaction_id = (SELECT min(transaction_id) FROM {mart})",
    ),
}


@pytest.fixture(scope="module")
def scratch(lakehouse: Lakehouse, settings: PlatformSettings) -> Iterator[str]:
    """A schema of this test module (dropped afterwards), at its own S3 prefix."""
    name = f"pytest_{uuid.uuid4().hex[:8]}"
    location = f"s3://{settings.s3_bucket}/test/{name}"
    query(settings, f"CREATE SCHEMA {settings.trino_catalog}.{name} WITH (location = '{location}')")
    yield name
    for row in query(settings, f"SHOW TABLES FROM {settings.trino_catalog}.{name}"):
        query(settings, f"DROP TABLE {settings.trino_catalog}.{name}.{row['Table']}")
    query(settings, f"DROP SCHEMA {settings.trino_catalog}.{name}")


@pytest.fixture(scope="module")
def compiled(
    lakehouse: Lakehouse, settings: PlatformSettings, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The compiled SQL of every test in BREAKAGES (one ``dbt compile`` for all)."""
    target = tmp_path_factory.mktemp("dbt-target")
    run_dbt(
        ["compile", "--select", *sorted(BREAKAGES), "--target-path", str(target)],
        settings,
        capture=True,
    )
    out = {}
    for selector in BREAKAGES:
        name = selector.split(":")[-1]
        (path,) = [p for p in (target / "compiled").rglob("*.sql") if p.stem.startswith(name)]
        out[selector] = path.read_text()
    return out


def broken_copy(settings: PlatformSettings, scratch: str, selector: str) -> str:
    column, expression, where = BREAKAGES[selector]
    catalog = settings.trino_catalog
    mart = f"{catalog}.gold.{MART}"
    columns = [
        r["column_name"]
        for r in query(
            settings,
            f"SELECT column_name FROM {catalog}.information_schema.columns "
            f"WHERE table_schema = 'gold' AND table_name = '{MART}' ORDER BY ordinal_position",
        )
    ]
    condition = where.format(mart=mart)
    select = ", ".join(
        f"CASE WHEN {condition} THEN {expression} ELSE {c} END AS {c}" if c == column else c
        for c in columns
    )
    table = f"broken_{selector.split(':')[-1]}"
    query(settings, f"CREATE TABLE {catalog}.{scratch}.{table} AS SELECT {select} FROM {mart}")
    return f'"{catalog}"."{scratch}"."{table}"'


@pytest.mark.parametrize("selector", sorted(BREAKAGES))
def test_custom_test_fails_on_a_broken_mart(
    selector: str, settings: PlatformSettings, scratch: str, compiled: dict[str, str]
) -> None:
    sql = compiled[selector]
    real = f'"{settings.trino_catalog}"."gold"."{MART}"'
    assert real in sql, sql
    assert query(settings, sql) == [], "the test fails on the real mart"
    broken = broken_copy(settings, scratch, selector)
    failures = query(settings, sql.replace(real, broken))
    assert failures, f"{selector} passed on a mart broken in {BREAKAGES[selector][0]}"
