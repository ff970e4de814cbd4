"""Where ``make demo``'s time and CPU go: each step's wall time, and the CPU-seconds of
every engine and program during each step.

    .venv/bin/python bench/demo_cpu.py [--no-clean] [-- fraud-demo options]

Runs ``fraud-stack clean`` (unless ``--no-clean``: a warm, already-populated stack), then
``fraud-demo`` with its output shown as usual, while a sampler reads the machine's CPU
counters (``/proc/stat``) and every process's (``/proc/<pid>/stat``) once a second. A
process is counted under the first category its command line or one of its ancestors'
matches (a dbt task under Airflow is ``dbt``, sklearn's workers under ``fraud-train`` are
``training``). CPU of processes that ended between two samples is in ``unattributed``.

The point: on two cores the demo cannot take less than its CPU-seconds / 2, whatever the
order of its steps; the table says which engines those seconds belong to. Results are
printed as Markdown tables and kept in ``bench/results/demo_cpu-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1

#: category -> pattern of a command line; the first match wins, so order matters
CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern))
    for name, pattern in [
        ("demo", r"fraud-demo|bench/demo_cpu"),
        ("trino", r"io\.trino\.server"),
        ("kafka", r"kafka\.Kafka"),
        ("schema-registry", r"quarkus-run\.jar"),
        ("object-store", r"s3proxy"),
        ("spark (bronze writer)", r"pyspark/jars|spark_jobs\.bronze_writer"),
        ("producer", r"fraud-producer"),
        ("dbt", r"/dbt |fraud-dbt"),
        ("training", r"fraud-train|fraud-evaluate|fraud-promote"),
        ("feature stream", r"fraud-feature-stream"),
        ("quarantine report", r"fraud-quarantine"),
        ("airflow", r"airflow"),
        ("mlflow", r"mlflow|huey"),
        ("serving", r"fraud-api|fraud-live-scorer|fraud-monitor"),
        ("postgres", r"postgres(?!-exporter)"),
        ("redis", r"redis-server"),
        (
            "monitoring",
            r"prometheus|alertmanager|exporter|fraud-alert-log|fraud-pipeline-exporter",
        ),
        ("supervisord", r"supervisord"),
    ]
]
STEP_LINE = re.compile(r"[✓✗] (\d+)/(\d+) (.*?)(?: — .*)? \((\d+(?:\.\d+)?)s\)\s*$")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the machine since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return (total - idle) / TICK, total / TICK


def processes() -> dict[int, tuple[int, float, str]]:
    """pid -> (parent pid, CPU-seconds so far, command line)."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmd = (
                Path(entry.path, "cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        out[int(entry.name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK, cmd)
    return out


def categorise(pid: int, procs: dict[int, tuple[int, float, str]], seen: dict[int, str]) -> str:
    if pid in seen:
        return seen[pid]
    chain, current = [], pid
    category = "other"
    while current in procs and current > 1:
        chain.append(current)
        ppid, _, cmd = procs[current]
        match = next((name for name, pattern in CATEGORIES if pattern.search(cmd)), None)
        if match:
            category = match
            break
        current = ppid
    if current in seen:
        category = seen[current]
    seen[pid] = category  # the process's own category; ancestors are looked up on their own
    return category


class Sampler(threading.Thread):
    """Once a second: the machine's counters and every process's, kept per step."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.last_cpu: dict[int, float] = {}
        self.baseline = processes()  # what ran before the demo is counted from here on
        self.categories: dict[int, str] = {}
        self.step = "start"
        self.per_step: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.machine_start = machine_cpu()
        self.marks: list[tuple[str, float, tuple[float, float]]] = []

    def mark(self, step: str) -> None:
        with self.lock:
            self.sample()
            self.marks.append((step, time.monotonic(), machine_cpu()))
            self.step = step

    def sample(self) -> None:
        procs = processes()
        for pid, (_, cpu, _) in procs.items():
            before = self.last_cpu.get(pid)
            if before is None:
                base = self.baseline.get(pid)
                before = base[1] if base else 0.0
            if cpu > before:
                category = categorise(pid, procs, self.categories)
                self.per_step[self.step][category] += cpu - before
            self.last_cpu[pid] = cpu

    def run(self) -> None:
        while not self.stop.wait(1.0):
            with self.lock:
                self.sample()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--no-clean", action="store_true", help="keep the stack's state")
    parser.add_argument("demo_args", nargs="*", help="options for fraud-demo (after --)")
    args = parser.parse_args()
    if not args.no_clean:
        subprocess.run([str(VENV_BIN / "fraud-stack"), "clean"], cwd=REPO, check=True)
    sampler = Sampler()
    sampler.start()
    t0 = time.monotonic()
    sampler.mark("1 (first step)")
    proc = subprocess.Popen(
        [str(VENV_BIN / "fraud-demo"), *args.demo_args],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stderr is not None
    steps: list[dict[str, object]] = []
    pending = ""  # a step line rich wrapped over several lines
    for raw in proc.stderr:
        sys.stderr.write(raw)
        if re.match(r"[✓✗] \d+/\d+ ", raw):
            pending = ""
        elif not pending:
            continue
        pending += raw.rstrip("\n") + " "
        line = pending.rstrip()
        match = STEP_LINE.search(line)
        if match:
            pending = ""
            number, total, title, seconds = match.groups()
            # the step that just ended is the one the sampler was on
            steps.append({"step": f"{number}/{total} {title}", "seconds": float(seconds)})
            sampler.mark(f"{int(number) + 1}")
    code = proc.wait()
    sampler.mark("end")
    sampler.stop.set()
    wall = time.monotonic() - t0

    names = ["1 (first step)"] + [str(i) for i in range(2, len(steps) + 2)]
    rows = []
    busy_total = 0.0
    for i, step in enumerate(steps):
        (_, start, (b0, _)), (_, end, (b1, _)) = sampler.marks[i], sampler.marks[i + 1]
        per = sampler.per_step[names[i]]
        busy = b1 - b0
        busy_total += busy
        top = sorted(per.items(), key=lambda kv: -kv[1])[:4]
        rows.append(
            {
                **step,
                "cpu_seconds": round(busy, 1),
                "busy_share": round(busy / (CORES * (end - start)), 2),
                "top": {k: round(v, 1) for k, v in top},
            }
        )
    totals: dict[str, float] = defaultdict(float)
    for per in sampler.per_step.values():
        for k, v in per.items():
            totals[k] += v
    attributed = sum(totals.values())
    b_start, b_end = sampler.marks[0][2][0], sampler.marks[-1][2][0]
    totals["unattributed"] = max(0.0, (b_end - b_start) - attributed)

    print(f"\n`make demo` via bench/demo_cpu.py: {wall:.0f} s wall, exit {code}, {CORES} cores\n")
    print("| step | wall s | CPU-s | busy | largest consumers (CPU-s) |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        shown = ", ".join(f"{k} {v:.0f}" for k, v in dict(r["top"]).items())  # type: ignore[call-overload]
        cells = [
            r["step"],
            f"{r['seconds']:.0f}",
            f"{r['cpu_seconds']:.0f}",
            f"{r['busy_share']:.0%}",
        ]
        print("| " + " | ".join([*map(str, cells), shown]) + " |")
    whole = b_end - b_start
    print(
        f"| **all** | **{wall:.0f}** | **{whole:.0f}** | {whole / (CORES * wall):.0%} | "
        f"floor on {CORES} cores: {whole / CORES:.0f} s |"
    )
    print("\n| category | CPU-s | share |\n|---|---:|---:|")
    for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v:.0f} | {v / whole:.0%} |")
    out = REPO / "bench" / "results" / f"demo_cpu-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "wall_seconds": round(wall, 1),
                "exit": code,
                "cores": CORES,
                "steps": rows,
                "cpu_seconds": round(whole, 1),
                "categories": {k: round(v, 1) for k, v in totals.items()},
            },
            indent=2,
        )
    )
    print(f"\n(kept in {out.relative_to(REPO)})")
    return code


if __name__ == "__main__":
    sys.exit(main())
