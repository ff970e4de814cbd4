"""``fraud-dashboards``: write the Grafana dashboards, check their queries, draw them.

fraud-dashboards generate   write phase5-analytics/grafana/dashboards/*.json
fraud-dashboards check      every panel query returns data in Prometheus (last 30 min)
fraud-dashboards render     docs/img/grafana-<dashboard>.png from Prometheus' data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fraud_common.paths import repo_root
from fraud_dashboards.dashboards import DASHBOARDS, DashboardSpec, render_json
from fraud_dashboards.promql import PROMETHEUS_URL, Prometheus, panels_without_data


def dashboards_dir() -> Path:
    return repo_root() / "phase5-analytics" / "grafana" / "dashboards"


def dashboard_path(spec: DashboardSpec) -> Path:
    return dashboards_dir() / f"{spec.slug}.json"


def committed(spec: DashboardSpec) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(dashboard_path(spec).read_text())
    return loaded


def generate() -> list[Path]:
    written = []
    for spec in DASHBOARDS:
        path = dashboard_path(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_json(spec))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fraud-dashboards", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="write the dashboards' JSON")
    for name, text in (("check", "check every query has data"), ("render", "draw the PNGs")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--prometheus", default=PROMETHEUS_URL)
        cmd.add_argument("--minutes", type=float, default=30.0, help="time range (default 30)")
    sub.choices["render"].add_argument(
        "--out", type=Path, default=None, help="output directory (default docs/img)"
    )
    args = parser.parse_args(argv)
    if args.command == "generate":
        for path in generate():
            sys.stderr.write(f"wrote {path.relative_to(repo_root())}\n")
        return 0
    prom = Prometheus(args.prometheus)
    boards = [committed(spec) for spec in DASHBOARDS]
    if args.command == "check":
        problems = panels_without_data(prom, boards, window=args.minutes * 60)
        for problem in problems:
            sys.stderr.write(f"{problem}\n")
        sys.stderr.write(f"{len(problems)} quer(y/ies) without data\n")
        return 1 if problems else 0
    from fraud_dashboards.render import render  # matplotlib only for this subcommand

    out_dir = args.out or repo_root() / "docs" / "img"
    for spec, board in zip(DASHBOARDS, boards, strict=True):
        path = render(prom, board, out_dir / f"grafana-{spec.slug}.png", args.minutes * 60)
        sys.stderr.write(f"wrote {path}\n")
    return 0


def run() -> None:
    raise SystemExit(main())
