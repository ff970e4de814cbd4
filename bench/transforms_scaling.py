"""dbt transforms benchmark: one incremental 15-minute run with 1 M vs 10 M rows of history.

    .venv/bin/python bench/transforms_scaling.py                      # 1 M vs 10 M rows
    .venv/bin/python bench/transforms_scaling.py --quick              # 100 k vs 1 M (smoke)
    .venv/bin/python bench/transforms_scaling.py --sizes 2000000 --keep

For each history size, against the running native stack (Trino, s3proxy), in side
schemas only (``bronze_bench``, ``silver_bench``, ``gold_bench``, located under
``s3://<bucket>/bench/<run>/``; the platform's bronze/silver/gold are never touched):

1. load  Bronze-shaped Delta tables (``transactions``, ``fraud_labels``), written with
         delta-rs in the exact schema the phase-2 Spark writer lands (contract fields,
         ``event_date`` partition, Kafka metadata, ``ingested_at`` = load time), filled by
         the phase-1 simulator: N days of history at its usual ~9,800 transactions per
         day, ending at 12:00 UTC of a past day, plus the fraud labels already due then
         (frauds only, ``reported_at`` = event time + the producer's label delay).
         Registered in Trino with ``delta.system.register_table``.
2. full  ``dbt seed``, then the timed ``dbt run --full-refresh`` (vars
         ``bronze_schema: bronze_bench``, ``schema_suffix: bench``).
3. incr  Append the next 15 minutes of simulated events and the labels that became due
         in them (new ``ingested_at``), then time ``dbt run``; ``--increments`` times, the
         median is reported. Before them, ``--catch-up`` runs (default 1) of the same kind
         are timed and reported separately: the first run after the history load also
         re-reads what landed within ``ingestion_lookback_minutes`` of the load's end (the
         models' lookback). The newest simulated day is therefore written after a pause
         longer than that lookback, so the catch-up re-reads one day, not the history.

Each measurement records the machine's load average before it, dbt's per-model time and
``rows_affected`` (run_results.json) and Trino's per-query times (system.runtime.queries,
user ``bench-transforms``). dbt's target and log directories go to bench/results/, not to
the project. Everything is dropped and deleted at the end unless ``--keep``.
Results are printed and written to bench/results/transforms_scaling.json (git-ignored).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import shutil
import statistics
import sys
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml
from deltalake import DeltaTable, write_deltalake

from fraud_common.paths import repo_root
from fraud_common.s3 import delta_storage_options, s3_client
from fraud_common.settings import PlatformSettings
from fraud_common.trino import TrinoError, execute, sql_literal
from fraud_contracts.avro import FRAUD_LABEL_AVSC, TRANSACTION_AVSC, schema_text
from fraud_infra.envfiles import platform_env
from fraud_simulator.simulator import DAY_MS, SimulatedTransaction, Simulator, to_millis
from spark_jobs.avro_types import field_types
from spark_jobs.sink import METADATA_COLUMNS
from transforms.dbt import project_dir, run_dbt

RESULTS = repo_root() / "bench" / "results"
SCHEMAS = {"bronze": "bronze_bench", "silver": "silver_bench", "gold": "gold_bench"}
DBT_VARS = "{bronze_schema: bronze_bench, schema_suffix: bench}"
DBT_USER = "bench-transforms"
SLICE = timedelta(minutes=15)
TX_PER_DAY = 9_800  # the simulator's mean; the exact count is measured and reported
TS = pa.timestamp("us", tz="UTC")  # Spark's TimestampType in Delta
# Types of the ingestion metadata columns, as phase2-streaming's decoder and sink make them.
METADATA_TYPES: dict[str, pa.DataType] = {
    "schema_id": pa.int64(),
    "kafka_topic": pa.string(),
    "kafka_partition": pa.int32(),
    "kafka_offset": pa.int64(),
    "kafka_timestamp": TS,
    "ingested_at": TS,
    "batch_id": pa.int64(),
}


# ---------------------------------------------------------------------- bronze schema
def bronze_schema(avsc: Path) -> pa.Schema:
    """The bronze table's schema: contract fields, ``event_date``, ingestion metadata."""
    if tuple(METADATA_TYPES) != tuple(METADATA_COLUMNS):
        raise RuntimeError(f"the Spark sink's metadata columns changed: {METADATA_COLUMNS}")
    fields = [
        pa.field(f.name, TS if f.timestamp_millis else f.arrow, nullable=True)
        for f in field_types(schema_text(avsc))
    ]
    fields.append(pa.field("event_date", pa.date32(), nullable=True))
    fields += [pa.field(n, t, nullable=True) for n, t in METADATA_TYPES.items()]
    return pa.schema(fields)


