"""What the demo's live traffic adds up to, layer by layer.

The live producer has run since the demo went live (test_1_demo's checks ran meanwhile;
at least ``LIVE_SECONDS``); it is stopped here, the bronze writer and the live scorer
catch up, and one incremental dbt run brings silver and gold up to date. Asserted:

- nothing lost or duplicated between the layers: the raw topic, bronze, silver and gold
  hold the same transactions; the labels topic and bronze's labels agree; the producer's
  DLQ records are exactly the backfill's malformed records, and the bronze writer rejected
  nothing but malformed records (none but those of an earlier session's alert drill,
  test_3_alert_drill.py: the raw records it rejected are left out of the counts);
- every live transaction from the scorer's first one on is in ``predictions`` exactly
  once, and the count equals what the scorer reports;
- the live-scored frauds (the simulator's labels, delivered after 5 s here) score higher
  than the genuine transactions: AUC >= 0.85;
- training/serving skew: the vector the API scored each live transaction with (from the
  online state the streaming feature job kept) equals the point-in-time vector gold
  computed for it: at least 99.9 % of the feature values and 99 % of whole vectors;
- the live traffic looks like the history (the live producer continues it): the PSI of
  every feature between the live vectors and gold's of the days before is at most 0.1.

The alert drill, next, starts the live producer again.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Set
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Message, TopicPartition
from sklearn.metrics import roc_auc_score

from fraud_common.settings import PlatformSettings
from fraud_common.trino import execute
from fraud_contracts import dlq
from fraud_contracts.avro import AvroError, decode
from fraud_contracts.names import MART_FRAUD_FEATURES, PREDICTIONS_TABLE
from fraud_contracts.registry import CachedSchemaLookup, SchemaRegistry
from fraud_infra.stack import Stack
from fraud_testing.conditions import scraped, wait_until
from fraud_testing.demo import Demo, venv_bin
from fraud_testing.lakehouse import Lakehouse
from producer.malformed import quality_problems
from training import drift, skew
from training.monitor import MonitorSettings

pytestmark = pytest.mark.e2e

#: the least live traffic the counts are taken over
LIVE_SECONDS = 60
SCORER_GROUP = "fraud-live-scorer"
SCORER_METRICS = "http://127.0.0.1:8003/metrics"


def read_messages(settings: PlatformSettings, topic: str) -> Iterator[Message]:
    """Every message of ``topic``, undecoded."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "test-demo-read"}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        pending = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + 300
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(5000, timeout=1.0):
                if msg.error() is not None:
                    continue
                yield msg
                if msg.offset() + 1 >= ends[msg.partition()]:
                    pending.discard(msg.partition())
        assert not pending, f"timed out reading {topic}"
    finally:
        consumer.close()


def read_topic(
    settings: PlatformSettings, topic: str, skip: Set[tuple[int, int]] = frozenset()
) -> list[tuple[int, int, dict[str, Any]]]:
    """(partition, offset, decoded record) of every record of ``topic`` but those at the
    positions ``skip`` (partition, offset)."""
    lookup = CachedSchemaLookup(SchemaRegistry(settings.schema_registry_url))
    return [
        (msg.partition(), msg.offset(), decode(msg.value(), lookup)[1])
        for msg in read_messages(settings, topic)
        if (msg.partition(), msg.offset()) not in skip
    ]


def scorer_caught_up(settings: PlatformSettings) -> bool:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": SCORER_GROUP}
    )
    try:
        topic = settings.kafka_topic_raw
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return all(
            tp.offset >= consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in committed
        )
    finally:
        consumer.close()


def count(settings: PlatformSettings, table: str) -> int:
    sql = f"SELECT count(*) FROM {settings.trino_catalog}.{table}"
    return int(execute(settings, sql)[0][0])


