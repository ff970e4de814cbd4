"""The two bronze streams and the streaming part of their plan (source to dedup).

    Kafka topic ──► decode (mapInArrow, fastavro) ──► quality rules ──► dedup
                ──► foreachBatch: DLQ topic + Delta append (spark_jobs.sink)

Deduplication: a producer retry re-sends a record at a new offset. Its ``dedup_key`` is
the stream's ``dedup_columns``: a transaction's ``transaction_id``; a label's
``transaction_id`` and ``reported_at``, because a second report of the same transaction
(a chargeback, then an analyst's confirmation) is data, not a retry: it lands, and dbt
counts it in ``quarantine_duplicate_labels``. ``dropDuplicatesWithinWatermark`` keeps
the first row of each ``dedup_key`` and forgets the key once the watermark passes it.
The watermark runs on ``ingested_at`` (the micro-batch timestamp, monotonic and stored
in the checkpoint), not on event_time: Spark drops rows older than an event-time
watermark, and bronze must accept late events. So duplicates are removed when they reach
the job within ``STREAMING_DEDUP_WINDOW`` of each other; the state lives in the
checkpoint, so the window spans restarts. Rows bound for the DLQ are keyed by their
source position (topic:partition:offset), so they are never merged with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as sf

from fraud_contracts.avro import FRAUD_LABEL_AVSC, TRANSACTION_AVSC, schema_text
from spark_jobs.decode import ArrowDecoder, decoded_schema
from spark_jobs.quality_checks import (
    LABEL_RULES,
    TRANSACTION_RULES,
    QualityConfig,
    Rule,
    is_valid,
    with_dlq_reasons,
)
from spark_jobs.settings import StreamingSettings

SOURCE_KEY = "source_key"
DEDUP_KEY = "dedup_key"


@dataclass(frozen=True)
class StreamSpec:
    """One topic landed into one bronze table."""

    name: str
    topic: str
    table: str
    checkpoint: str
    reader_schema: str
    rules: tuple[Rule, ...]
    partition_by: str = "event_date"
    #: what makes two valid records the same record (a producer retry)
    dedup_columns: tuple[str, ...] = ("transaction_id",)


def stream_specs(settings: StreamingSettings) -> dict[str, StreamSpec]:
    """The streams by name: ``transactions`` and ``labels``."""
    return {
        "transactions": StreamSpec(
            name="transactions",
            topic=settings.topic_raw,
            table=settings.location(settings.transactions_table),
            checkpoint=settings.checkpoint("transactions"),
            reader_schema=schema_text(TRANSACTION_AVSC),
            rules=TRANSACTION_RULES,
        ),
        "labels": StreamSpec(
            name="labels",
            topic=settings.topic_labels,
            table=settings.location(settings.labels_table),
            checkpoint=settings.checkpoint("labels"),
            reader_schema=schema_text(FRAUD_LABEL_AVSC),
            rules=LABEL_RULES,
            dedup_columns=("transaction_id", "reported_at"),
        ),
    }


def quality_config(settings: StreamingSettings) -> QualityConfig:
    """Rule parameters from the settings."""
    return QualityConfig(
        allowed_currencies=tuple(settings.currencies()),
        min_event_time=settings.min_event_time,
        future_tolerance_seconds=settings.future_tolerance_seconds,
        min_amount=settings.min_amount,
        max_amount=settings.max_amount,
    )


def kafka_source(spark: SparkSession, spec: StreamSpec, settings: StreamingSettings) -> DataFrame:
    """The raw Kafka stream: from the earliest offsets on a first start, then the checkpoint."""
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", spec.topic)
        .option("startingOffsets", settings.starting_offsets)
        .option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
        .option("failOnDataLoss", str(settings.fail_on_data_loss).lower())
        .option("kafka.max.partition.fetch.bytes", str(8 * 1024 * 1024))
        .load()
    )


def decode(raw: DataFrame, spec: StreamSpec, settings: StreamingSettings) -> DataFrame:
    """Kafka rows to contract columns plus decode status and Kafka metadata.

    The Kafka partitions of a batch are coalesced into a few decode tasks: every Python
    task has a fixed cost, and a small machine gains nothing from more tasks than cores.
    """
    tasks = settings.decode_partitions or raw.sparkSession.sparkContext.defaultParallelism
    framed = raw.coalesce(tasks).select(
        sf.col("value").alias("raw_value"),
        sf.col("topic").alias("kafka_topic"),
        sf.col("partition").alias("kafka_partition"),
        sf.col("offset").alias("kafka_offset"),
        sf.col("timestamp").alias("kafka_timestamp"),
        sf.current_timestamp().alias("ingested_at"),
    )
    decoder = ArrowDecoder(settings.schema_registry_url, spec.reader_schema)
    schema = decoded_schema(spec.reader_schema)
    return framed.mapInArrow(decoder, schema)  # type: ignore[arg-type]  # Iterator is fine


def checked(decoded: DataFrame, spec: StreamSpec, settings: StreamingSettings) -> DataFrame:
    """Add ``dlq_reasons``, ``event_date``, the source key and the dedup key."""
    df = with_dlq_reasons(decoded, spec.rules, quality_config(settings))
    source_key = sf.concat_ws(
        ":", sf.col("kafka_topic"), sf.col("kafka_partition"), sf.col("kafka_offset")
    )
    # Original bytes are kept for the DLQ only: bronze rows are the decoded record.
    raw_value = sf.when(~is_valid(), sf.col("raw_value"))
    return (
        df.withColumn("raw_value", raw_value)
        .withColumn("event_date", sf.to_date(sf.col("event_time")))
        .withColumn(SOURCE_KEY, source_key)
        .withColumn(DEDUP_KEY, sf.when(is_valid(), dedup_key(spec)).otherwise(sf.col(SOURCE_KEY)))
    )


def dedup_key(spec: StreamSpec) -> Column:
    """The record's identity for deduplication: its ``dedup_columns`` as one string (for a
    single column, the value itself, so the key of existing checkpoints is unchanged)."""
    columns = [sf.col(c).cast("string") for c in spec.dedup_columns]
    return columns[0] if len(columns) == 1 else sf.concat_ws("|", *columns)


def deduplicated(df: DataFrame, settings: StreamingSettings) -> DataFrame:
    """Drop repeated ``dedup_key`` within the window (in ingestion time; see module doc)."""
    return df.withWatermark("ingested_at", settings.dedup_window).dropDuplicatesWithinWatermark(
        [DEDUP_KEY]
    )


def bronze_stream(spark: SparkSession, spec: StreamSpec, settings: StreamingSettings) -> DataFrame:
    """The streaming DataFrame handed to the foreachBatch sink."""
    raw = kafka_source(spark, spec, settings)
    return deduplicated(checked(decode(raw, spec, settings), spec, settings), settings)
