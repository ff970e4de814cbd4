"""A lakehouse with simulated history, for tests and benchmarks: phases 1 -> 2 -> 3.

:func:`ensure_backfill` produces N simulated days into the platform's topics with the
phase-1 producer and lands them in bronze with the phase-2 writer (``--once``), exactly
as the running platform would; :func:`build` runs ``dbt build``. A manifest in the
object store (``fixtures/backfill.json``) records what was landed, so a second test
session on the same stack reuses it instead of producing the history twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog
from botocore.exceptions import ClientError

from fraud_infra.init_trino import TrinoError, execute
from fraud_infra.paths import cache_dir, repo_root
from fraud_infra.s3 import s3_client
from fraud_infra.settings import PlatformSettings
from transforms.dbt import register_bronze, run_dbt

log = structlog.get_logger(__name__)

MANIFEST_KEY = "fixtures/backfill.json"


@dataclass(frozen=True)
class Backfill:
    """What one backfill produced (from the producer's final counts)."""

    days: int
    seed: int
    transactions: int
    labels: int
    seconds: float


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def read_manifest(settings: PlatformSettings) -> Backfill | None:
    try:
        body = s3_client(settings).get_object(Bucket=settings.s3_bucket, Key=MANIFEST_KEY)["Body"]
    except ClientError:
        return None
    return Backfill(**json.loads(body.read()))


def bronze_count(settings: PlatformSettings, table: str = "transactions") -> int:
    sql = f"SELECT count(*) FROM {settings.trino_catalog}.bronze.{table}"  # noqa: S608
    try:
        rows = execute(settings, sql)
    except TrinoError as err:  # the table is not registered yet: nothing landed
        log.info("bronze table not readable", table=table, reason=str(err))
        return 0
    return int(rows[0][0])


def land_bronze(env: dict[str, str]) -> None:
    """Run the phase-2 bronze writer once over what Kafka holds (availableNow)."""
    spark_env = {
        "FRAUD_CACHE_DIR": str(cache_dir()),
        "SPARK_CONF_DIR": str(repo_root() / "infra" / "spark"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "STREAMING_MASTER": "local[2]",
        "STREAMING_METRICS_PORT": "0",
        "LOG_FORMAT": "json",
    }
    subprocess.run(
        [sys.executable, "-m", "spark_jobs.bronze_writer", "--once"],
        env={**env, **spark_env},
        check=True,
    )


def produce_backfill(env: dict[str, str], days: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        counts_file = Path(tmp) / "counts.json"
        subprocess.run(
            [
                _bin("fraud-producer"),
                "--mode=backfill",
                f"--days={days}",
                f"--seed={seed}",
                f"--counts-file={counts_file}",
            ],
            env=env,
            check=True,
        )
        counts: dict[str, Any] = json.loads(counts_file.read_text())
    return counts


def ensure_backfill(
    settings: PlatformSettings, env: dict[str, str], days: int = 30, seed: int = 42
) -> Backfill:
    """``days`` of simulated history in bronze (produced and landed unless already there)."""
    manifest = read_manifest(settings)
    register_bronze(settings)
    if manifest is not None and bronze_count(settings) == manifest.transactions:
        log.info("backfill reused", **asdict(manifest))
        return manifest
    if manifest is not None or bronze_count(settings) > 0:
        raise RuntimeError(
            "bronze holds data that is not this fixture's backfill; "
            "use a fresh stack (make local-clean) for the lakehouse tests"
        )
    started = time.monotonic()
    counts = produce_backfill(env, days, seed)
    land_bronze(env)
    register_bronze(settings)
    acked = counts["acked"]
    backfill = Backfill(
        days=days,
        seed=seed,
        transactions=int(acked[settings.kafka_topic_raw]),
        labels=int(acked[settings.kafka_topic_labels]),
        seconds=round(time.monotonic() - started, 1),
    )
    landed = bronze_count(settings)
    if landed != backfill.transactions:
        raise RuntimeError(f"bronze holds {landed} rows, {backfill.transactions} were produced")
    s3_client(settings).put_object(
        Bucket=settings.s3_bucket, Key=MANIFEST_KEY, Body=json.dumps(asdict(backfill)).encode()
    )
    log.info("backfill landed", **asdict(backfill))
    return backfill


def build(settings: PlatformSettings, *args: str) -> None:
    """``dbt seed`` then ``dbt build`` (extra arguments go to the build)."""
    run_dbt(["seed"], settings)
    run_dbt(["build", *args], settings)


def reset(settings: PlatformSettings) -> None:
    """Empty the lakehouse: drop silver/gold tables, unregister bronze, delete the lake's
    objects and checkpoints, recreate the platform topics. For benchmarks and a fresh
    fixture on a long-lived stack; never part of the platform's own jobs."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from fraud_infra.init_topics import ensure_topics

    catalog = settings.trino_catalog
    for schema in ("silver", "gold", "bronze"):
        views = {
            row[0]
            for row in execute(
                settings,
                f"SELECT table_name FROM {catalog}.information_schema.views "  # noqa: S608
                f"WHERE table_schema = '{schema}'",
            )
        }
        for (table,) in execute(settings, f"SHOW TABLES FROM {catalog}.{schema}"):
            name = f"{catalog}.{schema}.{table}"
            if table in views:
                execute(settings, f"DROP VIEW IF EXISTS {name}")
            elif schema == "bronze":
                execute(
                    settings,
                    f"CALL {catalog}.system.unregister_table(schema_name => '{schema}', "
                    f"table_name => '{table}')",
                )
            else:
                execute(settings, f"DROP TABLE IF EXISTS {name}")
    client = s3_client(settings)
    paginator = client.get_paginator("list_objects_v2")
    for prefix in ("bronze/", "silver/", "gold/", "checkpoints/", "fixtures/"):
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
    while time.monotonic() < deadline:
        try:
            ensure_topics(settings)
            break
        except KafkaException as err:  # the deletion is still in progress
            log.info("topics not recreated yet", reason=str(err))
            time.sleep(1)
    register_bronze(settings)
    log.info("lakehouse reset")
