"""The sources pipeline-exporter asks, each a callable that sets its gauges.

Every source takes its engine as a small callable or client, so tests pass fakes:

- lakehouse (Trino): ``query(sql) -> rows``. Partitioned tables (bronze, the big marts)
  are read through their Delta statistics (``$partitions``: min/max per column from the
  transaction log), never their data files; the small unpartitioned marts and the
  quarantine tables are aggregated directly.
- feature store (Redis): ``get`` of a redis-py client (the streaming job's heartbeat).
- Airflow: ``get(path, params) -> JSON`` of its REST API (v2).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from fraud_contracts import online
from fraud_contracts.names import BRONZE_TABLES
from pipeline_exporter import metrics

Query = Callable[[str], Sequence[Sequence[Any]]]
JsonGet = Callable[[str, Mapping[str, Any]], Any]

BRONZE_SCHEMA = "bronze"
GOLD_SCHEMA = "gold"
SILVER_SCHEMA = "silver"
#: the column every gold mart stamps with its run's time (dbt)
GOLD_BATCH_COLUMN = "_batch_at"


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


# ============================================================================ lakehouse
def newest(query: Query, schema: str, table: str, columns: Sequence[str]) -> list[float | None]:
    """Unix time of each column's maximum. A partitioned table's comes from its Delta
    statistics (``$partitions``, the transaction log only); ``$partitions`` has no rows
    for an unpartitioned table, whose maximum is then computed (the small marts)."""
    stats = ", ".join(f"to_unixtime(max(data.{c}.max))" for c in columns)
    rows = query(f'SELECT {stats}, count(*) FROM {schema}."{table}$partitions"')  # noqa: S608
    if rows and rows[0][-1]:
        return [_number(v) for v in rows[0][:-1]]
    exact = ", ".join(f"to_unixtime(max({c}))" for c in columns)
    rows = query(f'SELECT {exact} FROM {schema}."{table}"')  # noqa: S608
    return [_number(v) for v in rows[0]]


def bronze_freshness(query: Query, tables: Iterable[str] = BRONZE_TABLES) -> None:
    """Newest event_time and ingested_at of each bronze table."""
    event: dict[tuple[str, ...], float] = {}
    ingested: dict[tuple[str, ...], float] = {}
    for table in tables:
        newest_event, newest_ingested = newest(
            query, BRONZE_SCHEMA, table, ("event_time", "ingested_at")
        )
        if newest_event is not None:
            event[(table,)] = newest_event
        if newest_ingested is not None:
            ingested[(table,)] = newest_ingested
    metrics.set_all(metrics.BRONZE_NEWEST_EVENT, event)
    metrics.set_all(metrics.BRONZE_NEWEST_INGESTED, ingested)


def gold_refresh(query: Query) -> None:
    """Newest ``_batch_at`` of every gold mart that has the column."""
    tables = query(
        "SELECT table_name FROM information_schema.columns"
        " WHERE table_schema = 'gold' AND column_name = '_batch_at'"
    )
    values: dict[tuple[str, ...], float] = {}
    for (table,) in tables:
        (refreshed,) = newest(query, GOLD_SCHEMA, str(table), (GOLD_BATCH_COLUMN,))
        if refreshed is not None:
            values[(str(table),)] = refreshed
    metrics.set_all(metrics.GOLD_LAST_REFRESH, values)


def quarantine_sizes(query: Query) -> None:
    """Rows still in quarantine in each ``silver.quarantine_*`` table: those without a
    ``resolved_at`` where the table has that column (an orphan label whose transaction
    landed later is resolved, not quarantined); no table, no series."""
    tables = query(
        "SELECT table_name, count_if(column_name = 'resolved_at') > 0"
        " FROM information_schema.columns"
        " WHERE table_schema = 'silver' AND table_name LIKE 'quarantine\\_%' ESCAPE '\\'"
        " GROUP BY table_name"
    )
    values: dict[tuple[str, ...], float] = {}
    for table, resolvable in tables:
        where = " WHERE resolved_at IS NULL" if resolvable else ""
        rows = query(f'SELECT count(*) FROM {SILVER_SCHEMA}."{table}"{where}')  # noqa: S608
        values[(str(table),)] = float(rows[0][0])
    metrics.set_all(metrics.QUARANTINE_ROWS, values)


# ============================================================================ feature store
class FeatureRedis(Protocol):
    """The redis-py call used (``redis.Redis`` or a fake)."""

    def get(self, name: str) -> Any: ...


def feature_stream_status(client: FeatureRedis, key_prefix: str = "") -> None:
    """The streaming feature job's heartbeat in the online state (its last write, its
    backlog, the Kafka time it has applied through); no heartbeat, no series."""
    raw = client.get(key_prefix + online.STATUS_KEY)
    store = ("redis",)
    if raw is None:
        values: tuple[float, ...] = ()
    else:
        status = online.StreamStatus.from_redis(raw)
        values = (
            status.updated_ms / 1000,
            float(status.backlog),
            status.applied_through_ms / 1000,
        )
    gauges = (
        metrics.FEATURE_STREAM_HEARTBEAT,
        metrics.FEATURE_STREAM_BACKLOG,
        metrics.FEATURE_STREAM_APPLIED_THROUGH,
    )
    for i, gauge in enumerate(gauges):
        metrics.set_all(gauge, {store: values[i]} if values else {})


# ============================================================================ Airflow
def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def airflow_dags(get: JsonGet) -> None:
    """Per DAG: end and duration of the newest successful run, whether the newest finished
    run failed, and its task instances that succeeded / failed."""
    last_success: dict[tuple[str, ...], float] = {}
    last_duration: dict[tuple[str, ...], float] = {}
    last_failed: dict[tuple[str, ...], float] = {}
    tasks: dict[tuple[str, ...], float] = {}
    for dag in get("/api/v2/dags", {"limit": 100})["dags"]:
        dag_id = str(dag["dag_id"])
        runs = f"/api/v2/dags/{dag_id}/dagRuns"
        newest = get(runs, {"state": "success", "order_by": "-end_date", "limit": 1})
        if newest["dag_runs"] and (ended := _timestamp(newest["dag_runs"][0]["end_date"])):
            last_success[(dag_id,)] = ended
            if started := _timestamp(newest["dag_runs"][0].get("start_date")):
                last_duration[(dag_id,)] = ended - started
        finished = get(runs, {"state": ["success", "failed"], "order_by": "-end_date", "limit": 1})
        if finished["dag_runs"]:
            last_failed[(dag_id,)] = float(finished["dag_runs"][0]["state"] == "failed")
        for state in ("success", "failed"):
            found = get(f"{runs}/~/taskInstances", {"state": state, "limit": 1})
            tasks[(dag_id, state)] = float(found["total_entries"])
    metrics.set_all(metrics.AIRFLOW_LAST_SUCCESS, last_success)
    metrics.set_all(metrics.AIRFLOW_LAST_RUN_DURATION, last_duration)
    metrics.set_all(metrics.AIRFLOW_LAST_RUN_FAILED, last_failed)
    metrics.set_all(metrics.AIRFLOW_TASK_INSTANCES, tasks)
