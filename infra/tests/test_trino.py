"""Trino over the lakehouse: delta-rs-written tables registered, queried and merged into.

Runs against service ``trino`` of the native stack (catalog ``delta``: file metastore and
tables on the S3 store). Every test works in a schema of its own at a unique S3 prefix,
removed afterwards; the platform's bronze/silver/gold schemas are only ensured (created
if missing), never written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest
import trino
from deltalake import write_deltalake

from fraud_common.s3 import delta_storage_options, s3_client
from fraud_common.settings import PlatformSettings
from fraud_common.trino import execute
from fraud_contracts.names import LAYERS
from fraud_infra.init_trino import ensure_schemas

pytestmark = pytest.mark.integration

DAYS = (dt.date(2026, 1, 5), dt.date(2026, 1, 6), dt.date(2026, 1, 7))
ROWS_PER_DAY = 40


@dataclass(frozen=True)
class Lake:
    """A schema of this test run and the S3 prefix its tables live under."""

    settings: PlatformSettings
    schema: str
    prefix: str  # bucket-relative, no trailing slash

    def uri(self, name: str) -> str:
        return f"s3://{self.settings.s3_bucket}/{self.prefix}/{name}"

    def storage_options(self) -> dict[str, str]:
        return delta_storage_options(self.settings)


def transactions(days: tuple[dt.date, ...], per_day: int, first_id: int = 0) -> pa.Table:
    """``per_day`` rows for each day; ids are consecutive from ``first_id``."""
    ids, amounts, times, dates = [], [], [], []
    for d, day in enumerate(days):
        for i in range(per_day):
            n = first_id + d * per_day + i
            ids.append(f"tx-{n:06d}")
            amounts.append(round(1.5 * n, 2))
            times.append(dt.datetime.combine(day, dt.time(12), dt.UTC) + dt.timedelta(seconds=i))
            dates.append(day)
    return pa.table(
        {
            "transaction_id": pa.array(ids, pa.string()),
            "amount": pa.array(amounts, pa.float64()),
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "event_date": pa.array(dates, pa.date32()),
        }
    )


def delete_prefix(settings: PlatformSettings, prefix: str) -> None:
    client = s3_client(settings)
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.s3_bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=settings.s3_bucket, Key=obj["Key"])


@pytest.fixture(scope="module")
def trino_ready(settings: PlatformSettings) -> PlatformSettings:
    """Fail (not skip) when Trino is down: the stack is supposed to run it."""
    try:
        rows = execute(settings, "SELECT 1", timeout=60)
    except OSError as err:
        pytest.fail(
            f"Trino at {settings.trino_host}:{settings.trino_port} is not reachable: {err}",
            pytrace=False,
        )
    assert rows == [[1]]
    return settings


@pytest.fixture
def lake(trino_ready: PlatformSettings) -> Iterator[Lake]:
    settings = trino_ready
    run = uuid.uuid4().hex[:10]
    mine = Lake(settings, schema=f"test_{run}", prefix=f"tests/trino/{run}")
    catalog = settings.trino_catalog
    execute(
        settings,
        f"CREATE SCHEMA {catalog}.{mine.schema} WITH (location = '{mine.uri('')}')",
    )
    try:
        yield mine
    finally:
        for (table,) in execute(settings, f"SHOW TABLES FROM {catalog}.{mine.schema}"):
            # Registered and managed tables alike: unregister never touches the data,
            # which goes with the prefix below.
            execute(
                settings,
                f"CALL {catalog}.system.unregister_table("
                f"schema_name => '{mine.schema}', table_name => '{table}')",
            )
        execute(settings, f"DROP SCHEMA {catalog}.{mine.schema}")
        delete_prefix(settings, mine.prefix)


@pytest.fixture
def cursor(trino_ready: PlatformSettings) -> Iterator[Any]:
    conn = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host=trino_ready.trino_host,
        port=trino_ready.trino_port,
        user="pytest",
        catalog=trino_ready.trino_catalog,
        request_timeout=120,
    )
    try:
        yield conn.cursor()
    finally:
        conn.close()


def query(cursor: Any, sql: str) -> list[Any]:
    cursor.execute(sql)
    return list(cursor.fetchall())


def test_init_creates_the_layer_schemas_idempotently(trino_ready: PlatformSettings) -> None:
    settings = trino_ready
    ensure_schemas(settings)
    again = ensure_schemas(settings)
    catalog = settings.trino_catalog
    assert {again[f"{catalog}.{layer}"] for layer in LAYERS} == {"exists"}
    schemas = {row[0] for row in execute(settings, f"SHOW SCHEMAS FROM {catalog}")}
    assert set(LAYERS) <= schemas


def test_delta_rs_table_is_registered_queried_and_pruned(lake: Lake, cursor: Any) -> None:
    catalog, schema = lake.settings.trino_catalog, lake.schema
    write_deltalake(
        lake.uri("transactions"),
        transactions(DAYS, ROWS_PER_DAY),
        partition_by=["event_date"],
        storage_options=lake.storage_options(),
    )
    name = f"{catalog}.{schema}.transactions"
    query(
        cursor,
        f"CALL {catalog}.system.register_table(schema_name => '{schema}', "
        f"table_name => 'transactions', table_location => '{lake.uri('transactions')}')",
    )

    assert query(cursor, f"SELECT count(*), count(DISTINCT transaction_id) FROM {name}") == [
        [len(DAYS) * ROWS_PER_DAY, len(DAYS) * ROWS_PER_DAY]
    ]
    per_day = query(cursor, f"SELECT event_date, count(*) FROM {name} GROUP BY 1 ORDER BY 1")
    assert per_day == [[day, ROWS_PER_DAY] for day in DAYS]

    # Partition pruning: a filter on the partition column reads one day's rows only.
    got = query(cursor, f"SELECT sum(amount) FROM {name} WHERE event_date = DATE '{DAYS[1]}'")
    assert got == [[sum(1.5 * n for n in range(ROWS_PER_DAY, 2 * ROWS_PER_DAY))]]
    assert cursor.stats["processedRows"] == ROWS_PER_DAY

    # A later commit by the writer is visible without re-registering.
    write_deltalake(
        lake.uri("transactions"),
        transactions((DAYS[-1] + dt.timedelta(days=1),), 5, first_id=10_000),
        partition_by=["event_date"],
        mode="append",
        storage_options=lake.storage_options(),
    )
    assert query(cursor, f"SELECT count(*) FROM {name}") == [[len(DAYS) * ROWS_PER_DAY + 5]]


def test_merge_into_a_gold_table_is_idempotent(lake: Lake, cursor: Any) -> None:
    catalog, schema = lake.settings.trino_catalog, lake.schema
    source, gold = f"{catalog}.{schema}.source", f"{catalog}.{schema}.daily_amounts"
    write_deltalake(
        lake.uri("source"),
        transactions(DAYS, ROWS_PER_DAY),
        partition_by=["event_date"],
        storage_options=lake.storage_options(),
    )
    query(
        cursor,
        f"CALL {catalog}.system.register_table(schema_name => '{schema}', "
        f"table_name => 'source', table_location => '{lake.uri('source')}')",
    )
    # A managed table (CTAS) under the test schema's location, as dbt creates gold models.
    query(
        cursor,
        f"CREATE TABLE {gold} AS SELECT event_date, count(*) AS n, sum(amount) AS total "
        f"FROM {source} WHERE event_date = DATE '{DAYS[0]}' GROUP BY event_date",
    )
    merge = (
        f"MERGE INTO {gold} t USING (SELECT event_date, count(*) AS n, sum(amount) AS total "
        f"FROM {source} GROUP BY event_date) s ON t.event_date = s.event_date "
        "WHEN MATCHED THEN UPDATE SET n = s.n, total = s.total "
        "WHEN NOT MATCHED THEN INSERT (event_date, n, total) VALUES (s.event_date, s.n, s.total)"
    )
    expected = query(
        cursor,
        f"SELECT event_date, count(*), sum(amount) FROM {source} GROUP BY 1 ORDER BY 1",
    )
    assert query(cursor, merge) == [[len(DAYS)]]
    after_first = query(cursor, f"SELECT event_date, n, total FROM {gold} ORDER BY 1")
    assert query(cursor, merge) == [[len(DAYS)]]
    after_second = query(cursor, f"SELECT event_date, n, total FROM {gold} ORDER BY 1")
    assert after_first == after_second == expected

    query(cursor, f"INSERT INTO {gold} VALUES (DATE '2026-02-01', 1, 1.0)")
    assert query(cursor, f"SELECT count(*) FROM {gold}") == [[len(DAYS) + 1]]
    operations = [
        row[0]
        for row in query(
            cursor,
            f'SELECT operation FROM {catalog}.{schema}."daily_amounts$history" ORDER BY version',
        )
    ]
    assert operations == ["CREATE TABLE AS SELECT", "MERGE", "MERGE", "WRITE"]
