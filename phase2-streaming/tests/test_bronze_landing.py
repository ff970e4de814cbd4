"""Valid records land in bronze exactly once; every invalid kind lands in the DLQ."""

from __future__ import annotations

from collections import Counter

import pytest
from bronze_helpers import (
    BronzeRun,
    bronze_table,
    create_topics,
    delete_prefix,
    delete_topics,
    invalid_values,
    produce,
    read_topic,
    register,
    simulated,
)
from pyspark.sql import SparkSession

from fraud_contracts.registry import SchemaRegistry
from spark_jobs.bronze_writer import start_all
from spark_jobs.settings import StreamingSettings

pytestmark = pytest.mark.integration


def test_valid_rows_land_and_each_invalid_kind_goes_to_dlq_with_its_reason(
    spark: SparkSession, stream_settings: StreamingSettings, registry: SchemaRegistry
) -> None:
    run = BronzeRun()
    settings = run.settings(stream_settings, max_offsets_per_trigger=1_500)
    boot = settings.kafka_bootstrap_servers
    create_topics(boot, {run.raw: 4, run.labels: 2, run.dlq: 2})
    try:
        schemas = register(registry, run)
        sims = simulated(3_000)
        # A producer retry: the same transaction sent twice lands once.
        retried = sims[:25]
        invalid = invalid_values(sims[0].transaction, schemas.transaction)
        values = [
            (s.transaction["user_id"].encode(), schemas.transaction.encode(s.transaction))
            for s in sims + retried
        ]
        values += [(b"bad", inv.value) for inv in invalid]
        produce(boot, run.raw, values)
        labels = [s.label for s in sims if s.label is not None]
        # a retried label lands once; a second report (its own reported_at) lands too
        second = {**labels[1], "reported_at": labels[1]["reported_at"] + 3_600_000}
        sent = [*labels, labels[0], second]
        produce(boot, run.labels, [(None, schemas.label.encode(lab)) for lab in sent])

        for query in start_all(spark, settings, once=True).values():
            query.awaitTermination(300)
            assert query.exception() is None

        bronze = spark.read.format("delta").load(settings.location(settings.transactions_table))
        assert bronze.count() == len(sims)
        assert bronze.select("transaction_id").distinct().count() == len(sims)
        expected_ids = {s.transaction["transaction_id"] for s in sims}
        assert {r[0] for r in bronze.select("transaction_id").collect()} == expected_ids

        dlq = read_topic(boot, run.dlq)
        assert len(dlq) == len(invalid)
        assert len({r.key for r in dlq}) == len(invalid)
        by_value = {r.value: r for r in dlq}
        for inv in invalid:
            record = by_value[inv.value]
            assert frozenset(record.headers["dlq.reason"].split(",")) == inv.reasons, inv.name
            assert record.headers["dlq.source.topic"] == run.raw
            assert record.headers["dlq.stage"] == "streaming"
            assert record.key == (
                f"{run.raw}:{record.headers['dlq.source.partition']}:"
                f"{record.headers['dlq.source.offset']}"
            )
            assert record.headers["dlq.batch_id"].isdigit()
        reasons = Counter(r.headers["dlq.reason"] for r in dlq)
        assert reasons["not_avro"] == 3 and reasons["unknown_schema_id"] == 1

        label_table = bronze_table(settings, settings.location(settings.labels_table))
        landed = label_table.to_pyarrow_table().select(["transaction_id", "reported_at"])
        assert landed.num_rows == len(labels) + 1
        reports = Counter(landed.column("transaction_id").to_pylist())
        assert reports[labels[0]["transaction_id"]] == 1  # the retry
        assert reports[labels[1]["transaction_id"]] == 2  # the second report
    finally:
        delete_topics(boot, [run.raw, run.labels, run.dlq])
        delete_prefix(settings, run.prefix)