@pytest.mark.timeout(900)  # the scorer's and the writer's catch-up, a dbt run, the reads
def test_every_layer_adds_up_and_every_live_transaction_is_scored_once(
    demo: Demo, native_stack: Stack, lakehouse: Lakehouse, settings: PlatformSettings
) -> None:
    time.sleep(max(0.0, demo.live_from + LIVE_SECONDS - time.monotonic()))
    assert scraped(SCORER_METRICS, "fraud_live_scorer_scored_total") > 0
    native_stack.stop(["producer"])
    wait_until("the live scorer to catch up", lambda: scorer_caught_up(settings))
    scored = scraped(SCORER_METRICS, "fraud_live_scorer_scored_total")
    rejected = scraped(SCORER_METRICS, "fraud_live_scorer_rejected_total")

    # ------------------------------------------------------------ Kafka -> bronze -> gold
    by_producer, dlq_positions = read_dlq(settings)
    raw = read_topic(settings, settings.kafka_topic_raw, dlq_positions[settings.kafka_topic_raw])
    labels = read_topic(
        settings, settings.kafka_topic_labels, dlq_positions[settings.kafka_topic_labels]
    )
    wait_until(
        "bronze to hold the raw topic",
        lambda: count(settings, "bronze.transactions") == len(raw),
    )
    assert len({r["transaction_id"] for _, _, r in raw}) == len(raw)
    assert count(settings, "bronze.fraud_labels") == len(labels)
    subprocess.run([venv_bin("fraud-dbt"), "run"], check=True, capture_output=True)
    assert count(settings, "silver.int_transactions_enriched") == len(raw)
    assert count(settings, f"gold.{MART_FRAUD_FEATURES}") == len(raw)
    assert by_producer == lakehouse.backfill.malformed > 0

    # ------------------------------------------------------------ raw -> predictions
    dsn = settings.postgres_dsn(
        "predictions", user="predictions", password=native_stack.env["PREDICTIONS_DB_PASSWORD"]
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT transaction_id, probability FROM {PREDICTIONS_TABLE} "
            "WHERE predicted_at >= to_timestamp(%s) AND transaction_id NOT LIKE 'demo-%%'",
            (demo.started_at,),
        ).fetchall()
    predicted = {tx: p for tx, p in rows}
    assert len(predicted) == len(rows) > 0
    assert scored >= len(predicted)  # the scorer's count (it may have run before this test)
    assert rejected == 0
    by_partition: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for partition, offset, record in raw:
        by_partition[partition].append((offset, record["transaction_id"]))
    live: list[str] = []
    for records in by_partition.values():
        records.sort()
        first_scored = next((i for i, (_, tx) in enumerate(records) if tx in predicted), None)
        if first_scored is not None:
            live += [tx for _, tx in records[first_scored:]]
    assert set(live) == set(predicted), "a live transaction was not scored, or one twice"

    # ------------------------------------------------------------ training/serving skew
    with psycopg.connect(dsn) as conn:
        logged = conn.execute(
            f"SELECT transaction_id, features, feature_source FROM {PREDICTIONS_TABLE} "
            "WHERE predicted_at >= to_timestamp(%s) AND transaction_id NOT LIKE 'demo-%%'",
            (demo.started_at,),
        ).fetchall()
    sources = Counter(source for _, _, source in logged)
    fresh = [(tx, list(v)) for tx, v, source in logged if source == "redis"]
    measured = skew.measure(fresh, lambda sql: execute(settings, sql), settings.trino_catalog)
    print(f"skew over {measured.compared} live vectors (sources {dict(sources)}): "
          f"{measured.vectors_agree:.4%} whole vectors agree; least-agreeing features "
          f"{sorted(measured.agree.items(), key=lambda x: x[1])[:4]}")  # fmt: skip
    assert measured.compared == len(fresh) >= 0.95 * len(live)
    assert measured.vectors_agree >= 0.99
    assert min(measured.agree.values()) >= 0.999

    # ------------------------------------------------------------ drift: live looks like history
    # the monitor's measurement over every live vector: against gold's vectors of the
    # reference days before the first live transaction
    event_time = {r["transaction_id"]: r["event_time"] for _, _, r in raw}
    first = dt.datetime.fromtimestamp(min(event_time[tx] for tx in live) / 1000, dt.UTC)
    defaults = MonitorSettings.model_fields
    ref_start, ref_end = drift.reference_window(first, defaults["drift_reference_days"].default)
    reference = drift.reference_vectors(
        lambda sql: execute(settings, sql),
        settings.trino_catalog,
        ref_start,
        ref_end,
        defaults["drift_sample"].default,
    )
    psi = drift.measure(reference, drift.as_vectors([v for _, v in fresh]), min_rows=200)
    print(f"PSI over {psi.current_rows} live vectors vs {psi.reference_rows} of gold's "
          f"({ref_start:%Y-%m-%d %H:%M} to {ref_end:%Y-%m-%d %H:%M}), live events from "
          f"{first:%Y-%m-%d %H:%M}: " + ", ".join(
              f"{k} {v:.3f}" for k, v in sorted(psi.psi.items(), key=lambda x: -x[1])))  # fmt: skip
    assert psi.psi, "too few vectors to measure drift"
    assert psi.max_psi <= 0.1, f"{psi.worst} drifted: PSI {psi.max_psi:.3f}"

    # ------------------------------------------------------------ detection quality
    frauds = {r["transaction_id"] for _, _, r in labels if r["is_fraud"]}
    truth = [tx in frauds for tx in live]
    assert sum(truth) >= 5, f"only {sum(truth)} labelled frauds among {len(live)} live ones"
    auc = roc_auc_score(truth, [predicted[tx] for tx in live])
    print(f"live AUC {auc:.3f} over {len(live)} transactions, {sum(truth)} frauds")
    assert auc >= 0.85


def read_dlq(settings: PlatformSettings) -> tuple[int, dict[str, set[tuple[int, int]]]]:
    """The DLQ: how many records the producer routed there, and per source topic the
    positions (partition, offset) of the records the bronze writer rejected. Each of
    those must be malformed: not decodable, or breaking a data-quality rule when it was
    ingested (a genuine transaction rejected would be lost from the counts)."""
    lookup = CachedSchemaLookup(SchemaRegistry(settings.schema_registry_url))
    by_producer = 0
    rejected: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for msg in read_messages(settings, settings.kafka_topic_dlq):
        headers = dlq.parse(msg.headers())
        if headers[dlq.STAGE] == dlq.STAGE_PRODUCER:
            by_producer += 1
            continue
        source = headers[dlq.SOURCE_TOPIC]
        position = (int(headers[dlq.SOURCE_PARTITION]), int(headers[dlq.SOURCE_OFFSET]))
        if source == settings.kafka_topic_raw:
            try:
                record = decode(msg.value() or b"", lookup)[1]
            except AvroError:
                record = None
            ingested_ms = int(headers[dlq.INGESTED_AT])
            assert record is None or quality_problems(record, ingested_ms), (
                f"the bronze writer rejected a valid transaction at {source} {position}: "
                f"{headers[dlq.REASON]}"
            )
        rejected[source].add(position)
    return by_producer, rejected
