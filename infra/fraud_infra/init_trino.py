"""Trino's lakehouse schemas, idempotently.

``fraud-init trino`` runs once Trino is ready (native: the ``init`` of service ``trino``;
compose: a one-shot job). It creates the schemas ``bronze``, ``silver`` and ``gold`` of
catalog ``delta`` at ``s3://<bucket>/<layer>/`` (dbt's managed silver/gold tables go
below those). The bronze tables Spark writes are registered by the dbt project itself
(its ``on-run-start`` hook, ``register_bronze_tables``), where they are first needed.
"""

from __future__ import annotations

import structlog

from fraud_common.settings import PlatformSettings
from fraud_common.trino import execute, sql_literal
from fraud_contracts.names import LAYERS

log = structlog.get_logger(__name__)


def layer_location(settings: PlatformSettings, layer: str) -> str:
    return f"s3://{settings.s3_bucket}/{layer}/"


def ensure_schemas(settings: PlatformSettings) -> dict[str, str]:
    """Create the layer schemas that do not exist yet; report each one's state."""
    catalog = settings.trino_catalog
    done: dict[str, str] = {}
    existing = {row[0] for row in execute(settings, f"SHOW SCHEMAS FROM {catalog}")}
    for layer in LAYERS:
        if layer not in existing:
            execute(
                settings,
                f"CREATE SCHEMA IF NOT EXISTS {catalog}.{layer} "
                f"WITH (location = {sql_literal(layer_location(settings, layer))})",
            )
        done[f"{catalog}.{layer}"] = "exists" if layer in existing else "created"
    for name, state in done.items():
        log.info("trino schema ready", name=name, state=state)
    return done
