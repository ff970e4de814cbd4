"""Open-loop load test of the scoring API (``make bench-scoring``).

    .venv/bin/python bench/scoring_load.py [--rate 3000] [--duration 60] [--workers 2]

Runs everything on loopback with private engines (a redis-server and a PostgreSQL
cluster on free ports, so the shared native stack is not disturbed): seeds Redis with
feature records for 10,000 users and 1,000 terminals, puts a RandomForest (100 trees; or,
``--model average``, fraud-train's average of RandomForest, LightGBM and XGBoost) in the
API's model cache, starts ``fraud-api`` with the prediction log on, and drives it with
**vegeta** (constant request rate, open loop: queueing delay counts in the latencies):

  (a) saturation throughput: ``-rate=0`` with a fixed pool of connections;
  (b) p50/p95/p99 at ``--rate`` requests/s for ``--duration`` seconds;

vegeta runs on one Go scheduler thread with its garbage collector off until 4 GiB
(``--vegeta-gc default`` for Go's default: its pauses then read as server latency);
then restarts the API with ``SERVING_SCORING_BACKEND=sklearn`` (plain ``predict_proba``)
and measures its saturation throughput the same way. Finally it checks every answered
prediction of (b) reached Postgres. vegeta is installed with ``go install`` into the
platform cache on first use.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import functools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import requests

from fraud_contracts import features
from fraud_testing.serving import (
    PostgresProcess,
    RedisProcess,
    StreamHeartbeat,
    free_port,
    seed_cache,
    train_model,
)
from serving.feature_store import FraudReport, RedisFeatureStore, TransactionEvent

VEGETA_VERSION = "v12.13.0"
CACHE = Path(os.environ.get("FRAUD_CACHE_DIR", Path.home() / ".cache" / "fraud-platform"))
REPO = Path(__file__).resolve().parents[1]


def vegeta() -> Path:
    bindir = CACHE / "tools" / f"vegeta-{VEGETA_VERSION.lstrip('v')}"
    exe = bindir / "vegeta"
    if not exe.exists():
        print(f"installing vegeta {VEGETA_VERSION} into {bindir}", file=sys.stderr)
        env = dict(os.environ, GOBIN=str(bindir))
        subprocess.run(
            ["go", "install", f"github.com/tsenart/vegeta/v12@{VEGETA_VERSION}"],
            check=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
    return exe


def seed_redis(r: RedisProcess, users: int, terminals: int) -> None:
    """The online state of a busy issuer: 30 days of history per card (about two
    transactions a day, the simulator's mean rate) at terminals with as many again."""
    rng = np.random.default_rng(1)
    now = features.to_ms(dt.datetime.now(dt.UTC))
    per_card = 60
    txs = [
        TransactionEvent(
            f"seed-{u}-{k}",
            f"U{u:06d}",
            f"M{int(rng.integers(terminals)):05d}",
            now - int(rng.integers(1, 30 * features.DAY_MS)),
            float(round(rng.lognormal(3.5, 0.5), 2)),
        )
        for u in range(users)
        for k in range(per_card)
    ]
    frauds = rng.choice(len(txs), size=len(txs) // 100, replace=False)
    reports = [
        FraudReport(txs[i].transaction_id, txs[i].user_id, txs[i].event_ms + features.DAY_MS)
        for i in frauds
    ]
    writer = RedisFeatureStore(port=r.port, password=r.password).writer()
    for i in range(0, len(txs), 20_000):
        writer.write(txs[i : i + 20_000], [], now)
    writer.write([], reports, now)


def targets(path: Path, url: str, n: int, users: int, terminals: int) -> list[str]:
    rng = np.random.default_rng(2)
    ids = []
    with path.open("w") as f:
        for _ in range(n):
            tid = str(uuid.uuid4())
            ids.append(tid)
            body = {
                "transaction_id": tid,
                "user_id": f"U{rng.integers(int(users * 1.1)):06d}",  # ~9 % unknown users
                "amount": round(float(rng.lognormal(3.5, 1.0)), 2),
                "merchant_id": f"M{rng.integers(terminals):05d}",
                "is_international": bool(rng.random() < 0.1),
            }
            target = {
                "method": "POST",
                "url": url,
                "header": {"Content-Type": ["application/json"]},
                "body": base64.b64encode(json.dumps(body).encode()).decode(),
            }
            f.write(json.dumps(target) + "\n")
    return ids


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a live process has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class CpuMeter:
    """CPU seconds used by process trees (API workers, Redis, Postgres) and vegeta over a run.

    vegeta is a child of this process: its CPU is the growth of RUSAGE_CHILDREN across the
    ``attack`` call (only vegeta exits in that window).
    """

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots

    def snapshot(self) -> dict[str, float]:
        snap = {name: sum(_proc_cpu(p) for p in _tree(pid)) for name, pid in self.roots.items()}
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        snap["vegeta"] = ru.ru_utime + ru.ru_stime
        return snap

    @staticmethod
    def per_request(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, Any]:
        used = {k: after[k] - before[k] for k in before}
        out: dict[str, Any] = {
            f"{k}_us_per_request": round(v / max(n, 1) * 1e6, 1) for k, v in used.items()
        }
        out["total_us_per_request"] = round(sum(used.values()) / max(n, 1) * 1e6, 1)
        out["cpu_seconds"] = {k: round(v, 2) for k, v in used.items()}
        return out


def attack(
    exe: Path,
    target_file: Path,
    rate: int,
    duration: float,
    workers: int = 0,
    meter: CpuMeter | None = None,
    save: Path | None = None,
    generator_gc: bool = False,
) -> dict[str, Any]:
    cmd = [
        str(exe),
        "attack",
        "-format=json",
        f"-targets={target_file}",
        f"-duration={duration}s",
        "-timeout=5s",
        "-keepalive=true",
        "-max-body=0",  # status and latency are what is reported: do not copy the bodies
    ]
    if rate == 0:
        cmd += ["-rate=0", f"-max-workers={workers}", f"-workers={workers}"]
    else:
        cmd += [f"-rate={rate}/s", "-workers=64", "-max-workers=512"]
    before = meter.snapshot() if meter else {}
    load_before = os.getloadavg()[0]
    # one Go scheduler thread: vegeta spends ~20 % less CPU per request on the shared cores
    # (124 vs 153 µs at 3,000/s against an empty app) and still keeps the rate
    env = dict(os.environ, GOMAXPROCS=os.environ.get("VEGETA_GOMAXPROCS", "1"))
    if not generator_gc:
        # vegeta allocates ~5 KB per request; with Go's default GC its collector stops the
        # one scheduler thread every few seconds, responses wait unread in the socket and
        # are timed late: periodic latency spikes of the *generator* (seen as bursts of
        # 20-60 ms answers every 3-6 s, gone with the GC off). The collector runs only
        # near GOMEMLIMIT instead (a 60-s run at 3,000/s takes ~1 GB).
        env |= {"GOGC": "off", "GOMEMLIMIT": os.environ.get("VEGETA_GOMEMLIMIT", "4GiB")}
    attack_out = subprocess.run(cmd, check=True, capture_output=True, env=env).stdout
    if save is not None:  # vegeta's raw results (one JSON per request) for a closer look
        save.write_bytes(attack_out)
    after = meter.snapshot() if meter else {}
    load_after = os.getloadavg()[0]
    report = subprocess.run(
        [str(exe), "report", "-type=json"], input=attack_out, check=True, capture_output=True
    ).stdout
    data = json.loads(report)
    lat = data["latencies"]
    out = {
        "requests": data["requests"],
        "rate": round(data["rate"], 1),
        "throughput": round(data["throughput"], 1),
        "success": data["success"],
        "status_codes": data["status_codes"],
        "p50_ms": round(lat["50th"] / 1e6, 2),
        "p95_ms": round(lat["95th"] / 1e6, 2),
        "p99_ms": round(lat["99th"] / 1e6, 2),
        "max_ms": round(lat["max"] / 1e6, 2),
        "errors": data.get("errors", [])[:5],
        "load_average_1m": [round(load_before, 1), round(load_after, 1)],
    }
    if meter:
        out["cpu"] = CpuMeter.per_request(before, after, data["requests"])
    return out


def feature_sources(base: str) -> dict[str, float]:
    """Redis hits/misses, fallbacks and stale answers so far (a run scored on fallbacks or
    a stale state is not the path)."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        for name in (
            "fraud_redis_cache_hits_total",
            "fraud_redis_cache_misses_total",
            "fraud_feature_fallback_total",
            "fraud_feature_stale_total",
        ):
            if line.startswith(name):
                key = name.removeprefix("fraud_").removesuffix("_total")
                out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


class Api:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [str(REPO / ".venv/bin/fraud-api")],
            env=env,
            stderr=log.open("w"),
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300  # a busy machine imports slowly
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"API did not become ready; see {log}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # workers stuck on queued sklearn requests
            for pid in _tree(self.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _save(args: argparse.Namespace, backend: str, rate: int) -> Path | None:
    if args.save_results is None:
        return None
    path: Path = args.save_results
    path.mkdir(parents=True, exist_ok=True)
    return path / f"{backend}-{rate}.bin"


def main() -> int:
    parser = argparse.ArgumentParser(description="open-loop load test of the scoring API")
    parser.add_argument("--rate", type=int, default=3_000)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--saturation-seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=64, help="saturation: connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--skip-onnx", action="store_true", help="only the sklearn comparison")
    parser.add_argument(
        "--cpu-rate", type=int, default=500, help="CPU-per-request run: constant rate (0: skip)"
    )
    parser.add_argument("--cpu-seconds", type=float, default=20, help="CPU-per-request run length")
    parser.add_argument(
        "--extra-rates",
        default="",
        help="comma-separated constant rates also run (ONNX, --extra-seconds each) after "
        "--rate, to locate the highest rate that meets a latency goal",
    )
    parser.add_argument("--extra-seconds", type=float, default=30)
    parser.add_argument(
        "--http",
        help="uvicorn HTTP protocol of the API instead of its own (e.g. httptools: uvicorn's "
        "two writes per response; sets SERVING_HTTP_PROTOCOL)",
    )
    parser.add_argument(
        "--vegeta-gc",
        choices=("off", "default"),
        default="off",
        help="the load generator's Go garbage collector: off until GOMEMLIMIT (default; "
        "its pauses otherwise show up as server latency) or Go's default",
    )
    parser.add_argument(
        "--save-results",
        type=Path,
        help="directory to keep vegeta's raw results of each constant-rate run in "
        "(<backend>-<rate>.bin; `vegeta encode --to csv` reads them)",
    )
    parser.add_argument(
        "--cpu-only", action="store_true", help="only the CPU-per-request run (ONNX backend)"
    )
    parser.add_argument(
        "--model",
        choices=("random_forest", "average"),
        default="random_forest",
        help="the served model: a RandomForest of 100 trees (default), or fraud-train's "
        "average of its three families with their default hyperparameters",
    )
    args = parser.parse_args()

    exe = vegeta()
    shoot = functools.partial(attack, generator_gc=args.vegeta_gc == "default")
    work = Path(tempfile.mkdtemp(prefix="fraud-bench-"))
    r, pg = RedisProcess(), PostgresProcess()
    results: dict[str, Any] = {
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "vegeta_gc": args.vegeta_gc,
        "http": args.http or "serving.http_protocol",
        "model": args.model,
    }
    heartbeat: StreamHeartbeat | None = None
    try:
        r.start()
        pg.start()
        heartbeat = StreamHeartbeat(RedisFeatureStore(port=r.port, password=r.password).writer())
        users, terminals = 10_000, 10_000
        seed_redis(r, users, terminals)
        # the state counts as current (the streaming job's heartbeat), as on the platform
        heartbeat.__enter__()
        seed_cache(work / "models", train_model(args.model))
        port = free_port()
        env = dict(
            os.environ,
            REDIS_PORT=str(r.port),
            REDIS_PASSWORD=r.password,
            POSTGRES_PORT=str(pg.port),
            PREDICTIONS_DB_PASSWORD=pg.password,
            MLFLOW_TRACKING_URI="http://127.0.0.1:9",
            SERVING_MODEL_CACHE_DIR=str(work / "models"),
            SERVING_SPILL_DIR=str(work / "spill"),
            SERVING_PORT=str(port),
            SERVING_WORKERS=str(args.workers),
            SERVING_MODEL_POLL_SECONDS="3600",
            SERVING_HTTP_PROTOCOL=args.http or "",
            LOG_LEVEL="WARNING",
        )
        url = f"http://127.0.0.1:{port}/predict"
        n_const = int(args.rate * args.duration)
        const_file, sat_file = work / "const.jsonl", work / "sat.jsonl"
        const_ids = (
            targets(const_file, url, n_const, users, terminals)
            if not (args.cpu_only or args.skip_onnx)
            else []
        )
        targets(sat_file, url, 200_000, users, terminals)
        cpu_file = work / "cpu.jsonl"
        cpu_ids: list[str] = []
        if args.cpu_rate and not args.skip_onnx:
            cpu_ids = targets(
                cpu_file, url, int(args.cpu_rate * args.cpu_seconds), users, terminals
            )

        for backend in ("onnx", "sklearn"):
            if backend == "sklearn" and (args.skip_sklearn or args.cpu_only):
                continue
            if backend == "onnx" and args.skip_onnx:
                continue
            api = Api(dict(env, SERVING_SCORING_BACKEND=backend), port, work / f"api-{backend}.log")
            assert r.proc is not None and pg.proc is not None
            meter = CpuMeter({"api": api.proc.pid, "redis": r.proc.pid, "postgres": pg.proc.pid})
            try:
                if backend == "onnx" and args.cpu_rate:
                    shoot(exe, cpu_file, args.cpu_rate, 3)  # warm-up
                    time.sleep(1)
                    cpu = shoot(exe, cpu_file, args.cpu_rate, args.cpu_seconds, meter=meter)
                    cpu["feature_sources"] = feature_sources(api.url)
                    results[f"{backend}_cpu_at_{args.cpu_rate}"] = cpu
                    print(backend, "cpu", json.dumps(cpu), file=sys.stderr)
                    if args.cpu_only:
                        continue
                shoot(exe, sat_file, 0, 3, args.connections)  # warm-up
                sat = shoot(exe, sat_file, 0, args.saturation_seconds, args.connections)
                results[f"{backend}_saturation"] = sat
                print(backend, "saturation", json.dumps(sat), file=sys.stderr)
                if backend == "onnx":
                    time.sleep(2)
                    const = shoot(
                        exe,
                        const_file,
                        args.rate,
                        args.duration,
                        meter=meter,
                        save=_save(args, backend, args.rate),
                    )
                    results[f"{backend}_constant_{args.rate}"] = const
                    print(backend, "constant", json.dumps(const), file=sys.stderr)
                    for extra in [int(r) for r in args.extra_rates.split(",") if r]:
                        time.sleep(2)
                        run = shoot(
                            exe,
                            sat_file,
                            extra,
                            args.extra_seconds,
                            meter=meter,
                            save=_save(args, backend, extra),
                        )
                        results[f"{backend}_constant_{extra}"] = run
                        print(backend, "constant", extra, json.dumps(run), file=sys.stderr)
            finally:
                api.stop()
        # every prediction answered at a constant rate is in the log, once
        logged = cpu_ids if args.cpu_only else [] if args.skip_onnx else const_ids
        with psycopg.connect(pg.dsn("predictions")) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM predictions WHERE transaction_id = ANY(%s)", (logged,)
            ).fetchone()
        results["constant_rate_rows_logged"] = stored[0] if stored else 0
        # vegeta may send one request less than rate x duration (the last tick falls on
        # the deadline): what must be logged is what was answered
        run_key = f"onnx_cpu_at_{args.cpu_rate}" if args.cpu_only else f"onnx_constant_{args.rate}"
        if run_key in results:
            results["constant_rate_answered"] = results[run_key]["status_codes"].get("200", 0)
        if "onnx_saturation" in results and "sklearn_saturation" in results:
            results["speedup_vs_sklearn"] = round(
                results["onnx_saturation"]["throughput"]
                / max(results["sklearn_saturation"]["throughput"], 1e-9),
                1,
            )
    finally:
        if heartbeat is not None:
            heartbeat.__exit__(None, None, None)
        r.stop()
        pg.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
