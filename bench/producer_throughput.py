"""Producer throughput: simulated Avro transactions from one process vs Kafka's own tool.

    .venv/bin/python bench/producer_throughput.py [--records 1000000]

Starts Kafka and the registry of the native stack if needed, then in the same run:
1. ``fraud-producer --mode backfill`` (one process: simulation, validation, Avro
   encoding, produce with idempotence + acks=all) into a fresh 10-partition topic;
2. Kafka's ``ProducerPerformance`` (kafka-producer-perf-test) with the same record count,
   the producer's mean record size and the same producer settings, into another fresh topic.
Prints records/s for both and their ratio; writes bench/results/producer_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from fraud_infra.stack import Stack

REPO = Path(__file__).resolve().parents[1]


def fresh_topic(admin: AdminClient, name: str, partitions: int = 10) -> str:
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result()
    return name


def run_producer(records: int, topics: dict[str, str], env: dict[str, str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        counts_file = Path(tmp) / "counts.json"
        cmd = [
            sys.executable,
            "-m",
            "producer.main",
            "--mode",
            "backfill",
            "--days",
            "400",
            "--max-records",
            str(records),
            "--seed",
            "1",
            "--metrics-port",
            "0",
            "--counts-file",
            str(counts_file),
        ]
        proc_env = {
            **env,
            "LOG_LEVEL": "WARNING",
            "KAFKA_TOPIC_RAW": topics["raw"],
            "KAFKA_TOPIC_DLQ": topics["dlq"],
            "KAFKA_TOPIC_LABELS": topics["labels"],
        }
        subprocess.run(cmd, env=proc_env, check=True)
        counts = json.loads(counts_file.read_text())
    acked = counts["acked"][topics["raw"]]
    return {
        "records": acked,
        "seconds": counts["seconds"],
        "records_per_s": acked / counts["seconds"],
    }


def mean_record_size(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    sizes: list[int] = []
    deadline = time.monotonic() + 30
    while len(sizes) < 20_000 and time.monotonic() < deadline:
        sizes += [len(m.value() or b"") for m in consumer.consume(5000, 1.0) if not m.error()]
    consumer.close()
    return round(sum(sizes) / len(sizes))


def run_perf_test(records: int, size: int, topic: str, env: dict[str, str]) -> dict[str, Any]:
    libs = Path(env["CACHE"]) / f"kafka-{env['KAFKA_VERSION']}" / "libs"
    cmd = [
        "java",
        "-Xmx1g",
        "-Dfraud.kafka.log.level=WARN",
        f"-Dlog4j2.configurationFile={REPO / 'infra/kafka/log4j2.yaml'}",
        "-cp",
        f"{libs}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--bootstrap-server",
        "127.0.0.1:9092",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(size),
        "--throughput",
        "-1",
        "--command-property",
        "acks=all",
        "enable.idempotence=true",
        "linger.ms=20",
        "batch.size=1000000",
        "compression.type=lz4",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    final = out.strip().splitlines()[-1]
    match = re.search(r"([\d.]+) records/sec", final)
    if not match:
        raise RuntimeError(f"unexpected ProducerPerformance output: {final}")
    return {
        "records": records,
        "record_size": size,
        "records_per_s": float(match.group(1)),
        "summary": final,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    stack = Stack.load()
    stack.up(["kafka", "schema-registry"])
    env = {**os.environ, **stack.env}
    admin = AdminClient({"bootstrap.servers": "127.0.0.1:9092"})
    run = uuid.uuid4().hex[:6]
    topics = {
        k: fresh_topic(admin, f"bench.{run}.{k}", 10 if k == "raw" else 3)
        for k in ("raw", "dlq", "labels")
    }
    perf_topic = fresh_topic(admin, f"bench.{run}.perf")
    try:
        ours = run_producer(args.records, topics, env)
        size = mean_record_size("127.0.0.1:9092", topics["raw"])
        theirs = run_perf_test(args.records, size, perf_topic, env)
    finally:
        admin.delete_topics([*topics.values(), perf_topic])
    ratio = ours["records_per_s"] / theirs["records_per_s"]
    result = {
        "fraud_producer": ours,
        "kafka_producer_perf_test": theirs,
        "ratio": round(ratio, 3),
        "cpus": os.cpu_count(),
    }
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "producer_throughput.json").write_text(json.dumps(result, indent=2))
    print(f"fraud-producer (Avro, simulated, 1 process): {ours['records_per_s']:>10,.0f} records/s")
    print(
        f"kafka-producer-perf-test ({size} B records):  {theirs['records_per_s']:>10,.0f} records/s"
    )
    print(f"ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
