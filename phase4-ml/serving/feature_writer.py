"""``fraud-feature-writer``: the gold risk profiles into the Redis feature store.

    fraud-feature-writer                      both tables (run by Airflow after dbt)
    fraud-feature-writer --only users         one of them

Reads ``delta.gold.mart_user_risk_profiles`` (``user_id``, ``as_of`` and every
:data:`features.USER_FEATURES` column) and ``delta.gold.mart_terminal_risk_profiles``
(``merchant_id``, ``as_of`` and every :data:`features.TERMINAL_FEATURES` column) through
Trino and writes one key per user / terminal (``user_features:{user_id}``,
``terminal_features:{merchant_id}``) as the JSON record of :mod:`features`, with
``SET ... EX 86400`` in pipelines of ``--chunk`` commands. Each record is one value
written by one command, so a reader sees the old vector or the new one, never a mix.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from fraud_common.logs import configure_logging
from fraud_contracts import features
from serving.settings import ServingSettings

log = structlog.get_logger("serving.feature_writer")


@dataclass(frozen=True)
class Table:
    kind: str  # "users" or "terminals"
    table: str
    key_column: str
    columns: tuple[str, ...]
    record: type[features.UserFeatures] | type[features.TerminalFeatures]


def tables(settings: ServingSettings) -> list[Table]:
    return [
        Table(
            "users",
            settings.user_table,
            "user_id",
            features.USER_FEATURES,
            features.UserFeatures,
        ),
        Table(
            "terminals",
            settings.terminal_table,
            "merchant_id",
            features.TERMINAL_FEATURES,
            features.TerminalFeatures,
        ),
    ]


def select_sql(table: Table, settings: ServingSettings) -> str:
    cols = ", ".join((table.key_column, "as_of", *table.columns))
    return f"SELECT {cols} FROM {settings.trino_catalog}.{settings.trino_schema}.{table.table}"  # noqa: S608


def read_trino(sql: str, settings: ServingSettings, fetch: int = 10_000) -> Iterator[Sequence[Any]]:
    """Rows of a Trino query, streamed ``fetch`` at a time."""
    import trino

    conn = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host=settings.trino_host,
        port=settings.trino_port,
        user="fraud-feature-writer",
        catalog=settings.trino_catalog,
        schema=settings.trino_schema,
    )
    try:
        cur = conn.cursor()
        cur.execute(sql)
        while rows := cur.fetchmany(fetch):
            yield from rows
    finally:
        conn.close()


def records(table: Table, rows: Iterable[Sequence[Any]]) -> Iterator[tuple[str, str]]:
    """(Redis key, JSON value) of each row (``key, as_of, *table.columns``)."""
    for row in rows:
        ident, as_of, *values = row
        record = table.record(str(ident), as_of, dict(zip(table.columns, values, strict=True)))
        yield f"{table.record.KEY_PREFIX}{ident}", record.to_redis()


def write(
    client: redis.Redis,
    pairs: Iterable[tuple[str, str]],
    ttl_seconds: int,
    prefix: str = "",
    chunk: int = 5_000,
) -> int:
    """SET every (key, value) with a TTL, ``chunk`` commands per round trip; returns count."""
    n = 0
    pipe = client.pipeline(transaction=False)
    pending = 0
    for key, value in pairs:
        pipe.set(prefix + key, value, ex=ttl_seconds)
        pending += 1
        if pending >= chunk:
            pipe.execute()
            n += pending
            pending = 0
    if pending:
        pipe.execute()
        n += pending
    return n


def redis_client(settings: ServingSettings) -> redis.Redis:
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        db=settings.redis_db,
        password=password,
        socket_timeout=30,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["users", "terminals"], help="write one table")
    parser.add_argument("--chunk", type=int, default=5_000, help="commands per pipeline")
    args = parser.parse_args(argv)
    configure_logging()
    settings = ServingSettings()
    client = redis_client(settings)
    for table in tables(settings):
        if args.only and table.kind != args.only:
            continue
        start = time.monotonic()
        rows = read_trino(select_sql(table, settings), settings)
        n = write(
            client,
            records(table, rows),
            settings.feature_ttl_seconds,
            prefix=settings.redis_key_prefix,
            chunk=args.chunk,
        )
        log.info(
            "feature records written",
            kind=table.kind,
            table=table.table,
            keys=n,
            seconds=round(time.monotonic() - start, 2),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
