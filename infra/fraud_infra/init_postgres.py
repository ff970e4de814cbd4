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
#: read-only role -> (component database it may read, variable holding its password).
#: Superset reads the prediction log through predictions_reader: SELECT on the tables
#: of the database's public schema (also those the serving API creates later) and every
#: transaction read-only by default.
READERS: dict[str, tuple[str, str]] = {
    "predictions_reader": ("predictions", "PREDICTIONS_READER_DB_PASSWORD"),
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
        for reader, (database, var) in READERS.items():
            done[reader] = _ensure_reader(conn, reader, database, var)
    for reader, (database, _) in READERS.items():
        with psycopg.connect(settings.postgres_dsn(database), autocommit=True) as conn:
            _grant_select(conn, reader, owner=database)
    return done


def _ensure_reader(conn: psycopg.Connection, reader: str, database: str, var: str) -> str:
    """Create or update the read-only LOGIN role ``reader`` allowed to connect to ``database``."""
    password = os.environ.get(var)
    if not password:
        raise RuntimeError(f"{var} is not set: run `make init`")
    role = sql.Identifier(reader)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (reader,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL("{} ROLE {} LOGIN NOINHERIT PASSWORD {}").format(
            sql.SQL(verb), role, sql.Literal(password)
        )
    )
    conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role))
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role)
    )
    state = "exists" if exists else "created"
    log.info("postgres read-only role ready", role=reader, database=database, state=state)
    return state


def _grant_select(conn: psycopg.Connection, reader: str, owner: str) -> None:
    """SELECT only, on the public schema's tables now and on those ``owner`` creates later."""
    role, owner_role = sql.Identifier(reader), sql.Identifier(owner)
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
    conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
    conn.execute(
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT SELECT ON TABLES TO {}"
        ).format(owner_role, role)
    )
