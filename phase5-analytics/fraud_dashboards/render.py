"""Pictures of the dashboards without Grafana: each panel's queries over the last
30 minutes from Prometheus, drawn with matplotlib on the dashboard's own grid."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing global

from fraud_dashboards.promql import Prometheus, Series, legend, substitute, targets, variable_values

GRID_COLUMNS = 24
ROW_UNIT_INCHES = 0.42  # one Grafana grid row
COLUMN_INCHES = 0.75


def _scaled(unit: str, values: list[float]) -> tuple[list[float], str]:
    if unit == "percentunit":
        return [v * 100 for v in values], "%"
    if unit == "s":
        peak = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
        if peak >= 2 * 3600:
            return [v / 3600 for v in values], "h"
        if peak >= 120:
            return [v / 60 for v in values], "min"
        if 0 < peak < 1:
            return [v * 1000 for v in values], "ms"
        return values, "s"
    return values, unit.removeprefix("suffix:").strip() if unit.startswith("suffix:") else ""


def _draw(ax: Axes, panel: Mapping[str, Any], series: list[tuple[str, Series]]) -> None:
    unit = str(panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""))
    ax.set_title(str(panel.get("title", "")), fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    if not any(s.points for _, s in series):
        ax.text(0.5, 0.5, "No data", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    if panel["type"] in ("stat", "bargauge"):
        names = [name for name, s in series if s.points]
        raw = [s.points[-1][1] for _, s in series if s.points]
        values, suffix = _scaled(unit, raw)
        ax.barh(names, values, color="tab:blue")
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.3g} {suffix}", va="center", fontsize=7)
        ax.invert_yaxis()
        ax.margins(x=0.25)
        return
    for name, s in series:
        if not s.points:
            continue
        values, suffix = _scaled(unit, [v for _, v in s.points])
        when = np.array([round(t) for t, _ in s.points], dtype="datetime64[s]")  # UTC
        ax.plot(when, values, label=name, lw=1.2)
        ax.set_ylabel(suffix, fontsize=7)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    ax.grid(alpha=0.3)
    if len(series) <= 12:
        ax.legend(fontsize=6, loc="upper left", frameon=False)


def render(
    prom: Prometheus, board: Mapping[str, Any], out: Path, window: float = 1800, step: float = 15
) -> Path:
    """Draw ``board``'s panels (rows as headings) into ``out`` (PNG)."""
    panels = [p for p in board["panels"] if p["type"] != "row"]
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    fig = Figure(figsize=(GRID_COLUMNS * COLUMN_INCHES, height * ROW_UNIT_INCHES + 0.8))
    spec = fig.add_gridspec(height, GRID_COLUMNS, hspace=1.6, wspace=1.2)
    end = time.time()
    values = variable_values(board, f"{round(window)}s")
    by_panel: dict[str, list[tuple[str, Series]]] = {}
    for target in targets(board):
        expr = substitute(target.expr, values)
        found = prom.query_range(expr, end - window, end, step)
        by_panel.setdefault(target.panel, []).extend(
            (legend(target.legend, s.labels, expr), s) for s in found
        )
    for panel in panels:
        pos = panel["gridPos"]
        ax = fig.add_subplot(
            spec[pos["y"] : pos["y"] + pos["h"] - 1, pos["x"] : pos["x"] + pos["w"]]
        )
        _draw(ax, panel, by_panel.get(str(panel["title"]), []))
    stamp = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig.suptitle(f"{board['title']}  (last {round(window / 60)} min to {stamp})", fontsize=12)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, bbox_inches="tight")
    return out
