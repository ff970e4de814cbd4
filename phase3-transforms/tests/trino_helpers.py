"""Small Trino helpers of the phase 3 tests (queries as lists of dicts, bronze histories)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import trino

from fraud_common.settings import PlatformSettings
from fraud_common.trino import execute, sql_literal
from fraud_contracts.features import Event, to_ms


def connect(settings: PlatformSettings) -> Any:
    return trino.dbapi.connect(
        host=settings.trino_host,
        port=settings.trino_port,
        user="pytest",
        catalog=settings.trino_catalog,
    )


def query(settings: PlatformSettings, sql: str) -> list[dict[str, Any]]:
    cur = connect(settings).cursor()
    cur.execute(sql)
    rows = cur.fetchall()
    if cur.description is None:  # a statement without a result set (DDL)
        return []
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def scalar(settings: PlatformSettings, sql: str) -> Any:
    return query(settings, sql)[0]


@dataclass
class BronzeHistory:
    """Every bronze transaction, grouped by user and by terminal, as reference Events."""

    by_user: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))
    by_terminal: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))


def bronze_history(
    settings: PlatformSettings,
    users: Collection[str] | None = None,
    terminals: Collection[str] | None = None,
) -> BronzeHistory:
    """Read bronze directly (not the dbt models) with each transaction's fraud report time:
    every transaction, or those of the given users or terminals (both lists complete)."""
    where = ""
    if users is not None or terminals is not None:
        keys = [
            f"t.{column} IN ({', '.join(sql_literal(v) for v in values)})"
            for column, values in (("user_id", users), ("merchant_id", terminals))
            if values
        ]
        where = "WHERE " + (" OR ".join(keys) or "false") + " "
    rows = query(
        settings,
        "SELECT t.user_id, t.merchant_id, t.amount, t.event_time, min(l.reported_at) AS reported "
        "FROM bronze.transactions t LEFT JOIN bronze.fraud_labels l "
        "ON l.transaction_id = t.transaction_id AND l.is_fraud "
        + where
        + "GROUP BY t.transaction_id, t.user_id, t.merchant_id, t.amount, t.event_time",
    )
    history = BronzeHistory()
    for r in rows:
        reported = r["reported"]
        event = Event(
            to_ms(r["event_time"]), float(r["amount"]), to_ms(reported) if reported else None
        )
        history.by_user[r["user_id"]].append(event)
        history.by_terminal[r["merchant_id"]].append(event)
    return history


def quote(name: str) -> str:
    return f'"{name}"'


@dataclass(frozen=True)
class SideLake:
    """A side bronze schema (``bronze_<tag>``) filled from the shared bronze, and the
    silver/gold schemas dbt builds from it (``--vars`` :meth:`dbt_vars`); :meth:`drop`
    removes every schema ending in ``_<tag>``. The shared schemas are only read."""

    settings: PlatformSettings
    tag: str
    user: str = "dbt"

    @property
    def catalog(self) -> str:
        return str(self.settings.trino_catalog)

    @property
    def bronze_schema(self) -> str:
        return f"bronze_{self.tag}"

    @property
    def bronze(self) -> str:
        return f"{self.catalog}.{self.bronze_schema}"

    def layer(self, name: str, suffix: str | None = None) -> str:
        """``<catalog>.<name>_<suffix>`` (default suffix: the tag)."""
        return f"{self.catalog}.{name}_{suffix or self.tag}"

    def dbt_vars(self, suffix: str | None = None) -> str:
        return f"{{bronze_schema: {self.bronze_schema}, schema_suffix: {suffix or self.tag}}}"

    def sql(self, statement: str) -> list[list[Any]]:
        rows: list[list[Any]] = execute(self.settings, statement, user=self.user, timeout=1800)
        return rows

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        rows = self.sql(
            f"SELECT column_name, data_type FROM {self.catalog}.information_schema.columns "
            f"WHERE table_schema = {sql_literal(schema)} AND table_name = {sql_literal(table)} "
            "ORDER BY ordinal_position"
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def columns(self, schema: str, table: str) -> list[str]:
        return list(self.column_types(schema, table))

    def create_bronze(self) -> None:
        location = f"s3://{self.settings.s3_bucket}/tests/{self.tag}/bronze"
        self.sql(f"CREATE SCHEMA {self.bronze} WITH (location = {sql_literal(location)})")

    def copy(
        self,
        table: str,
        where: str,
        overrides: Mapping[str, str] | None = None,
        create: bool = False,
    ) -> int:
        """Rows of the shared bronze ``table`` matching ``where`` into the side bronze,
        with ``overrides`` (column -> SQL expression over the source row), stamped as
        landed now; returns the side table's row count."""
        exprs = {"ingested_at": "current_timestamp", **(overrides or {})}
        select = ", ".join(
            f"{exprs.get(c, quote(c))} AS {quote(c)}" for c in self.columns("bronze", table)
        )
        source = f"{self.catalog}.bronze.{table} WHERE {where}"
        target = f"{self.bronze}.{table}"
        if create:
            self.sql(
                f"CREATE TABLE {target} WITH (partitioned_by = ARRAY['event_date']) "
                f"AS SELECT {select} FROM {source}"
            )
        else:
            self.sql(f"INSERT INTO {target} SELECT {select} FROM {source}")
        return int(str(self.sql(f"SELECT count(*) FROM {target}")[0][0]))

    def drop(self) -> None:
        existing = {str(r[0]) for r in self.sql(f"SHOW SCHEMAS FROM {self.catalog}")}
        for schema in sorted(s for s in existing if s.endswith(f"_{self.tag}")):
            views = {
                str(r[0])
                for r in self.sql(
                    f"SELECT table_name FROM {self.catalog}.information_schema.views "
                    f"WHERE table_schema = {sql_literal(schema)}"
                )
            }
            for (table,) in self.sql(f"SHOW TABLES FROM {self.catalog}.{schema}"):
                kind = "VIEW" if table in views else "TABLE"
                self.sql(f'DROP {kind} IF EXISTS {self.catalog}.{schema}."{table}"')
            self.sql(f"DROP SCHEMA IF EXISTS {self.catalog}.{schema}")