TX_SCHEMA = bronze_schema(TRANSACTION_AVSC)
LABEL_SCHEMA = bronze_schema(FRAUD_LABEL_AVSC)


# ---------------------------------------------------------------------- the lake
@dataclass
class Lake:
    """The bench schemas of one history size and their S3 prefix."""

    settings: PlatformSettings
    prefix: str  # bucket-relative, no trailing slash
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    batch_id: int = 0

    @property
    def catalog(self) -> str:
        return str(self.settings.trino_catalog)

    def uri(self, path: str) -> str:
        return f"s3://{self.settings.s3_bucket}/{self.prefix}/{path}"

    def storage_options(self) -> dict[str, str]:
        options: dict[str, str] = delta_storage_options(self.settings)
        return options

    def sql(self, statement: str) -> list[list[Any]]:
        rows: list[list[Any]] = execute(self.settings, statement, user=DBT_USER, timeout=3600)
        return rows

    # -------------------------------------------------------------- schemas
    def create_schemas(self) -> None:
        for layer, schema in SCHEMAS.items():
            self.sql(
                f"CREATE SCHEMA {self.catalog}.{schema} "
                f"WITH (location = {sql_literal(self.uri(layer))})"
            )

    def register(self) -> None:
        for table in ("transactions", "fraud_labels"):
            self.sql(
                f"CALL {self.catalog}.system.register_table(schema_name => "
                f"{sql_literal(SCHEMAS['bronze'])}, table_name => {sql_literal(table)}, "
                f"table_location => {sql_literal(self.uri('bronze/' + table))})"
            )

    # -------------------------------------------------------------- rows
    def _kafka(self, topic: str, keys: Sequence[str], partitions: int) -> dict[str, pa.Array]:
        parts, offsets = [], []
        for key in keys:
            p = zlib.crc32(key.encode()) % partitions
            o = self.offsets.get((topic, p), 0)
            self.offsets[(topic, p)] = o + 1
            parts.append(p)
            offsets.append(o)
        return {
            "kafka_topic": pa.array([topic] * len(keys), pa.string()),
            "kafka_partition": pa.array(parts, pa.int32()),
            "kafka_offset": pa.array(offsets, pa.int64()),
        }

    def _table(
        self,
        schema: pa.Schema,
        rows: Sequence[dict[str, Any]],
        topic: str,
        partitions: int,
        ingested_ms: int,
    ) -> pa.Table:
        columns: dict[str, pa.Array] = {}
        for f in schema:
            if f.name in METADATA_TYPES or f.name == "event_date":
                continue
            values = [r[f.name] for r in rows]
            if f.type == TS:  # epoch ms in the records
                columns[f.name] = pa.array(values, pa.int64()).cast(pa.timestamp("ms", "UTC"))
            else:
                columns[f.name] = pa.array(values, f.type)
        event_ms = np.fromiter((r["event_time"] for r in rows), np.int64, len(rows))
        columns["event_date"] = pa.array((event_ms // DAY_MS).astype(np.int32)).cast(pa.date32())
        n = len(rows)
        keys = [str(r["user_id"]) for r in rows]
        stamp = pa.array([ingested_ms] * n, pa.int64()).cast(pa.timestamp("ms", "UTC"))
        columns |= {
            "schema_id": pa.array([1] * n, pa.int64()),
            **self._kafka(topic, keys, partitions),
            "kafka_timestamp": stamp,
            "ingested_at": stamp,
            "batch_id": pa.array([self.batch_id] * n, pa.int64()),
        }
        return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema], schema=schema)

    def append(
        self, transactions: Sequence[dict[str, Any]], labels: Sequence[dict[str, Any]]
    ) -> None:
        """Append rows to both bronze tables as one landing (one ``ingested_at``)."""
        now_ms = to_millis(datetime.now(UTC))
        s = self.settings
        for schema, rows, topic, parts, table in (
            (TX_SCHEMA, transactions, s.kafka_topic_raw, 10, "transactions"),
            (LABEL_SCHEMA, labels, s.kafka_topic_labels, 1, "fraud_labels"),
        ):
            if not rows and self.batch_id > 0:
                continue
            write_deltalake(
                self.uri(f"bronze/{table}"),
                self._table(schema, rows, topic, parts, now_ms),
                mode="append",
                partition_by=["event_date"],
                storage_options=self.storage_options(),
            )
        self.batch_id += 1

    # -------------------------------------------------------------- teardown
    def drop(self) -> None:
        """Drop the bench schemas (whatever run made them) and delete this prefix."""
        drop_bench_schemas(self.settings)
        delete_prefix(self.settings, self.prefix)


