"""Small-file upkeep of the bronze tables: OPTIMIZE (compaction), then VACUUM.

    python -m spark_jobs.maintenance                    # both tables
    python -m spark_jobs.maintenance --tables transactions --vacuum-hours 336

Micro-batches write a few small files per partition every trigger; compaction rewrites
them into large files (a ``dataChange=false`` commit: streaming readers of bronze see no
new data). VACUUM then deletes files no version newer than the retention needs. The
retention is at least 168 h (7 days, Delta's safety check stays on): readers and time
travel within a week never lose a file.

One writer per table: Delta's S3 log store serialises commits only inside one JVM, so
this job must not commit while the bronze writer's JVM does. It therefore refuses to run
while a stream's checkpoint moved recently (``--force`` overrides); the writer can run
the same maintenance inside its own JVM instead (``STREAMING_MAINTENANCE_INTERVAL_MINUTES``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import structlog
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from fraud_common.logs import configure_logging
from spark_jobs.session import build_session
from spark_jobs.settings import StreamingSettings

log = structlog.get_logger(__name__)

TABLES = ("transactions", "labels")


def table_location(settings: StreamingSettings, name: str) -> str:
    """Location of a bronze table by stream name."""
    if name == "transactions":
        return settings.location(settings.transactions_table)
    if name == "labels":
        return settings.location(settings.labels_table)
    raise ValueError(f"unknown table {name!r}; known: {TABLES}")


def compact(spark: SparkSession, location: str) -> dict[str, Any]:
    """OPTIMIZE: bin-pack the small files of every partition."""
    result = DeltaTable.forPath(spark, location).optimize().executeCompaction().first()
    found = result["metrics"] if result is not None else None
    return {
        "files_added": found["numFilesAdded"] if found else 0,
        "files_removed": found["numFilesRemoved"] if found else 0,
    }


def vacuum(spark: SparkSession, location: str, retention_hours: float) -> None:
    """VACUUM with a retention of at least 7 days."""
    if retention_hours < 168:
        raise ValueError("VACUUM retention below 168 hours is unsafe and refused")
    DeltaTable.forPath(spark, location).vacuum(retention_hours)


def maintain(spark: SparkSession, settings: StreamingSettings, tables: Sequence[str]) -> None:
    """Compact and vacuum the given bronze tables (those that exist)."""
    for name in tables:
        location = table_location(settings, name)
        if not DeltaTable.isDeltaTable(spark, location):
            log.info("maintenance skipped: no table yet", table=name, location=location)
            continue
        started = time.monotonic()
        stats = compact(spark, location)
        vacuum(spark, location, settings.vacuum_retention_hours)
        log.info(
            "maintenance done",
            table=name,
            location=location,
            seconds=round(time.monotonic() - started, 1),
            retention_hours=settings.vacuum_retention_hours,
            **stats,
        )


def writer_active(spark: SparkSession, settings: StreamingSettings, tables: Sequence[str]) -> bool:
    """Whether a stream's checkpoint recorded a batch within the last few triggers."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    window_ms = (3 * settings.trigger_seconds + 120) * 1000
    now_ms = time.time() * 1000
    for name in tables:
        path = jvm.org.apache.hadoop.fs.Path(f"{settings.checkpoint(name)}/offsets")
        fs = path.getFileSystem(conf)
        if not fs.exists(path):
            continue
        newest = max((s.getModificationTime() for s in fs.listStatus(path)), default=0)
        if now_ms - newest < window_ms:
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="maintenance", description=__doc__)
    parser.add_argument("--tables", default=",".join(TABLES), help="comma-separated")
    parser.add_argument("--vacuum-hours", type=float, default=None, help="at least 168")
    parser.add_argument("--force", action="store_true", help="run even if a writer is active")
    args = parser.parse_args(argv)
    configure_logging()
    settings = StreamingSettings()  # type: ignore[call-arg]  # secrets come from the env
    if args.vacuum_hours is not None:
        settings = settings.model_copy(update={"vacuum_retention_hours": args.vacuum_hours})
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    spark = build_session(settings, app_name="fraud-bronze-maintenance")
    try:
        if not args.force and writer_active(spark, settings, tables):
            log.error(
                "a bronze writer is active: stop it, use --force, or set "
                "STREAMING_MAINTENANCE_INTERVAL_MINUTES to run maintenance inside it"
            )
            return 2
        maintain(spark, settings, tables)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
