"""Bronze writer: Kafka ``transactions.raw`` and ``transactions.labels`` into Delta on S3.

    python -m spark_jobs.bronze_writer            # run until stopped (SIGTERM/SIGINT)
    python -m spark_jobs.bronze_writer --once     # land what is in Kafka now, then exit

One Spark application runs one streaming query per stream (``STREAMING_STREAMS``),
each with its own checkpoint under ``STREAMING_CHECKPOINT_ROOT``: micro-batches every
``STREAMING_TRIGGER_SECONDS``, at most ``STREAMING_MAX_OFFSETS_PER_TRIGGER`` records
each. See :mod:`spark_jobs.streams` (decode, rules, dedup) and :mod:`spark_jobs.sink`
(DLQ + Delta, exactly once). A failed query ends the process with status 1; a
supervisor (the native stack's supervisord, compose's restart policy) restarts it and
the checkpoint makes the restart exact.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

import structlog
from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from fraud_common.logs import configure_logging
from spark_jobs import metrics
from spark_jobs.maintenance import maintain
from spark_jobs.session import build_session
from spark_jobs.settings import StreamingSettings
from spark_jobs.sink import BronzeSink
from spark_jobs.streams import StreamSpec, bronze_stream, stream_specs

log = structlog.get_logger(__name__)


def start_query(
    spark: SparkSession, spec: StreamSpec, settings: StreamingSettings, once: bool = False
) -> StreamingQuery:
    """Start one stream's query (``once``: availableNow, then stop)."""
    writer = (
        bronze_stream(spark, spec, settings)
        .writeStream.queryName(f"bronze_{spec.name}")
        .option("checkpointLocation", spec.checkpoint)
        .foreachBatch(BronzeSink(spark, spec, settings))
    )
    if once:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{settings.trigger_seconds} seconds")
    query = writer.start()
    log.info(
        "stream started",
        stream=spec.name,
        topic=spec.topic,
        table=spec.table,
        checkpoint=spec.checkpoint,
        query_id=str(query.id),
        once=once,
    )
    return query


def start_all(
    spark: SparkSession, settings: StreamingSettings, once: bool = False
) -> dict[str, StreamingQuery]:
    """Start every configured stream."""
    specs = stream_specs(settings)
    unknown = set(settings.stream_names()) - set(specs)
    if unknown:
        raise ValueError(f"unknown streams {sorted(unknown)}; known: {sorted(specs)}")
    names = settings.stream_names()
    for name in names:
        metrics.declare_stream(name, (rule.name for rule in specs[name].rules))
    return {name: start_query(spark, specs[name], settings, once) for name in names}


class Monitor:
    """Exports progress-only metrics and runs the optional in-process maintenance."""

    def __init__(self, spark: SparkSession, settings: StreamingSettings) -> None:
        self.spark = spark
        self.settings = settings
        self._last_batch: dict[str, int] = {}
        self._last_maintenance = time.monotonic()

    def poll(self, queries: dict[str, StreamingQuery]) -> None:
        metrics.QUERIES_ACTIVE.set(sum(q.isActive for q in queries.values()))
        for name, query in queries.items():
            last = self._last_batch.get(name, -1)
            for progress in query.recentProgress:
                batch = int(progress.get("batchId", -1))
                if batch > last:
                    metrics.record_progress(name, progress)
                    last = batch
            self._last_batch[name] = last
        interval = self.settings.maintenance_interval_minutes * 60
        if interval and time.monotonic() - self._last_maintenance >= interval:
            # Same JVM as the writers: Delta serialises the commits (single-driver log store).
            maintain(self.spark, self.settings, self.settings.stream_names())
            self._last_maintenance = time.monotonic()


def run(settings: StreamingSettings, once: bool = False) -> int:
    """Run the streams until stopped (or, with ``once``, until Kafka is drained)."""
    metrics.serve(settings.metrics_port, settings.metrics_host)
    spark = build_session(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    queries = start_all(spark, settings, once)
    monitor = Monitor(spark, settings)
    status = 0
    try:
        while not stop.is_set():
            active = [q for q in queries.values() if q.isActive]
            monitor.poll(queries)
            failed = [(n, q.exception()) for n, q in queries.items() if not q.isActive]
            errors = [(n, e) for n, e in failed if e is not None]
            if errors:
                for name, err in errors:
                    log.error("stream failed", stream=name, error=str(err)[:2000])
                status = 1
                break
            if not active:
                break
            stop.wait(2.0)
    finally:
        shutdown(spark, queries, monitor)
    log.info("bronze writer stopped", status=status)
    return status


def shutdown(spark: SparkSession, queries: dict[str, StreamingQuery], monitor: Monitor) -> None:
    """Stop the queries and Spark; tolerate a JVM that is already going down.

    A SIGTERM sent to the whole process group also reaches the JVM, whose shutdown hook
    may stop the SparkContext first. Either way the checkpoint makes the next start exact.
    """
    try:
        for query in queries.values():
            if query.isActive:
                query.stop()
        monitor.poll(queries)
        spark.stop()
    except Exception as exc:  # py4j errors of a JVM shutting down
        log.warning("spark was already stopping", error=str(exc).splitlines()[0][:200])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bronze_writer", description=__doc__)
    parser.add_argument(
        "--once", action="store_true", help="land what Kafka holds now (availableNow), then exit"
    )
    args = parser.parse_args(argv)
    configure_logging()
    settings = StreamingSettings()  # type: ignore[call-arg]  # secrets come from the env
    return run(settings, once=args.once)


if __name__ == "__main__":
    sys.exit(main())