def drop_bench_schemas(settings: PlatformSettings) -> None:
    catalog = settings.trino_catalog
    existing = {r[0] for r in execute(settings, f"SHOW SCHEMAS FROM {catalog}", user=DBT_USER)}
    for layer, schema in SCHEMAS.items():
        if schema not in existing:
            continue
        views = {
            r[0]
            for r in execute(
                settings,
                f"SELECT table_name FROM {catalog}.information_schema.views "
                f"WHERE table_schema = {sql_literal(schema)}",
                user=DBT_USER,
            )
        }
        for (table,) in execute(settings, f"SHOW TABLES FROM {catalog}.{schema}", user=DBT_USER):
            name = f"{catalog}.{schema}.{table}"
            if table in views:
                statement = f"DROP VIEW IF EXISTS {name}"
            elif layer == "bronze":  # registered, not owned: leave the files to delete_prefix
                statement = (
                    f"CALL {catalog}.system.unregister_table(schema_name => "
                    f"{sql_literal(schema)}, table_name => {sql_literal(table)})"
                )
            else:
                statement = f"DROP TABLE IF EXISTS {name}"
            execute(settings, statement, user=DBT_USER)
        execute(settings, f"DROP SCHEMA IF EXISTS {catalog}.{schema}", user=DBT_USER)


def delete_prefix(settings: PlatformSettings, prefix: str) -> int:
    client = s3_client(settings)
    deleted = 0
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=settings.s3_bucket, Prefix=prefix.rstrip("/") + "/"
    ):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        for i in range(0, len(keys), 1000):
            client.delete_objects(Bucket=settings.s3_bucket, Delete={"Objects": keys[i : i + 1000]})
            deleted += len(keys[i : i + 1000])
    return deleted


