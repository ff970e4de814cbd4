"""A lakehouse with simulated history, for tests and benchmarks: phases 1 -> 2 -> 3.

:func:`ensure_backfill` produces N simulated days into the platform's topics with the
phase-1 producer and lands them in bronze with the phase-2 writer (``--once``), exactly
as the running platform would; :func:`build` runs ``dbt build``. A manifest in the
object store (``fixtures/backfill.json``) records what was landed, so a second test
session on the same stack reuses it instead of producing the history twice.

The ``lakehouse`` fixture lands 30 simulated days (once per stack: a second session
reuses them) and builds silver and gold with ``dbt build`` once per test session; the
phase 3 and 4 tests share it.
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

import pytest
import structlog
from botocore.exceptions import ClientError

from fraud_common.paths import cache_dir, repo_root
from fraud_common.s3 import s3_client
from fraud_common.settings import PlatformSettings
from fraud_common.trino import TrinoError, execute
from transforms.dbt import register_bronze, run_dbt

log = structlog.get_logger(__name__)

MANIFEST_KEY = "fixtures/backfill.json"
BACKFILL_DAYS = 30
BACKFILL_SEED = 42


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


@dataclass(frozen=True)
class Lakehouse:
    backfill: Backfill
    build_seconds: float


@pytest.fixture(scope="session")
def lakehouse(platform_env: dict[str, str], settings: PlatformSettings) -> Lakehouse:
    """30 simulated days in bronze, silver and gold (``dbt build`` passed)."""
    env = {k: v for k, v in platform_env.items() if k.isupper()}
    backfill = ensure_backfill(settings, env, days=BACKFILL_DAYS, seed=BACKFILL_SEED)
    started = time.monotonic()
    build(settings)
    return Lakehouse(backfill, round(time.monotonic() - started, 1))
