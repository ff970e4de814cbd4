"""Trino's lakehouse schemas and the bronze tables Spark writes, idempotently.

``fraud-init trino`` runs once Trino is ready (native: the ``init`` of service ``trino``;
compose: a one-shot job). It

* creates the schemas ``bronze``, ``silver`` and ``gold`` of catalog ``delta`` at
  ``s3://<bucket>/<layer>/`` (dbt's managed silver/gold tables go below those);
* registers each bronze table that Spark has created (its ``_delta_log`` exists on S3)
  with ``CALL delta.system.register_table``. Spark creates the tables on its first
  write, so a run before that skips them quietly; run it again afterwards. A table that
  is registered already is left alone; one whose ``_delta_log`` has gone (the lake was
  wiped) is unregistered, so that the next run registers the new table.

Trino is reached through its REST protocol with ``requests``: the init image carries the
fraud-infra dependencies only, not a Trino client.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests
import structlog

from fraud_infra.s3 import s3_client
from fraud_infra.settings import PlatformSettings

log = structlog.get_logger(__name__)

LAYERS = ("bronze", "silver", "gold")
#: bronze table -> its directory in the bucket (written by phase2-streaming's Spark job)
BRONZE_TABLES: Mapping[str, str] = {
    "transactions": "bronze/transactions",
    "fraud_labels": "bronze/fraud_labels",
}
_RETRY_STATUS = {429, 502, 503, 504}


class TrinoError(RuntimeError):
    """A statement failed in Trino (the message carries Trino's error name and text)."""

    def __init__(self, message: str, error_name: str = "") -> None:
        super().__init__(f"{error_name}: {message}" if error_name else message)
        self.error_name = error_name


def execute(
    settings: PlatformSettings, sql: str, user: str = "fraud-init", timeout: float = 300.0
) -> list[list[Any]]:
    """Run one statement through Trino's client REST protocol; return all its rows."""
    url: str | None = f"http://{settings.trino_host}:{settings.trino_port}/v1/statement"
    headers = {"X-Trino-User": user, "X-Trino-Catalog": settings.trino_catalog}
    deadline = time.monotonic() + timeout
    rows: list[list[Any]] = []
    body: str | None = sql
    with requests.Session() as http:
        while url:
            if time.monotonic() > deadline:
                raise TrinoError(f"no result within {timeout:.0f}s: {sql}")
            if body is not None:
                resp = http.post(url, data=body.encode(), headers=headers, timeout=30)
            else:
                resp = http.get(url, headers=headers, timeout=30)
            if resp.status_code in _RETRY_STATUS:
                time.sleep(0.5)
                continue
            resp.raise_for_status()
            body = None
            payload = resp.json()
            if payload.get("error"):
                err = payload["error"]
                raise TrinoError(str(err.get("message")), str(err.get("errorName", "")))
            rows.extend(payload.get("data") or [])
            url = payload.get("nextUri")
    return rows


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def layer_location(settings: PlatformSettings, layer: str) -> str:
    return f"s3://{settings.s3_bucket}/{layer}/"


def has_delta_log(settings: PlatformSettings, prefix: str) -> bool:
    """Whether ``s3://<bucket>/<prefix>/_delta_log/`` holds any object."""
    listed = s3_client(settings).list_objects_v2(
        Bucket=settings.s3_bucket, Prefix=f"{prefix.strip('/')}/_delta_log/", MaxKeys=1
    )
    return int(listed.get("KeyCount", 0)) > 0


def ensure_schemas_and_tables(
    settings: PlatformSettings,
    tables: Mapping[str, str] = BRONZE_TABLES,
    schema: str = "bronze",
) -> dict[str, str]:
    """Create the layer schemas, (un)register ``tables`` of ``schema``; report each state."""
    catalog = settings.trino_catalog
    done: dict[str, str] = {}
    existing_schemas = {row[0] for row in execute(settings, f"SHOW SCHEMAS FROM {catalog}")}
    for layer in LAYERS:
        if layer not in existing_schemas:
            execute(
                settings,
                f"CREATE SCHEMA IF NOT EXISTS {catalog}.{layer} "
                f"WITH (location = {sql_literal(layer_location(settings, layer))})",
            )
        done[f"{catalog}.{layer}"] = "exists" if layer in existing_schemas else "created"

    registered = {row[0] for row in execute(settings, f"SHOW TABLES FROM {catalog}.{schema}")}
    for table, prefix in tables.items():
        name = f"{catalog}.{schema}.{table}"
        location = f"s3://{settings.s3_bucket}/{prefix.strip('/')}"
        present = has_delta_log(settings, prefix)
        if table in registered and present:
            done[name] = "exists"
        elif table in registered:
            execute(
                settings,
                f"CALL {catalog}.system.unregister_table(schema_name => {sql_literal(schema)}, "
                f"table_name => {sql_literal(table)})",
            )
            done[name] = "unregistered (its _delta_log is gone)"
        elif present:
            try:
                execute(
                    settings,
                    f"CALL {catalog}.system.register_table("
                    f"schema_name => {sql_literal(schema)}, table_name => {sql_literal(table)}, "
                    f"table_location => {sql_literal(location)})",
                )
                done[name] = "registered"
            except TrinoError as err:  # registered meanwhile by a concurrent run
                if err.error_name != "ALREADY_EXISTS":
                    raise
                done[name] = "exists"
        else:
            done[name] = "skipped (no _delta_log yet)"
    for name, state in done.items():
        log.info("trino object ready", name=name, state=state)
    return done