# ---------------------------------------------------------------------- simulated history
class History:
    """The simulator's stream cut at ``end``: history before it, 15-minute slices after."""

    def __init__(self, seed: int, rows: int) -> None:
        self.sim = Simulator(seed)  # the producer's default label delay (1 day)
        full_days = max(1, round(rows / TX_PER_DAY - 0.5))
        last = datetime.now(UTC).date() - timedelta(days=2)
        self.start = last - timedelta(days=full_days)
        self.end = datetime(last.year, last.month, last.day, 12, tzinfo=UTC)  # noon of `last`
        self.end_ms = to_millis(self.end)
        self.days = full_days + 0.5
        self.pending: list[tuple[int, int, dict[str, Any]]] = []  # labels not due yet
        self._seq = 0
        self._after: list[SimulatedTransaction] = []  # events of `last` after `end`

    def _keep_label(self, item: SimulatedTransaction) -> None:
        if item.label is not None:
            label: dict[str, Any] = dict(item.label)
            heapq.heappush(self.pending, (int(item.label["reported_at"]), self._seq, label))
            self._seq += 1

    def due(self, until_ms: int) -> list[dict[str, Any]]:
        """Labels with ``reported_at <= until_ms`` (what the producer has sent by then)."""
        out = []
        while self.pending and self.pending[0][0] <= until_ms:
            out.append(heapq.heappop(self.pending)[2])
        return out

    def chunks(self, days_per_chunk: int) -> Iterator[list[dict[str, Any]]]:
        """Transactions before ``end``, ``days_per_chunk`` simulated days at a time; the
        last (partial) day is a chunk of its own."""
        day = self.start
        last = self.end.date()
        while day <= last:
            chunk: list[dict[str, Any]] = []
            for _ in range(days_per_chunk if day < last else 1):
                if day >= last and chunk:
                    break
                for item in self.sim.day(day):
                    if item.transaction["event_time"] < self.end_ms:
                        chunk.append(dict(item.transaction))
                        self._keep_label(item)
                    else:
                        self._after.append(item)
                day += timedelta(days=1)
            yield chunk

    def next_slice(self, index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        """Transactions of the ``index``-th 15 minutes after ``end`` and the labels due by
        its end; returns (transactions, labels, slice end ms)."""
        lo = self.end_ms + index * (SLICE // timedelta(milliseconds=1))
        hi = lo + SLICE // timedelta(milliseconds=1)
        txs = []
        for item in self._after:
            if lo <= item.transaction["event_time"] < hi:
                txs.append(dict(item.transaction))
                self._keep_label(item)
        return txs, self.due(hi), hi


# ---------------------------------------------------------------------- dbt runs
@dataclass
class Measured:
    step: str
    seconds: float
    load_avg: tuple[float, float, float]
    models: dict[str, dict[str, Any]]
    queries: list[dict[str, Any]]


class Runner:
    """dbt invocations of one history size, output kept under bench/results/."""

    def __init__(self, settings: PlatformSettings, out: Path) -> None:
        self.settings = settings
        self.out = out
        self.env = {
            "TRINO_USER": DBT_USER,
            "DBT_TARGET_PATH": str(out / "target"),
            "DBT_LOG_PATH": str(out / "logs"),
        }

    def dbt(self, *args: str) -> float:
        started = time.monotonic()
        done = run_dbt(
            [*args, "--vars", DBT_VARS],
            self.settings,
            extra_env=self.env,
            check=False,
            capture=True,
        )
        seconds = time.monotonic() - started
        with (self.out / "dbt.log").open("a") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
            raise RuntimeError(f"dbt {' '.join(args)} failed:\n{tail}")
        return seconds

    def measure(self, step: str, *args: str) -> Measured:
        load = os.getloadavg()
        started = datetime.now(UTC)
        print(f"  {step}: dbt {' '.join(args)} (load {load[0]:.1f})", file=sys.stderr, flush=True)
        seconds = self.dbt(*args)
        results = self.out / "target" / "run_results.json"
        shutil.copy(results, self.out / f"run_results-{step}.json")
        measured = Measured(
            step, round(seconds, 1), load, _models(results), _queries(self.settings, started)
        )
        print(f"  {step}: {measured.seconds:.1f} s", file=sys.stderr, flush=True)
        for name, m in measured.models.items():
            print(f"      {name:32s} {m['seconds']:7.1f} s  rows {m['rows']}", file=sys.stderr)
        return measured


def _models(run_results: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(run_results.read_text())
    out = {}
    for r in data["results"]:
        name = r["unique_id"].split(".")[-1]
        out[name] = {
            "status": r["status"],
            "seconds": round(float(r["execution_time"]), 1),
            "rows": (r.get("adapter_response") or {}).get("rows_affected"),
        }
    return out


def _queries(settings: PlatformSettings, since: datetime) -> list[dict[str, Any]]:
    """Trino's record of the run's statements (bounded by query.max-history)."""
    stamp = since.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    try:
        rows = execute(
            settings,
            "SELECT query_id, state, date_diff('millisecond', created, \"end\"), "
            'regexp_extract(query, \'"node_id": "[a-z]+\\.[a-z_]+\\.([a-z_0-9]+)\', 1), '
            "substr(regexp_replace(regexp_replace(query, '(?s)^/\\*.*?\\*/', ''), "
            "'\\s+', ' '), 1, 200) "
            "FROM system.runtime.queries "
            f"WHERE user = {sql_literal(DBT_USER)} "
            f"AND created >= timestamp '{stamp} UTC' ORDER BY 3 DESC",
            user=DBT_USER,
        )
    except TrinoError as err:
        return [{"error": str(err)}]
    return [
        {"query_id": r[0], "state": r[1], "ms": r[2], "model": r[3], "sql": r[4]} for r in rows[:25]
    ]


# ---------------------------------------------------------------------- one size
def lookback_minutes() -> float:
    """The dbt project's ``ingestion_lookback_minutes`` (rows landed that long before the
    last run's newest landing are read again)."""
    project = yaml.safe_load((project_dir() / "dbt_project.yml").read_text())
    return float(project["vars"]["ingestion_lookback_minutes"])


def check_schema_against_platform(lake: Lake) -> list[str]:
    """Differences from the real bronze tables' schemas (if they exist; read only)."""
    notes = []
    for table, mine in (("transactions", TX_SCHEMA), ("fraud_labels", LABEL_SCHEMA)):
        uri = f"s3://{lake.settings.s3_bucket}/bronze/{table}"
        try:
            table_schema = DeltaTable(uri, storage_options=lake.storage_options()).schema()
            real = pa.schema(table_schema.to_arrow())
        except Exception as err:  # absent or being rewritten: nothing to compare
            notes.append(f"{table}: platform table not readable ({type(err).__name__})")
            continue
        real_cols = [(f.name, str(f.type)) for f in real]
        mine_cols = [(f.name, str(f.type)) for f in mine]
        same = real_cols == mine_cols
        notes.append(f"{table}: {'same schema as' if same else 'DIFFERS from'} platform bronze")
        if not same:
            notes.append(f"  platform {real_cols}\n  bench    {mine_cols}")
    return notes


def run_size(
    settings: PlatformSettings, run: str, rows: int, args: argparse.Namespace
) -> dict[str, Any]:
    label = f"h{rows}"
    out = RESULTS / "transforms_scaling" / run / label
    out.mkdir(parents=True, exist_ok=True)
    lake = Lake(settings, f"bench/{run}/{label}")
    drop_bench_schemas(settings)  # leftovers of an interrupted run
    history = History(args.seed, rows)
    print(
        f"[{label}] history {history.start} .. {history.end:%Y-%m-%d %H:%M} "
        f"({history.days} days) -> s3://{settings.s3_bucket}/{lake.prefix}",
        file=sys.stderr,
        flush=True,
    )
    result: dict[str, Any] = {"target_rows": rows, "prefix": lake.prefix}
    try:
        started = time.monotonic()
        loaded = 0
        lookback_s = 60 * lookback_minutes() + 10
        last_write = time.monotonic()
        for chunk in history.chunks(args.chunk_days):
            if chunk and chunk[0]["event_time"] >= to_millis(history.end) - DAY_MS // 2:
                # The newest day lands after a pause longer than the models' ingestion
                # lookback, like the live stream after a backfill: otherwise the first
                # incremental run re-reads the whole history (see --catch-up).
                pause = lookback_s - (time.monotonic() - last_write)
                print(f"  pause {max(0.0, pause):.0f} s (ingestion lookback)", file=sys.stderr)
                time.sleep(max(0.0, pause))
            lake.append(chunk, history.due(history.end_ms))
            last_write = time.monotonic()
            loaded += len(chunk)
            print(f"  loaded {loaded:,} rows", file=sys.stderr, flush=True)
        labels = history.due(history.end_ms)  # the rest of the labels due by the end
        if labels:
            lake.append([], labels)
        load_s = time.monotonic() - started
        lake.create_schemas()
        lake.register()
        counted = lake.sql(
            f"SELECT (SELECT count(*) FROM {lake.catalog}.bronze_bench.transactions), "
            f"(SELECT count(*) FROM {lake.catalog}.bronze_bench.fraud_labels)"
        )[0]
        result |= {
            "history_rows": int(counted[0]),
            "history_labels": int(counted[1]),
            "history_days": history.days,
            "history_end": history.end.isoformat(),
            "load_s": round(load_s, 1),
            "schema_check": check_schema_against_platform(lake),
        }
        print(
            f"  bronze_bench: {counted[0]:,} transactions, {counted[1]:,} labels in {load_s:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        runner = Runner(settings, out)
        runner.dbt("seed")
        full = runner.measure("full_refresh", "run", "--full-refresh")
        increments = []
        for i in range(args.catch_up + args.increments):
            txs, due, _ = history.next_slice(i)
            lake.append(txs, due)
            step = f"catch_up_{i + 1}" if i < args.catch_up else f"incremental_{i + 1}"
            inc = runner.measure(step, "run")
            increments.append(
                {"slice_transactions": len(txs), "slice_labels": len(due)} | inc.__dict__
            )
        catch_up, increments = increments[: args.catch_up], increments[args.catch_up :]
        result |= {
            "full_refresh": full.__dict__,
            "catch_up": catch_up,
            "incremental": increments,
            "full_refresh_s": full.seconds,
            "incremental_s": [m["seconds"] for m in increments],
            "incremental_median_s": statistics.median(m["seconds"] for m in increments),
        }
        return result
    finally:
        if not args.keep or rows != args.sizes[-1]:
            lake.drop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(float(x)) for x in s.split(",")],
        default=[1_000_000, 10_000_000],
        help="comma-separated history sizes in bronze rows (default 1e6,1e7)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 100k vs 1M rows")
    parser.add_argument("--increments", type=int, default=3, help="incremental runs per size")
    parser.add_argument(
        "--catch-up",
        type=int,
        default=1,
        help="untimed-in-median 15-minute runs first: the first run after the history load "
        "re-reads what landed within ingestion_lookback_minutes of the load's end",
    )
    parser.add_argument("--chunk-days", type=int, default=20, help="simulated days per write")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the last size's schemas")
    parser.add_argument("--cleanup", metavar="RUN", help="only drop a kept run's schemas/prefix")
    args = parser.parse_args()
    if args.cleanup:
        settings = PlatformSettings.from_env(platform_env())
        drop_bench_schemas(settings)
        print(f"deleted {delete_prefix(settings, f'bench/{args.cleanup}')} objects")
        return 0
    if args.quick:
        args.sizes = [100_000, 1_000_000]
    settings = PlatformSettings.from_env(platform_env())
    run = f"transforms-{uuid.uuid4().hex[:8]}"
    results: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"run": run, "cores": os.cpu_count(), "sizes": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    for rows in args.sizes:
        results.append(run_size(settings, run, rows, args))
        summary["at"] = datetime.now(UTC).isoformat(timespec="seconds")
        (RESULTS / "transforms_scaling.json").write_text(json.dumps(summary, indent=2, default=str))
    first, last = results[0], results[-1]
    if len(results) > 1:
        summary["ratio_full_refresh"] = round(last["full_refresh_s"] / first["full_refresh_s"], 2)
        summary["ratio_incremental"] = round(
            last["incremental_median_s"] / first["incremental_median_s"], 2
        )
        summary["target_incremental_ratio_max"] = 1.5
    (RESULTS / "transforms_scaling.json").write_text(json.dumps(summary, indent=2, default=str))
    print(
        "\n| history rows | full refresh s | incremental s (median) | incremental runs s "
        "| catch-up s | load avg 1 min before each |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        steps = [r["full_refresh"], *r["catch_up"], *r["incremental"]]
        loads = ", ".join(f"{m['load_avg'][0]:.1f}" for m in steps)
        print(
            f"| {r['history_rows']:,} | {r['full_refresh_s']:.1f} | "
            f"{r['incremental_median_s']:.1f} | "
            f"{', '.join(f'{s:.1f}' for s in r['incremental_s'])} | "
            f"{', '.join(str(m['seconds']) for m in r['catch_up'])} | "
            f"{loads} |"
        )
    if len(results) > 1:
        print(
            f"| ratio ({last['history_rows'] / first['history_rows']:.1f}x rows) | "
            f"{summary['ratio_full_refresh']} | {summary['ratio_incremental']} "
            f"(target <= 1.5) | | | |"
        )
    print(f"\nresults: {RESULTS / 'transforms_scaling.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
