"""Create one role and one database per platform component, idempotently."""

from __future__ import annotations

import os

import psycopg
import structlog
from psycopg import sql

from fraud_common.settings import PlatformSettings

log = structlog.get_logger(__name__)

#: component -> environment variable holding its role's password
COMPONENTS: dict[str, str] = {
    "registry": "REGISTRY_DB_PASSWORD",
    "airflow": "AIRFLOW_DB_PASSWORD",
    "mlflow": "MLFLOW_DB_PASSWORD",
    "predictions": "PREDICTIONS_DB_PASSWORD",
    "superset": "SUPERSET_DB_PASSWORD",
}


def ensure_databases(settings: PlatformSettings) -> dict[str, str]:
    """Create or update each component's role (LOGIN, password) and its own database.

    Returns what was done per component ("created" or "exists"). Re-running changes
    nothing but the passwords, which are set to the current ``.env`` values.
    """
    done: dict[str, str] = {}
    with psycopg.connect(settings.postgres_dsn(), autocommit=True) as conn:
        for name, var in COMPONENTS.items():
            password = os.environ.get(var)
            if not password:
                raise RuntimeError(f"{var} is not set: run `make init`")
            role = sql.Identifier(name)
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                    sql.SQL(verb), role, sql.Literal(password)
                )
            )
            has_db = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not has_db:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(role, role))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(role))
            done[name] = "exists" if has_db else "created"
            log.info("postgres database ready", database=name, state=done[name])
    return done
