"""A minimal Trino client over its REST protocol (``requests`` only).

For jobs and tools that run a few statements and should not carry a DB-API driver (the
launcher's init image, maintenance scripts); dbt and the ML code use the ``trino``
package.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import requests


class TrinoAddress(Protocol):
    """The Trino fields every component's settings carry."""

    trino_host: str
    trino_port: int
    trino_catalog: str


_RETRY_STATUS = {429, 502, 503, 504}


class TrinoError(RuntimeError):
    """A statement failed in Trino (the message carries Trino's error name and text)."""

    def __init__(self, message: str, error_name: str = "") -> None:
        super().__init__(f"{error_name}: {message}" if error_name else message)
        self.error_name = error_name


def execute(
    settings: TrinoAddress, sql: str, user: str = "fraud-init", timeout: float = 300.0
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
