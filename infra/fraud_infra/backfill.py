"""Simulated history in the lakehouse, produced and landed the way the platform runs.

:func:`ensure_backfill` runs the phase-1 producer in backfill mode (``fraud-producer
--mode backfill``) into the platform's topics, then the phase-2 bronze writer once over
what Kafka holds (``python -m spark_jobs.bronze_writer --once``), and has the dbt project
register the bronze tables (``fraud-dbt run-operation register_bronze_tables``): the
phases' entry points, by name. A manifest in the object store
(``platform/backfill.json``) records what was landed, so ``make demo`` and the test
sessions skip a backfill that is already there.

A backfill that was interrupted (a ``platform/backfill.started.json`` marker without the
manifest) left part of its records in Kafka and bronze; producing it again would land
those twice, so the platform's topics and bronze tables are emptied first
(:func:`reset_lakehouse`) and the backfill starts over. Data that no backfill of this
module wrote is never deleted: it stops the run with a message.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog
from botocore.exceptions import ClientError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from fraud_common.paths import cache_dir, repo_root
from fraud_common.s3 import s3_client
from fraud_common.settings import PlatformSettings
from fraud_common.trino import TrinoError, execute
from fraud_contracts.names import BRONZE_TABLES
from fraud_infra.init_topics import ensure_topics

log = structlog.get_logger(__name__)

MANIFEST_KEY = "platform/backfill.json"
STARTED_KEY = "platform/backfill.started.json"
#: object-store prefixes the streaming job writes (tables and checkpoints)
STREAMING_PREFIXES = ("bronze/", "checkpoints/")


class BackfillError(RuntimeError):
    """The lakehouse is not in a state a backfill can start from (the message says why)."""


@dataclass(frozen=True)
class Backfill:
    """What one backfill produced (from the producer's final counts)."""

    days: int
    seed: int
    transactions: int
    labels: int
    malformed: int
    seconds: float
    #: when it was complete (UTC, ISO 8601)
    landed_at: str = ""
    #: the instant the history ends, where the live producer goes on ("": one label delay
    #: before the day it was made, every label reported)
    history_end: str = ""


def _read_json(settings: PlatformSettings, key: str) -> dict[str, Any] | None:
    try:
        body = s3_client(settings).get_object(Bucket=settings.s3_bucket, Key=key)["Body"]
    except ClientError:
        return None
    data: dict[str, Any] = json.loads(body.read())
    return data


def _write_json(settings: PlatformSettings, key: str, data: Mapping[str, Any]) -> None:
    s3_client(settings).put_object(
        Bucket=settings.s3_bucket, Key=key, Body=json.dumps(dict(data)).encode()
    )


def read_manifest(settings: PlatformSettings) -> Backfill | None:
    data = _read_json(settings, MANIFEST_KEY)
    return Backfill(**data) if data is not None else None


def bronze_count(settings: PlatformSettings, table: str = "transactions") -> int:
    """Rows of a bronze table through Trino; 0 while it is not registered (nothing landed)."""
    sql = f"SELECT count(*) FROM {settings.trino_catalog}.bronze.{table}"  # noqa: S608
    try:
        rows = execute(settings, sql)
    except TrinoError as err:
        log.info("bronze table not readable", table=table, reason=str(err))
        return 0
    return int(rows[0][0])


def topic_records(settings: PlatformSettings, topics: list[str]) -> int:
    """Records in the topics (sum of end offsets; 0 for a topic that does not exist)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "fraud-backfill"}
    )
    try:
        total = 0
        metadata = consumer.list_topics(timeout=10).topics
        for topic in topics:
            if topic not in metadata:
                continue
            for partition in metadata[topic].partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                total += high - low
        return total
    finally:
        consumer.close()


def _bin(env: Mapping[str, str], name: str) -> str:
    return str(Path(env.get("VENV", str(repo_root() / ".venv"))) / "bin" / name)


def produce(
    env: Mapping[str, str],
    days: int,
    seed: int,
    malformed: float,
    history_end: dt.datetime | None = None,
) -> dict[str, Any]:
    """``fraud-producer --mode backfill``; returns the producer's final counts."""
    with tempfile.TemporaryDirectory() as tmp:
        counts_file = Path(tmp) / "counts.json"
        args = [
            _bin(env, "fraud-producer"),
            "--mode=backfill",
            f"--days={days}",
            f"--seed={seed}",
            f"--malformed-fraction={malformed}",
            f"--counts-file={counts_file}",
        ]
        if history_end is not None:
            args.append(f"--history-end={history_end.isoformat()}")
        subprocess.run(args, env={**env, "PRODUCER_METRICS_PORT": "0"}, check=True)
        counts: dict[str, Any] = json.loads(counts_file.read_text())
    return counts


def land(env: Mapping[str, str]) -> None:
    """The phase-2 bronze writer once over what Kafka holds (availableNow), then exits."""
    spark_env = {
        "FRAUD_CACHE_DIR": str(cache_dir()),
        "SPARK_CONF_DIR": str(repo_root() / "infra" / "spark"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "STREAMING_MASTER": "local[2]",
        "STREAMING_METRICS_PORT": "0",
        "LOG_FORMAT": "json",
    }
    python = _bin(env, "python")
    subprocess.run(
        [python, "-m", "spark_jobs.bronze_writer", "--once"], env={**env, **spark_env}, check=True
    )


def register_bronze(env: Mapping[str, str]) -> None:
    """The dbt project's own registration of the bronze tables (idempotent)."""
    subprocess.run(
        [_bin(env, "fraud-dbt"), "run-operation", "register_bronze_tables"],
        env=dict(env),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def reset_lakehouse(settings: PlatformSettings) -> None:
    """Empty what a backfill writes: the platform's topics (recreated empty), the bronze
    tables (unregistered in Trino, files and checkpoints deleted)."""
    catalog = settings.trino_catalog
    try:
        registered = {row[0] for row in execute(settings, f"SHOW TABLES FROM {catalog}.bronze")}
    except TrinoError:
        registered = set()
    for table in BRONZE_TABLES:
        if table in registered:
            execute(
                settings,
                f"CALL {catalog}.system.unregister_table(schema_name => 'bronze', "
                f"table_name => '{table}')",
            )
    client = s3_client(settings)
    paginator = client.get_paginator("list_objects_v2")
    for prefix in STREAMING_PREFIXES:
        for page in paginator.paginate(Bucket=settings.s3_bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            for i in range(0, len(keys), 1000):
                client.delete_objects(
                    Bucket=settings.s3_bucket, Delete={"Objects": keys[i : i + 1000]}
                )
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    topics = [settings.kafka_topic_raw, settings.kafka_topic_dlq, settings.kafka_topic_labels]
    for topic, future in admin.delete_topics(topics, operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as err:  # a topic that does not exist is fine
            log.info("topic not deleted", topic=topic, reason=str(err))
    deadline = time.monotonic() + 60
    while True:
        try:
            ensure_topics(settings)
            break
        except KafkaException:  # the deletion is still in progress
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    log.info("lakehouse reset: topics recreated empty, bronze removed")


def ensure_backfill(
    settings: PlatformSettings,
    env: Mapping[str, str],
    days: int,
    seed: int,
    malformed: float = 0.0,
    say: Callable[[str], None] = lambda _: None,
    history_end: dt.datetime | None = None,
) -> tuple[Backfill, bool]:
    """``days`` of simulated history in bronze; returns it and whether it was reused.

    With ``history_end`` (``make demo``: now) the history ends at that instant and the
    live producer (``--traffic history``) continues it from there; without, it ends one
    label delay before today with every label reported (the test sessions' lakehouse).
    """
    manifest = read_manifest(settings)
    if manifest is not None:
        landed = bronze_count(settings)
        if landed >= manifest.transactions:  # later live traffic may have added rows
            return manifest, True
        raise BackfillError(
            f"bronze holds {landed} transactions, fewer than the {manifest.transactions} "
            "of the recorded backfill: the lake was changed by hand; `make local-clean` "
            "starts from nothing"
        )
    started = _read_json(settings, STARTED_KEY)
    raw_topics = [settings.kafka_topic_raw, settings.kafka_topic_labels]
    if started is not None:
        say(f"a backfill started at {started.get('at')} was interrupted: starting it over")
        reset_lakehouse(settings)
    elif bronze_count(settings) > 0 or topic_records(settings, raw_topics) > 0:
        raise BackfillError(
            "the platform's topics or bronze already hold data that no backfill wrote; "
            "`make local-clean` starts from nothing"
        )
    _write_json(settings, STARTED_KEY, {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    t0 = time.monotonic()
    counts = produce(env, days, seed, malformed, history_end)
    say(f"produced {counts['acked'].get(settings.kafka_topic_raw, 0):,} transactions; landing")
    land(env)
    register_bronze(env)
    acked = counts["acked"]
    backfill = Backfill(
        days=days,
        seed=seed,
        transactions=int(acked.get(settings.kafka_topic_raw, 0)),
        labels=int(acked.get(settings.kafka_topic_labels, 0)),
        malformed=int(sum(counts.get("dlq", {}).values())),
        seconds=round(time.monotonic() - t0, 1),
        landed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        history_end=history_end.isoformat() if history_end is not None else "",
    )
    landed = bronze_count(settings)
    if landed != backfill.transactions:
        raise BackfillError(f"bronze holds {landed} rows, {backfill.transactions} were produced")
    _write_json(settings, MANIFEST_KEY, asdict(backfill))
    log.info("backfill landed", **asdict(backfill))
    return backfill, False
