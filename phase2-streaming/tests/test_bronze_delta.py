"""Schema versions v1 and v2 land in one table; delta-rs reads it with its partitioning."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from bronze_helpers import (
    BronzeRun,
    bronze_table,
    create_topics,
    delete_prefix,
    delete_topics,
    produce,
    register,
    register_v2,
    simulated,
)
from pyspark.sql import SparkSession

from fraud_contracts.registry import SchemaRegistry
from spark_jobs.bronze_writer import start_all
from spark_jobs.maintenance import maintain
from spark_jobs.settings import StreamingSettings

pytestmark = pytest.mark.integration

DAYS_BACK = (0, 1, 3)  # late events of earlier days are accepted


@dataclass
class Landed:
    settings: StreamingSettings
    v1_ids: set[str]
    v2_ids: set[str]
    v1_schema: int
    v2_schema: int
    dates: set[date]


@pytest.fixture(scope="module")
def landed(
    spark: SparkSession, stream_settings: StreamingSettings, registry: SchemaRegistry
) -> Iterator[Landed]:
    run = BronzeRun()
    settings = run.settings(stream_settings, streams="transactions")
    boot = settings.kafka_bootstrap_servers
    create_topics(boot, {run.raw: 3, run.labels: 1, run.dlq: 1})
    try:
        v1 = register(registry, run).transaction
        v2 = register_v2(registry, run)
        assert v1.schema_id != v2.schema_id
        now = datetime.now(UTC)
        v1_ids: set[str] = set()
        v2_ids: set[str] = set()
        values = []
        dates = set()
        for i, back in enumerate(DAYS_BACK):
            moment = now - timedelta(days=back)
            dates.add(moment.date())
            for j, sim in enumerate(simulated(400, seed=20 + i, now=moment)):
                tx = sim.transaction
                if j % 2:
                    values.append((None, v2.encode({**tx, "card_id": f"C{j}"})))
                    v2_ids.add(tx["transaction_id"])
                else:
                    values.append((None, v1.encode(tx)))
                    v1_ids.add(tx["transaction_id"])
        produce(boot, run.raw, values)
        for query in start_all(spark, settings, once=True).values():
            query.awaitTermination(300)
            assert query.exception() is None
        yield Landed(settings, v1_ids, v2_ids, v1.schema_id, v2.schema_id, dates)
    finally:
        delete_topics(boot, [run.raw, run.labels, run.dlq])
        delete_prefix(settings, run.prefix)


def test_v1_and_v2_records_land_in_one_bronze_table(spark: SparkSession, landed: Landed) -> None:
    table = spark.read.format("delta").load(
        landed.settings.location(landed.settings.transactions_table)
    )
    rows = table.select("transaction_id", "schema_id").collect()
    by_schema: dict[int, set[str]] = {}
    for row in rows:
        by_schema.setdefault(row["schema_id"], set()).add(row["transaction_id"])
    assert by_schema == {landed.v1_schema: landed.v1_ids, landed.v2_schema: landed.v2_ids}
    assert "card_id" not in table.columns  # read into the contract (reader) schema


def test_bronze_is_a_delta_table_for_deltalake_partitioned_by_event_date(
    landed: Landed,
) -> None:
    settings = landed.settings
    dt = bronze_table(settings, settings.location(settings.transactions_table))
    assert dt.metadata().partition_columns == ["event_date"]
    data = dt.to_pyarrow_table()
    assert data.num_rows == len(landed.v1_ids) + len(landed.v2_ids)
    for column in ("kafka_partition", "kafka_offset", "ingested_at", "schema_id", "batch_id"):
        assert column in data.column_names
    assert data.schema.field("event_time").type.tz == "UTC"
    event_dates = {t.date() for t in data.column("event_time").to_pylist()}
    assert set(data.column("event_date").to_pylist()) == event_dates
    assert event_dates <= landed.dates | {d - timedelta(days=1) for d in landed.dates}
    assert len(event_dates) >= len(DAYS_BACK)
    files = dt.file_uris()
    assert files and all("/event_date=" in f for f in files)


def test_maintenance_compacts_small_files_and_keeps_the_rows(
    spark: SparkSession, landed: Landed
) -> None:
    settings = landed.settings
    location = settings.location(settings.transactions_table)
    before = bronze_table(settings, location)
    files_before = len(before.file_uris())
    rows_before = before.to_pyarrow_table(columns=["transaction_id"]).num_rows
    maintain(spark, settings, ["transactions", "labels"])  # labels: no table, skipped
    after = bronze_table(settings, location)
    partitions = {f.split("/event_date=")[1].split("/")[0] for f in before.file_uris()}
    assert len(after.file_uris()) == len(partitions)  # one file per partition after OPTIMIZE
    assert len(after.file_uris()) < files_before
    assert after.to_pyarrow_table(columns=["transaction_id"]).num_rows == rows_before
    ops = [h.get("operation") for h in after.history()]
    assert ops[0] == "OPTIMIZE"  # VACUUM removed nothing: every file is newer than 7 days
