"""The dashboards' queries as Prometheus evaluates them, without Grafana.

Grafana is compose-only here; its panels are verified (tests/e2e/test_4_dashboards.py) and
drawn (``fraud-dashboards render``) by running each target's expression, with Grafana's
template variables substituted, against Prometheus' HTTP API directly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

PROMETHEUS_URL = "http://127.0.0.1:9090"

#: Grafana's built-in variables, as Grafana would set them for a 30-minute range at the
#: panel widths used here (a 15 s scrape interval: $__rate_interval = 4 x 15 s)
BUILTINS: dict[str, str] = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "30m",
}
_VAR = re.compile(r"\$(?:\{(?P<braced>\w+)(?::\w+)?\}|(?P<plain>\w+))")


@dataclass(frozen=True)
class Target:
    """One query of one panel of one dashboard."""

    dashboard: str
    panel: str
    ref_id: str
    expr: str
    legend: str
    instant: bool

    def where(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def targets(board: Mapping[str, Any]) -> Iterator[Target]:
    """Every query of every panel (rows included), in dashboard order."""
    for panel in board.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                yield Target(
                    dashboard=str(board["title"]),
                    panel=str(inner.get("title", "")),
                    ref_id=str(target.get("refId", "")),
                    expr=str(target["expr"]),
                    legend=str(target.get("legendFormat", "")),
                    instant=bool(target.get("instant")),
                )


def variable_values(board: Mapping[str, Any], range_: str = BUILTINS["__range"]) -> dict[str, str]:
    """Each template variable's value for "All" (its allValue, else its first option),
    plus Grafana's built-ins."""
    values = {**BUILTINS, "__range": range_}
    for var in board.get("templating", {}).get("list", []):
        if var.get("includeAll") and var.get("allValue"):
            values[var["name"]] = var["allValue"]
        elif var.get("options"):
            values[var["name"]] = str(var["options"][0]["value"])
        else:
            values[var["name"]] = ".*"
    return values


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with ``$name`` / ``${name}`` replaced; an unknown variable is an error."""

    def one(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        if name not in values:
            raise KeyError(f"unknown template variable ${name} in {expr!r}")
        return values[name]

    return _VAR.sub(one, expr)


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]


class Prometheus:
    """A minimal client of Prometheus' query API (instant and range queries)."""

    def __init__(self, url: str = PROMETHEUS_URL, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: Mapping[str, str | float]) -> Any:
        resp = requests.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        body = resp.json()
        if resp.status_code != 200 or body.get("status") != "success":
            raise RuntimeError(f"{params.get('query')!r}: {body.get('error', resp.text)}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[Series]:
        """``/api/v1/query``: the series of ``expr`` at ``at`` (default now)."""
        data = self._get("/api/v1/query", {"query": expr, "time": at or time.time()})
        if data["resultType"] in ("scalar", "string"):
            return [Series({}, [(float(data["result"][0]), float(data["result"][1]))])]
        return [
            Series(dict(s["metric"]), [(float(s["value"][0]), float(s["value"][1]))])
            for s in data["result"]
        ]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """``/api/v1/query_range``: the series of ``expr`` over [start, end]."""
        data = self._get(
            "/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step}
        )
        return [
            Series(dict(s["metric"]), [(float(t), float(v)) for t, v in s["values"]])
            for s in data["result"]
        ]


def legend(template: str, labels: Mapping[str, str], expr: str) -> str:
    """A series' name as Grafana's legendFormat gives it (``{{label}}`` placeholders)."""
    if template in ("", "__auto"):
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or expr
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def panels_without_data(
    prom: Prometheus, boards: Sequence[Mapping[str, Any]], window: float = 1800, step: float = 30
) -> list[str]:
    """Each query that returns no series over the last ``window`` seconds (the range a
    dashboard opens with), named by dashboard, panel and expression; [] when all have data.
    A query Prometheus refuses is reported the same way, with its error."""
    end = time.time()
    problems = []
    for board in boards:
        values = variable_values(board, f"{round(window)}s")
        for target in targets(board):
            expr = substitute(target.expr, values)
            try:
                series = prom.query_range(expr, end - window, end, step)
            except RuntimeError as err:
                problems.append(f"{target.where()}: {expr} -> error {err}")
                continue
            if not any(s.points for s in series):
                problems.append(f"{target.where()}: {expr} -> no series")
    return problems
