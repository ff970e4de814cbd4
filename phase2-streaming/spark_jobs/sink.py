"""The foreachBatch sink: invalid rows to the DLQ topic, valid rows to bronze, exactly once.

Per micro-batch (the batch DataFrame is persisted, so decoding and dedup run once):

1. counts per DLQ reason and the batch's timestamps (small aggregates, not rows);
2. DLQ rows are published to the DLQ topic with Spark's Kafka sink;
3. valid rows are appended to the bronze Delta table with ``txnAppId`` (the streaming
   query id, from the checkpoint) and ``txnVersion`` (the batch id): Delta skips a
   batch it has already committed, so a batch replayed after a crash lands once.

The Kafka sink itself is at-least-once. Only the first batch after a start can be a
replay (Spark re-runs the last batch whose commit it had not recorded), so for that
batch the sink first reads back what the DLQ topic received since the batch began (its
timestamp is in the checkpoint) and publishes only records whose key is not there yet.
A killed attempt's records are all in the log by then, since its producer died with it.

What a DLQ consumer sees: one record per rejected source record. Key: the source
position ``<topic>:<partition>:<offset>`` (unique, so a consumer can also deduplicate
on it defensively). Value: the original bytes, unmodified. Headers: the platform's DLQ
format (:mod:`fraud_contracts.dlq`): ``dlq.reason`` (comma-separated rule or
decode-error names), ``dlq.detail`` (decode error text), ``dlq.stage`` (``streaming``),
``dlq.source.topic``, ``dlq.timestamp``, and ``dlq.stream``, ``dlq.source.partition``,
``dlq.source.offset``, ``dlq.source.timestamp``, ``dlq.schema_id``, ``dlq.batch_id``,
``dlq.ingested_at``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import structlog
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as sf

from fraud_contracts import dlq
from spark_jobs.avro_types import field_types
from spark_jobs.metrics import BatchStats
from spark_jobs.quality_checks import DLQ_REASONS, is_valid
from spark_jobs.settings import StreamingSettings
from spark_jobs.streams import SOURCE_KEY, StreamSpec

log = structlog.get_logger(__name__)

METADATA_COLUMNS = (
    "schema_id",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
    "ingested_at",
    "batch_id",
)
REPLAY_SLACK_MS = 60_000


def bronze_columns(spec: StreamSpec) -> list[str]:
    """Columns of the bronze table: contract fields, partition column, ingestion metadata."""
    return [f.name for f in field_types(spec.reader_schema)] + [
        spec.partition_by,
        *METADATA_COLUMNS,
    ]


def _text(col: Column) -> Column:
    return sf.encode(sf.coalesce(col.cast("string"), sf.lit("")), "UTF-8")


def _millis(col: Column) -> Column:
    return sf.unix_millis(col).cast("string")


def dlq_records(df: DataFrame, stream: str) -> DataFrame:
    """Rows with DLQ reasons as Kafka records (key, value, headers); see the module doc."""
    headers = [
        (dlq.REASON, sf.array_join(sf.col(DLQ_REASONS), ",")),
        (dlq.DETAIL, sf.col("decode_detail")),
        (dlq.STAGE, sf.lit(dlq.STAGE_STREAMING)),
        (dlq.SOURCE_TOPIC, sf.col("kafka_topic")),
        (dlq.TIMESTAMP, _millis(sf.current_timestamp())),
        (dlq.STREAM, sf.lit(stream)),
        (dlq.SOURCE_PARTITION, sf.col("kafka_partition")),
        (dlq.SOURCE_OFFSET, sf.col("kafka_offset")),
        (dlq.SOURCE_TIMESTAMP, _millis(sf.col("kafka_timestamp"))),
        (dlq.SCHEMA_ID, sf.col("schema_id")),
        (dlq.BATCH_ID, sf.col("batch_id")),
        (dlq.INGESTED_AT, _millis(sf.col("ingested_at"))),
    ]
    header_col = sf.array(
        *[sf.struct(sf.lit(k).alias("key"), _text(v).alias("value")) for k, v in headers]
    )
    return df.where(~is_valid()).select(
        sf.col(SOURCE_KEY),
        sf.col(SOURCE_KEY).cast("binary").alias("key"),
        sf.col("raw_value").alias("value"),
        header_col.alias("headers"),
    )


@dataclass
class _Counts:
    rows_in: int
    valid: int
    min_kafka_ms: int | None
    batch_ms: int | None
    by_rule: dict[str, int]


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


class BronzeSink:
    """``foreachBatch`` function of one stream (one instance per query run)."""

    def __init__(self, spark: SparkSession, spec: StreamSpec, settings: StreamingSettings) -> None:
        self.spark = spark
        self.spec = spec
        self.settings = settings
        self._app_id: str | None = None
        self._first_batch = True

    # ------------------------------------------------------------------ helpers
    def app_id(self) -> str:
        """Delta ``txnAppId``: the stream name and the query id kept in the checkpoint.

        A new checkpoint (a deliberate reprocessing) gets a new query id, so its batch
        ids starting again at 0 are not mistaken for already-committed batches.
        """
        if self._app_id is None:
            text = self.spark.read.text(f"{self.spec.checkpoint}/metadata").first()
            if text is None:
                raise RuntimeError(f"no query metadata in {self.spec.checkpoint}")
            self._app_id = f"bronze-{self.spec.name}-{json.loads(text[0])['id']}"
        return self._app_id

    def _counts(self, df: DataFrame) -> _Counts:
        """Row counts by DLQ reason set and the batch's timestamps, in one job."""
        groups = (
            df.groupBy(sf.col(DLQ_REASONS))
            .agg(
                sf.count(sf.lit(1)).alias("n"),
                sf.min(sf.unix_millis(sf.col("kafka_timestamp"))).alias("min_kafka_ms"),
                sf.max(sf.unix_millis(sf.col("ingested_at"))).alias("batch_ms"),
            )
            .collect()
        )
        counts = _Counts(0, 0, None, None, {})
        for row in groups:
            n, reasons = int(row["n"]), list(row[DLQ_REASONS] or [])
            counts.rows_in += n
            if not reasons:
                counts.valid += n
            for reason in reasons:
                counts.by_rule[reason] = counts.by_rule.get(reason, 0) + n
            counts.min_kafka_ms = _least(counts.min_kafka_ms, row["min_kafka_ms"])
            counts.batch_ms = _greatest(counts.batch_ms, row["batch_ms"])
        return counts

    def _published_since(self, since_ms: int) -> DataFrame:
        """Keys the DLQ topic received since ``since_ms`` (replay check)."""
        return (
            self.spark.read.format("kafka")
            .option("kafka.bootstrap.servers", self.settings.kafka_bootstrap_servers)
            .option("subscribe", self.settings.topic_dlq)
            .option("startingTimestamp", str(since_ms))
            .option("startingOffsetsByTimestampStrategy", "latest")
            .option("endingOffsets", "latest")
            .load()
            .select(sf.col("key").cast("string").alias(SOURCE_KEY))
            .distinct()
        )

    def _publish_dlq(self, df: DataFrame, rows: int, batch_ms: int | None) -> tuple[int, bool]:
        """Publish the batch's DLQ rows; returns (records published, replay checked)."""
        records = dlq_records(df, self.spec.name)
        checked = self._first_batch and batch_ms is not None
        if checked and batch_ms is not None:
            seen = self._published_since(batch_ms - REPLAY_SLACK_MS)
            records = records.join(seen, SOURCE_KEY, "left_anti").persist()
            rows = records.count()
        try:
            if rows:
                (
                    records.drop(SOURCE_KEY)
                    .write.format("kafka")
                    .option("kafka.bootstrap.servers", self.settings.kafka_bootstrap_servers)
                    .option("kafka.acks", "all")
                    .option("kafka.enable.idempotence", "true")
                    .option("topic", self.settings.topic_dlq)
                    .save()
                )
        finally:
            if checked:
                records.unpersist()
        return rows, checked

    def _append(self, df: DataFrame, batch_id: int) -> None:
        (
            df.where(is_valid())
            .select(*bronze_columns(self.spec))
            .write.format("delta")
            .mode("append")
            .option("txnAppId", self.app_id())
            .option("txnVersion", str(batch_id))
            .option("mergeSchema", "true")
            .partitionBy(self.spec.partition_by)
            .save(self.spec.table)
        )

    # ------------------------------------------------------------------ entry point
    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        """Process one micro-batch (called by Spark on the driver)."""
        started = time.monotonic()
        df = batch.withColumn("batch_id", sf.lit(batch_id).cast("long")).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        stats = BatchStats(self.spec.name, batch_id)
        try:
            counts = self._counts(df)
            stats.phases["decode_count"] = time.monotonic() - started
            stats.rows_in, stats.landed = counts.rows_in, counts.valid
            stats.dlq_rows, stats.dlq_by_rule = counts.rows_in - counts.valid, counts.by_rule
            if counts.batch_ms is not None and counts.min_kafka_ms is not None:
                stats.lag_seconds = max(0.0, (counts.batch_ms - counts.min_kafka_ms) / 1000)
            if stats.dlq_rows:
                mark = time.monotonic()
                stats.dlq_published, stats.replay_checked = self._publish_dlq(
                    df, stats.dlq_rows, counts.batch_ms
                )
                stats.phases["dlq"] = time.monotonic() - mark
            if stats.landed:
                mark = time.monotonic()
                self._append(df, batch_id)
                stats.phases["delta"] = time.monotonic() - mark
        finally:
            df.unpersist()
        self._first_batch = False
        stats.duration_seconds = time.monotonic() - started
        stats.record(time.time())
