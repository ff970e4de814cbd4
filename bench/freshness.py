"""How fresh the online features are: Kafka append -> readable by the scoring API.

    .venv/bin/python bench/freshness.py [--tps 1000] [--seconds 300] [--sample 10]

Needs the native stack's Kafka and registry (``make local-up``). Topics of the bench's own
(``message.timestamp.type=LogAppendTime``: each record's timestamp is the broker's append
time) and a private Redis; the streaming feature job as the platform runs it
(``python -m serving.feature_stream``, its defaults). A producer sends simulated
transactions at ``--tps`` (the platform's own generator and wire format); for every
``--sample``-th one, a watcher polls the online state (the card's transactions, written in
one atomic step with the sorted set the API reads) until the transaction is there, and
the delay is its time since the append.
Reported: the distribution of those delays (p50, p95, p99, max) beside the job's own
histogram (``fraud_feature_stream_delay_seconds``), against the targets p95 <= 2 s and
p99 <= 5 s. Results in ``bench/results/freshness-<time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import redis
import requests
from confluent_kafka.admin import AdminClient, NewTopic

from fraud_common.settings import PlatformSettings
from fraud_contracts import online
from fraud_infra.stack import Stack
from fraud_simulator.simulator import Simulator
from fraud_testing.serving import RedisProcess, free_port
from fraud_testing.wire import Sender

REPO = Path(__file__).resolve().parents[1]
TARGET_P95, TARGET_P99 = 2.0, 5.0


def make_topics(settings: PlatformSettings) -> PlatformSettings:
    run = uuid.uuid4().hex[:8]
    mine = settings.model_copy(
        update={
            "kafka_topic_raw": f"bench.{run}.raw",
            "kafka_topic_dlq": f"bench.{run}.dlq",
            "kafka_topic_labels": f"bench.{run}.labels",
        }
    )
    config = {"message.timestamp.type": "LogAppendTime"}
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    topics = [
        NewTopic(mine.kafka_topic_raw, settings.kafka_raw_partitions, config=config),
        NewTopic(mine.kafka_topic_labels, 3, config=config),
    ]
    for future in admin.create_topics(topics).values():
        future.result()
    return mine


def job_quantiles(url: str) -> dict[str, float]:
    """p50/p95/p99 of the job's delay histogram (linear within buckets, as Prometheus)."""
    buckets: list[tuple[float, float]] = []
    for line in requests.get(url, timeout=5).text.splitlines():
        if line.startswith("fraud_feature_stream_delay_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            upper = float("inf") if bound == "+Inf" else float(bound)
            buckets.append((upper, float(line.split()[-1])))
    buckets.sort()
    total = buckets[-1][1]
    out: dict[str, float] = {}
    for q in (0.5, 0.95, 0.99):
        rank, prev_le, prev_n = q * total, 0.0, 0.0
        for le, n in buckets:
            if n >= rank:
                out[f"p{round(q * 100)}"] = (
                    le
                    if le == float("inf")
                    else prev_le + (le - prev_le) * (rank - prev_n) / max(n - prev_n, 1e-9)
                )
                break
            prev_le, prev_n = le, n
    out["count"] = total
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tps", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--sample", type=int, default=10, help="watch every N-th transaction")
    args = parser.parse_args()

    stack = Stack.load()
    settings = make_topics(PlatformSettings.from_env(stack.env))
    r = RedisProcess()
    r.start()
    metrics_port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SCHEMA_REGISTRY_URL": settings.schema_registry_url,
        "KAFKA_TOPIC_RAW": settings.kafka_topic_raw,
        "KAFKA_TOPIC_LABELS": settings.kafka_topic_labels,
        "REDIS_PORT": str(r.port),
        "REDIS_PASSWORD": r.password,
        "FEATURE_STREAM_GROUP_ID": f"bench-{uuid.uuid4().hex[:8]}",
        "FEATURE_STREAM_METRICS_PORT": str(metrics_port),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
    }
    job = subprocess.Popen(
        [sys.executable, "-m", "serving.feature_stream"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = redis.Redis(port=r.port, password=r.password)
    watch: queue.Queue[tuple[str, str, float] | None] = queue.Queue()
    delays: list[float] = []
    sent = [0]
    try:
        deadline = time.monotonic() + 60
        while client.get(online.STATUS_KEY) is None:  # the job is up and in its group
            assert job.poll() is None and time.monotonic() < deadline, "the job did not start"
            time.sleep(0.1)
        send = Sender(settings)

        def on_delivery(user: str, tx_id: str) -> Any:
            def done(err: Any, msg: Any) -> None:
                if err is None:
                    watch.put((tx_id, user, msg.timestamp()[1] / 1000))

            return done

        def produce() -> None:
            sim = Simulator(7)
            step, per_step = 0.05, max(1, int(args.tps * 0.05))
            start = time.monotonic()
            i = 0
            while time.monotonic() - start < args.seconds:
                tick = time.monotonic()
                for item in sim.live_batch(dt.datetime.now(dt.UTC), per_step):
                    tx = item.transaction
                    i += 1
                    value = send.tx.encode(tx)
                    callback = (
                        on_delivery(tx["user_id"], tx["transaction_id"])
                        if i % args.sample == 0
                        else None
                    )
                    send.producer.produce(
                        settings.kafka_topic_raw,
                        key=tx["user_id"].encode(),
                        value=value,
                        on_delivery=callback,
                    )
                    if item.label is not None:
                        send.fraud_label(item.label)
                send.producer.poll(0)
                sent[0] = i
                time.sleep(max(0.0, step - (time.monotonic() - tick)))
            send.flush()
            watch.put(None)

        def watcher() -> None:
            pending: list[tuple[str, str, float]] = []
            done = False
            while not done or pending:
                while True:
                    try:
                        item = watch.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        done = True
                    else:
                        pending.append(item)
                if pending:
                    pipe = client.pipeline(transaction=False)
                    for tx_id, user, _ in pending:  # written with its sorted-set entry
                        pipe.hexists(online.user_keys(user)[1], tx_id)
                    found = pipe.execute()
                    now = time.time()
                    keep = []
                    for (tx_id, user, appended), there in zip(pending, found, strict=True):
                        if not there:
                            keep.append((tx_id, user, appended))
                        else:
                            delays.append(now - appended)
                    pending = keep
                time.sleep(0.005)

        threads = [threading.Thread(target=produce), threading.Thread(target=watcher)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        job_view = job_quantiles(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(30)
        r.stop()
        AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers}).delete_topics(
            [settings.kafka_topic_raw, settings.kafka_topic_labels]
        )
    d = np.array(delays)
    result = {
        "tps": args.tps,
        "seconds": args.seconds,
        "sent": sent[0],
        "watched": int(d.size),
        "p50": float(np.percentile(d, 50)),
        "p95": float(np.percentile(d, 95)),
        "p99": float(np.percentile(d, 99)),
        "max": float(d.max()),
        "job_histogram": job_view,
        "targets": {"p95": TARGET_P95, "p99": TARGET_P99},
        "met": bool(np.percentile(d, 95) <= TARGET_P95 and np.percentile(d, 99) <= TARGET_P99),
    }
    out = REPO / "bench" / "results" / f"freshness-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    view = job_view
    rows = [
        f"| `make bench-freshness` ({args.tps} TPS, {args.seconds:.0f} s) "
        "| records | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|",
        f"| Kafka append -> online state (watched) | {d.size:,} | {result['p50']:.3f} s "
        f"| {result['p95']:.3f} s | {result['p99']:.3f} s | {result['max']:.3f} s |",
        f"| the job's histogram | {view.get('count', 0):,.0f} | {view.get('p50', 0):.3f} s "
        f"| {view.get('p95', 0):.3f} s | {view.get('p99', 0):.3f} s | |",
    ]
    print("\n" + "\n".join(rows))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
