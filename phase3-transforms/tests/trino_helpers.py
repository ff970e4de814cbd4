"""Small Trino helpers of the phase 3 tests (queries as lists of dicts, bronze histories)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import trino

from fraud_common.settings import PlatformSettings
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


def bronze_history(settings: PlatformSettings) -> BronzeHistory:
    """Read bronze directly (not the dbt models) with each transaction's fraud report time."""
    rows = query(
        settings,
        "SELECT t.user_id, t.merchant_id, t.amount, t.event_time, min(l.reported_at) AS reported "
        "FROM bronze.transactions t LEFT JOIN bronze.fraud_labels l "
        "ON l.transaction_id = t.transaction_id AND l.is_fraud "
        "GROUP BY t.transaction_id, t.user_id, t.merchant_id, t.amount, t.event_time",
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
