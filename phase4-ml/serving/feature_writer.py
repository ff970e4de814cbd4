"""``fraud-feature-writer``: the gold risk profiles into the online feature store.

    fraud-feature-writer                      both tables (run by Airflow after dbt)
    fraud-feature-writer --only users         one of them

Reads ``delta.gold.mart_user_risk_profiles`` (``user_id``, ``as_of`` and every
:data:`features.USER_RECORD` column) and ``delta.gold.mart_terminal_risk_profiles``
(``merchant_id``, ``as_of`` and every :data:`features.TERMINAL_FEATURES` column) through
Trino, turns each row into the contract's record (:class:`features.UserFeatures` /
:class:`features.TerminalFeatures`) and stores them with :meth:`FeatureStore.write`
(:mod:`serving.feature_store`: one key per user / terminal, with a TTL of
``SERVING_FEATURE_TTL_SECONDS``, written in batches of ``--chunk``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from fraud_common.logs import configure_logging
from fraud_contracts import features
from serving.feature_store import Record, open_store
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
            features.USER_RECORD,
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


def records(table: Table, rows: Iterable[Sequence[Any]]) -> Iterator[Record]:
    """The contract's record of each row (``key, as_of, *table.columns``)."""
    for row in rows:
        ident, as_of, *values = row
        yield table.record(str(ident), as_of, dict(zip(table.columns, values, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["users", "terminals"], help="write one table")
    parser.add_argument("--chunk", type=int, default=5_000, help="records per round trip")
    args = parser.parse_args(argv)
    configure_logging()
    settings = ServingSettings()
    store = open_store(settings, chunk=args.chunk)
    for table in tables(settings):
        if args.only and table.kind != args.only:
            continue
        start = time.monotonic()
        n = store.write(records(table, read_trino(select_sql(table, settings), settings)))
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
