"""Per-batch metrics of the bronze writer: Prometheus (``STREAMING_METRICS_PORT``) and logs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = structlog.get_logger(__name__)

ROWS_IN = Counter("fraud_bronze_rows_in_total", "Kafka records read, by stream", ["stream"])
ROWS_LANDED = Counter(
    "fraud_bronze_rows_landed_total", "Rows appended to the bronze Delta table", ["stream"]
)
ROWS_DLQ = Counter(
    "fraud_bronze_dlq_rows_total",
    "Rows routed to the DLQ, by failed rule (a row breaking two rules counts in both)",
    ["stream", "rule"],
)
DLQ_RECORDS = Counter(
    "fraud_bronze_dlq_records_total", "Records published to the DLQ topic", ["stream"]
)


def declare_stream(stream: str, rules: Iterable[str]) -> None:
    """Create a stream's DLQ series at 0 before its first batch, so the first rejected row
    of a rule shows in increase()/rate() (a series born at 1 shows no increase)."""
    DLQ_RECORDS.labels(stream)
    for rule in rules:
        ROWS_DLQ.labels(stream, rule)


DUPLICATES = Counter(
    "fraud_bronze_duplicates_dropped_total",
    "Rows dropped as duplicates of a transaction_id within the dedup window",
    ["stream"],
)
BATCH_DURATION = Histogram(
    "fraud_bronze_batch_duration_seconds",
    "Wall time of the foreachBatch sink (DLQ publish + Delta commit)",
    ["stream"],
    buckets=(0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120),
)
LAG_RECORDS = Gauge(
    "fraud_bronze_input_lag_records",
    "Records in Kafka not yet read (sum over partitions)",
    ["stream"],
)
PARTITION_LAG = Gauge(
    "fraud_bronze_partition_lag_records",
    "Records in a Kafka partition not yet processed: the topic's end offset (latestOffset)"
    " minus the offset the last batch processed up to (endOffset), from the query progress"
    " (Spark keeps its offsets in the checkpoint, not in a consumer group)",
    ["topic", "partition"],
)
LAG_SECONDS = Gauge(
    "fraud_bronze_input_lag_seconds",
    "Age of the oldest record of the last batch when the batch started (Kafka timestamp)",
    ["stream"],
)
QUERIES_ACTIVE = Gauge(
    "fraud_bronze_queries_active", "Streaming queries of the bronze writer that are running"
)
LAST_BATCH = Gauge("fraud_bronze_last_batch_id", "Id of the last completed batch", ["stream"])
LAST_COMMIT = Gauge(
    "fraud_bronze_last_batch_timestamp_seconds",
    "Unix time of the last completed batch",
    ["stream"],
)


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Start the Prometheus HTTP endpoint on ``host`` (port 0: disabled)."""
    if port > 0:
        start_http_server(port, addr=host)
        log.info("metrics endpoint started", host=host, port=port)


@dataclass
class BatchStats:
    """What one micro-batch did."""

    stream: str
    batch_id: int
    rows_in: int = 0
    landed: int = 0
    dlq_rows: int = 0
    dlq_published: int = 0
    dlq_by_rule: dict[str, int] = field(default_factory=dict)
    lag_seconds: float | None = None
    duration_seconds: float = 0.0
    replay_checked: bool = False
    phases: dict[str, float] = field(default_factory=dict)

    def record(self, now: float) -> None:
        """Export to Prometheus and log one line."""
        ROWS_IN.labels(self.stream).inc(self.rows_in)
        ROWS_LANDED.labels(self.stream).inc(self.landed)
        DLQ_RECORDS.labels(self.stream).inc(self.dlq_published)
        for rule, count in self.dlq_by_rule.items():
            ROWS_DLQ.labels(self.stream, rule).inc(count)
        BATCH_DURATION.labels(self.stream).observe(self.duration_seconds)
        if self.lag_seconds is not None:
            LAG_SECONDS.labels(self.stream).set(self.lag_seconds)
        LAST_BATCH.labels(self.stream).set(self.batch_id)
        LAST_COMMIT.labels(self.stream).set(now)
        log.info(
            "batch landed",
            stream=self.stream,
            batch_id=self.batch_id,
            rows_in=self.rows_in,
            landed=self.landed,
            dlq=self.dlq_rows,
            dlq_published=self.dlq_published,
            dlq_by_rule=self.dlq_by_rule,
            lag_s=None if self.lag_seconds is None else round(self.lag_seconds, 3),
            duration_s=round(self.duration_seconds, 3),
            replay_checked=self.replay_checked,
            phases_s={k: round(v, 2) for k, v in self.phases.items()},
        )


def partition_lag(progress: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """Records behind per (topic, partition): a progress report's latest minus end offsets."""
    lag: dict[tuple[str, str], int] = {}
    for source in progress.get("sources", []):
        latest, end = source.get("latestOffset"), source.get("endOffset")
        if not isinstance(latest, dict) or not isinstance(end, dict):
            continue
        for topic, parts in latest.items():
            for part, offset in parts.items():
                done = end.get(topic, {}).get(part, offset)
                lag[(topic, str(part))] = max(0, int(offset) - int(done))
    return lag


def offsets_behind(progress: Mapping[str, Any]) -> int | None:
    """Records between a progress report's end offsets and the latest offsets."""
    lag = partition_lag(progress)
    return sum(lag.values()) if lag else None


def dropped_duplicates(progress: Mapping[str, Any]) -> int:
    """Rows the deduplication operator dropped in one batch."""
    total = 0
    for op in progress.get("stateOperators", []):
        custom = op.get("customMetrics", {}) or {}
        total += int(custom.get("numDroppedDuplicateRows", 0))
    return total


def record_progress(stream: str, progress: Mapping[str, Any]) -> None:
    """Export what only Spark's progress report knows: lag in records (per stream and per
    partition), duplicates."""
    lag = partition_lag(progress)
    for (topic, partition), records in lag.items():
        PARTITION_LAG.labels(topic, partition).set(records)
    behind = sum(lag.values()) if lag else None
    if behind is not None:
        LAG_RECORDS.labels(stream).set(behind)
    dups = dropped_duplicates(progress)
    if dups:
        DUPLICATES.labels(stream).inc(dups)
    log.debug(
        "query progress",
        stream=stream,
        batch_id=progress.get("batchId"),
        input_rows=progress.get("numInputRows"),
        offsets_behind=behind,
        duplicates_dropped=dups,
    )
