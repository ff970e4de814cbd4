"""Bronze writer benchmark: throughput from a pre-filled topic, latency under live load.

    .venv/bin/python bench/streaming_throughput.py throughput --records 600000
    .venv/bin/python bench/streaming_throughput.py latency --tps 1000 --seconds 120

Both modes run the real job (``python -m spark_jobs.bronze_writer``) as a subprocess
against the running native stack, on their own topic, tables and checkpoints (nothing
shared is touched; the topics are deleted at the end).

throughput  Fill a 10-partition topic with N simulated transactions, then start the
            writer with ``--once`` (availableNow). Landed rows/s is computed from the
            Delta log: rows / (last commit - query start), and the steady state rows /
            (last commit - first commit) excluding the first batch.
latency     Start the writer (default 10 s trigger), produce live transactions at a
            fixed rate; every row's event->bronze delay is the commit time of the Delta
            version that added its file minus its event_time. Reports p50/p95/max.

Results are printed as JSON and written to bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fraud_common.paths import repo_root
from fraud_common.s3 import s3_client
from fraud_common.settings import PlatformSettings
from fraud_contracts.avro import TRANSACTION_AVSC, Encoder, schema_text, transaction_schema
from fraud_contracts.registry import SchemaRegistry
from fraud_infra.envfiles import platform_env
from fraud_simulator.simulator import Simulator, to_millis
from spark_jobs.settings import StreamingSettings

RESULTS = repo_root() / "bench" / "results"


def _producer(boot: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": boot,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )


def _send(prod: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            prod.produce(topic, key=key, value=value)
            return
        except BufferError:
            prod.poll(0.05)


class Bench:
    """Topics, subject, locations and the writer subprocess of one run."""

    def __init__(self, env: dict[str, str], tag: str) -> None:
        self.run = f"{tag}-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.settings = PlatformSettings.from_env(env)
        self.boot = self.settings.kafka_bootstrap_servers
        self.topic = f"bench.bronze.{self.run}.raw"
        self.labels = f"bench.bronze.{self.run}.labels"
        self.dlq = f"bench.bronze.{self.run}.dlq"
        self.prefix = f"bench/bronze/{self.run}"
        admin = AdminClient({"bootstrap.servers": self.boot})
        topics = [
            NewTopic(self.topic, 10, 1),
            NewTopic(self.labels, 1, 1),
            NewTopic(self.dlq, 1, 1),
        ]
        for future in admin.create_topics(topics, operation_timeout=30).values():
            future.result()
        registry = SchemaRegistry(self.settings.schema_registry_url)
        schema_id = registry.register(f"{self.topic}-value", schema_text(TRANSACTION_AVSC))
        self.encoder = Encoder(transaction_schema(), schema_id)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = RESULTS / f"writer-{self.run}.log"

    def writer_env(self, extra: dict[str, str]) -> dict[str, str]:
        return {
            **self.env,
            "KAFKA_TOPIC_RAW": self.topic,
            "KAFKA_TOPIC_LABELS": self.labels,
            "KAFKA_TOPIC_DLQ": self.dlq,
            "STREAMING_TRANSACTIONS_TABLE": f"{self.prefix}/transactions",
            "STREAMING_CHECKPOINT_ROOT": f"{self.prefix}/checkpoints",
            "STREAMING_STREAMS": "transactions",
            "STREAMING_METRICS_PORT": "0",
            **extra,
        }

    def start_writer(self, extra: dict[str, str], once: bool) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "spark_jobs.bronze_writer", *(["--once"] if once else [])]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=repo_root(),
                env=self.writer_env(extra),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop_writer(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(120)

    def cleanup(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.boot})
        for future in admin.delete_topics([self.topic, self.labels, self.dlq]).values():
            with contextlib.suppress(Exception):  # best effort
                future.result()

    # ------------------------------------------------------------------ Delta log
    def commits(self) -> list[dict[str, Any]]:
        """Every commit of the bench table: version, timestamp (ms), added files, rows."""
        s3 = s3_client(self.settings_platform())
        bucket = self.settings.s3_bucket
        prefix = f"{self.prefix}/transactions/_delta_log/"
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        out = []
        for key in sorted(keys):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            actions = [json.loads(line) for line in body.splitlines() if line]
            info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
            adds = [a["add"] for a in actions if "add" in a]
            rows = sum(json.loads(a.get("stats") or "{}").get("numRecords", 0) for a in adds)
            out.append(
                {
                    "version": int(Path(key).stem),
                    "ts": info["timestamp"],
                    "files": [a["path"] for a in adds],
                    "rows": rows,
                    "op": info.get("operation"),
                }
            )
        return out

    def settings_platform(self) -> PlatformSettings:
        return self.settings

    def landed(self) -> int:
        try:
            return sum(c["rows"] for c in self.commits())
        except Exception:
            return 0


def throughput(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    bench = Bench(env, "tput")
    try:
        sim = Simulator(5)
        prod = _producer(bench.boot)
        t0 = time.monotonic()
        sent = 0
        now = datetime.now(UTC)
        while sent < args.records:
            batch = sim.live_batch(now, min(20_000, args.records - sent))
            for item in batch:
                tx = item.transaction
                _send(prod, bench.topic, tx["user_id"].encode(), bench.encoder.encode(tx))
            sent += len(batch)
            prod.poll(0)
        assert prod.flush(120) == 0
        fill_s = time.monotonic() - t0
        print(f"pre-filled {sent} records in {fill_s:.1f}s", file=sys.stderr)
        started = time.time()
        bench.start_writer({"STREAMING_MAX_OFFSETS_PER_TRIGGER": str(args.max_offsets)}, True)
        assert bench.proc is not None
        bench.proc.wait(args.timeout)
        wall = time.time() - started
        commits = [c for c in bench.commits() if c["rows"]]
        rows = sum(c["rows"] for c in commits)
        first, last = commits[0], commits[-1]
        query_start = _query_start_ms(bench.log_path)
        overall = rows / ((last["ts"] - query_start) / 1000)
        steady_rows = rows - first["rows"]
        steady = steady_rows / ((last["ts"] - first["ts"]) / 1000) if len(commits) > 1 else None
        return {
            "mode": "throughput",
            "records": sent,
            "landed": rows,
            "batches": len(commits),
            "max_offsets_per_trigger": args.max_offsets,
            "writer_wall_s": round(wall, 1),
            "rows_per_s_from_query_start": round(overall),
            "rows_per_s_steady_state": None if steady is None else round(steady),
            "writer_log": str(bench.log_path),
        }
    finally:
        bench.stop_writer()
        bench.cleanup()


def _query_start_ms(log_path: Path) -> float:
    for line in log_path.read_text(errors="replace").splitlines():
        if "stream started" in line:
            stamp = line.split()[0].rstrip("Z")
            return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp() * 1000
    raise RuntimeError("writer never started a stream")


def latency(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    bench = Bench(env, "lat")
    try:
        bench.start_writer({"STREAMING_TRIGGER_SECONDS": str(args.trigger)}, False)
        _wait_for_start(bench.log_path, 180)
        sim = Simulator(9)
        prod = _producer(bench.boot)
        sent = 0
        stop_at = time.monotonic() + args.seconds
        step = 0.05
        per_step = max(1, int(args.tps * step))
        while time.monotonic() < stop_at:
            tick = time.monotonic()
            for item in sim.live_batch(datetime.now(UTC), per_step):
                tx = item.transaction
                tx["event_time"] = to_millis(datetime.now(UTC))
                _send(prod, bench.topic, tx["user_id"].encode(), bench.encoder.encode(tx))
                sent += 1
            prod.poll(0)
            time.sleep(max(0.0, step - (time.monotonic() - tick)))
        assert prod.flush(60) == 0
        deadline = time.monotonic() + 180
        while bench.landed() < sent and time.monotonic() < deadline:
            time.sleep(2)
        delays = _delays(bench)
        return {
            "mode": "latency",
            "tps": args.tps,
            "seconds": args.seconds,
            "trigger_s": args.trigger,
            "sent": sent,
            "landed": len(delays),
            "event_to_bronze_p50_s": round(float(np.percentile(delays, 50)), 2),
            "event_to_bronze_p95_s": round(float(np.percentile(delays, 95)), 2),
            "event_to_bronze_max_s": round(float(np.max(delays)), 2),
            "writer_log": str(bench.log_path),
        }
    finally:
        bench.stop_writer()
        bench.cleanup()


def _wait_for_start(log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.exists() and "stream started" in log_path.read_text(errors="replace"):
            return
        time.sleep(1)
    raise RuntimeError("writer did not start")


def _delays(bench: Bench) -> np.ndarray:
    """Per row: commit time of the version adding its file minus its event_time (s)."""
    s3 = s3_client(bench.settings_platform())
    out: list[np.ndarray] = []
    for commit in bench.commits():
        for path in commit["files"]:
            key = f"{bench.prefix}/transactions/{path}"
            body = s3.get_object(Bucket=bench.settings.s3_bucket, Key=key)["Body"].read()
            table = pq.read_table(io.BytesIO(body), columns=["event_time"])
            micros = table.column(0).cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
            out.append(commit["ts"] / 1000 - micros / 1e6)
    return np.concatenate(out) if out else np.array([np.nan])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    tp = sub.add_parser("throughput")
    tp.add_argument("--records", type=int, default=600_000)
    tp.add_argument("--max-offsets", type=int, default=200_000)
    tp.add_argument("--timeout", type=float, default=1800)
    lat = sub.add_parser("latency")
    lat.add_argument("--tps", type=float, default=1_000)
    lat.add_argument("--seconds", type=float, default=120)
    lat.add_argument("--trigger", type=float, default=10)
    args = parser.parse_args()
    env = platform_env()
    _ = StreamingSettings  # the writer reads the same environment
    result = throughput(args, env) if args.mode == "throughput" else latency(args, env)
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"streaming_{args.mode}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    threading.stack_size(0)
    sys.exit(main())
