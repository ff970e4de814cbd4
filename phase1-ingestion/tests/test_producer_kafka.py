"""The producer against the native Kafka broker and schema registry."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from fraud_common.settings import PlatformSettings
from fraud_contracts import dlq as dlq_format
from fraud_contracts.avro import TRANSACTION_AVSC, decode, schema_text
from fraud_contracts.registry import CachedSchemaLookup, SchemaRegistry
from fraud_infra.stack import Stack
from fraud_testing.stack import consume_all
from fraud_testing.wire import Sender
from producer import resume
from producer.main import run
from producer.settings import ProducerSettings

pytestmark = pytest.mark.integration

DELAY_S = 3600.0


def producer_settings(topics: PlatformSettings, **overrides: Any) -> ProducerSettings:
    return ProducerSettings(
        kafka_bootstrap_servers=topics.kafka_bootstrap_servers,
        schema_registry_url=topics.schema_registry_url,
        topic_raw=topics.kafka_topic_raw,
        topic_dlq=topics.kafka_topic_dlq,
        topic_labels=topics.kafka_topic_labels,
        metrics_port=0,
        **overrides,
    )


def decode_all(messages: list[Any], registry_url: str) -> list[tuple[int, dict[str, Any]]]:
    lookup = CachedSchemaLookup(SchemaRegistry(registry_url))
    return [decode(m.value(), lookup) for m in messages]


def test_backfill_round_trips_with_labels(fresh_topics: PlatformSettings) -> None:
    s = producer_settings(
        fresh_topics,
        mode="backfill",
        days=5,
        max_records=10_000,
        seed=11,
        start_date=date(2025, 3, 1),
        label_delay_seconds=DELAY_S,
    )
    counts = run(s)
    assert counts["acked"][s.topic_raw] == 10_000
    assert counts["unflushed"] == 0 and counts["dlq"] == {}
    exposed = generate_latest().decode()
    assert f'fraud_producer_records_total{{topic="{s.topic_raw}"}} 10000.0' in exposed
    assert "fraud_producer_delivery_latency_seconds_count" in exposed

    raw = consume_all(s.kafka_bootstrap_servers, s.topic_raw, expected=10_000)
    assert len(raw) == 10_000
    decoded = decode_all(raw, s.schema_registry_url)
    registry = SchemaRegistry(s.schema_registry_url)
    registered = registry.register(f"{s.topic_raw}-value", schema_text(TRANSACTION_AVSC))
    assert {sid for sid, _ in decoded} == {registered}
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for msg, (_, record) in zip(raw, decoded, strict=True):
        assert msg.key() == record["user_id"].encode()
        partitions[msg.key()].add(msg.partition())
    assert all(len(p) == 1 for p in partitions.values()), "a user's records span partitions"
    assert len({p for ps in partitions.values() for p in ps}) == 10  # all partitions used

    labels = consume_all(
        s.kafka_bootstrap_servers, s.topic_labels, expected=counts["acked"][s.topic_labels]
    )
    by_id = {r["transaction_id"]: r for _, r in decoded}
    label_records = [r for _, r in decode_all(labels, s.schema_registry_url)]
    assert label_records, "30 days of simulated frauds produced no label"
    # exactly the frauds of this run: every label names one of its transactions ...
    assert len({lr["transaction_id"] for lr in label_records}) == len(label_records)
    for lr in label_records:
        tx = by_id[lr["transaction_id"]]
        assert lr["is_fraud"] and lr["user_id"] == tx["user_id"]
        assert lr["reported_at"] >= tx["event_time"] + DELAY_S * 1000
    # ... and the simulator agrees on which ones were fraud
    from fraud_simulator.simulator import Simulator

    expected = {
        e.transaction["transaction_id"]
        for e in Simulator(11).backfill(5, date(2025, 3, 1))
        if e.label is not None and e.transaction["transaction_id"] in by_id
    }
    assert {lr["transaction_id"] for lr in label_records} == expected


def test_malformed_records_all_reach_the_dlq(fresh_topics: PlatformSettings) -> None:
    s = producer_settings(
        fresh_topics,
        mode="backfill",
        days=3,
        max_records=8_000,
        seed=5,
        start_date=date(2025, 3, 1),
        malformed_fraction=0.05,
    )
    counts = run(s)
    dlq_total = sum(counts["dlq"].values())
    assert 0.035 * 8_000 < dlq_total < 0.065 * 8_000
    assert counts["acked"][s.topic_raw] + dlq_total == counts["generated"]
    assert counts["acked"][s.topic_raw] == 8_000  # every genuine record went through

    dlq = consume_all(s.kafka_bootstrap_servers, s.topic_dlq, expected=dlq_total)
    assert len(dlq) == dlq_total
    reasons: Counter[str] = Counter()
    for msg in dlq:
        headers = dlq_format.parse(msg.headers())  # raises without the contract's headers
        assert headers[dlq_format.STAGE] == dlq_format.STAGE_PRODUCER
        assert headers[dlq_format.SOURCE_TOPIC] == s.topic_raw
        assert headers[dlq_format.DETAIL]
        assert abs(int(headers[dlq_format.TIMESTAMP]) - time.time() * 1000) < 600_000
        reasons[headers[dlq_format.REASON]] += 1
    assert set(reasons) == {"quality", "schema_validation", "not_avro"}
    assert dict(reasons) == counts["dlq"]
    raw = consume_all(s.kafka_bootstrap_servers, s.topic_raw, expected=8_000)
    assert len(raw) == 8_000  # nothing malformed leaked into the raw topic


def test_registry_evolution_v1_v2(fresh_topics: PlatformSettings) -> None:
    from fraud_contracts.avro import Encoder
    from fraud_simulator.simulator import Simulator

    registry = SchemaRegistry(fresh_topics.schema_registry_url)
    subject = f"{fresh_topics.kafka_topic_raw}-value"
    registry.set_compatibility(subject, "BACKWARD")
    v1_text = TRANSACTION_AVSC.read_text()
    v1_id = registry.register(subject, v1_text)
    v2 = json.loads(v1_text)
    v2["fields"].append(
        {
            "name": "risk_hint",
            "type": ["null", "string"],
            "default": None,
            "doc": "test-only optional field",
        }
    )
    v2_id = registry.register(subject, json.dumps(v2))
    assert v2_id != v1_id and len(registry.versions(subject)) == 2

    removed = json.loads(v1_text)
    removed["fields"] = [f for f in removed["fields"] if f["name"] != "amount"]
    removed["fields"].append({"name": "flag", "type": "boolean"})  # new, no default
    retyped = json.loads(v1_text)
    for f in retyped["fields"]:
        if f["name"] == "amount":
            f["type"] = "string"
    from fraud_contracts.registry import SchemaRejectedError

    for bad in (removed, retyped):
        assert not registry.is_compatible(subject, json.dumps(bad))
        with pytest.raises(SchemaRejectedError):
            registry.register(subject, json.dumps(bad))

    lookup = CachedSchemaLookup(registry)
    v1_schema, v2_schema = lookup(v1_id), lookup(v2_id)
    assert v1_schema is not None and v2_schema is not None
    tx = next(iter(Simulator(1).backfill(1, date(2025, 1, 1)))).transaction
    payloads = [
        Encoder(v1_schema, v1_id).encode(tx),
        Encoder(v2_schema, v2_id).encode({**tx, "risk_hint": "x"}),
    ]
    decoded = [decode(p, lookup) for p in payloads]
    assert decoded[0] == (v1_id, tx)
    assert decoded[1] == (v2_id, {**tx, "risk_hint": "x"})


@pytest.mark.e2e
def test_broker_outage_loses_and_duplicates_nothing(
    fresh_topics: PlatformSettings, native_stack: Stack, tmp_path: Path
) -> None:
    """Kill the broker (SIGKILL) for 10 s while the producer runs live at 500 TPS."""
    s = fresh_topics
    counts_file = tmp_path / "counts.json"
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "producer.main",
            "--mode",
            "live",
            "--tps",
            "500",
            "--max-records",
            "12000",
            "--seed",
            "9",
            "--metrics-port",
            "0",
            "--counts-file",
            str(counts_file),
        ],
        env={
            **env,
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
            "SCHEMA_REGISTRY_URL": s.schema_registry_url,
            "KAFKA_TOPIC_RAW": s.kafka_topic_raw,
            "KAFKA_TOPIC_DLQ": s.kafka_topic_dlq,
            "KAFKA_TOPIC_LABELS": s.kafka_topic_labels,
        },
    )
    try:
        time.sleep(6)
        info = native_stack.process_info("kafka")
        assert info is not None and info["statename"] == "RUNNING"
        os.kill(int(info["pid"]), signal.SIGKILL)
        time.sleep(10)
        assert proc.poll() is None, "producer died while the broker was down"
        native_stack.up(["kafka"])
        assert proc.wait(timeout=180) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    counts = json.loads(counts_file.read_text())
    assert counts["generated"] == 12_000
    assert counts["acked"][s.kafka_topic_raw] == 12_000
    assert counts["delivery_failed"] == {} and counts["unflushed"] == 0

    raw = consume_all(s.kafka_bootstrap_servers, s.kafka_topic_raw, expected=12_000)
    ids = [r["transaction_id"] for _, r in decode_all(raw, s.schema_registry_url)]
    assert len(ids) == 12_000, f"{len(ids)} records in the topic, 12000 acknowledged"
    assert len(set(ids)) == 12_000, "duplicates after the broker came back"


@pytest.mark.timeout(300)  # a producer resuming in the wrong place waits for the future
def test_the_live_history_stream_continues_the_backfill_exactly(
    fresh_topics: PlatformSettings,
) -> None:
    """A backfill ending 2 h ago, other traffic (a uniform load of another seed, sent now),
    then the live ``--traffic history`` producer, stopped and started again mid catch-up:
    the raw topic holds the simulator's uncut history, each transaction once; every label
    the backfill held back (reported after the history's end) arrives from the live
    producer, once."""
    from fraud_simulator.simulator import Simulator, to_millis

    seed, delay_s = 13, 3_600.0
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
    if not 8 <= end.hour < 18:  # the history's nights are quiet: end in the afternoon before
        day = end.date() - dt.timedelta(days=1 if end.hour < 8 else 0)
        end = dt.datetime.combine(day, dt.time(14), dt.UTC)
    common: dict[str, Any] = {"seed": seed, "label_delay_seconds": delay_s}
    backfill = run(
        producer_settings(fresh_topics, mode="backfill", days=1, history_end=end, **common)
    )
    history = backfill["acked"][fresh_topics.kafka_topic_raw]
    sim = Simulator(seed, label_delay=dt.timedelta(seconds=delay_s))
    first = to_millis(dt.datetime.combine(end.date() - dt.timedelta(days=1), dt.time(), dt.UTC))
    gap = list(sim.between(to_millis(end), to_millis(end + dt.timedelta(hours=1))))
    assert len(gap) > 200, "an hour of the history's process"
    half = len(gap) // 2
    # a transaction dated tomorrow (a drill's, breaking the contract) is not where to resume
    future = dict(gap[0].transaction, transaction_id="from-the-future")
    future["event_time"] = to_millis(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    sender = Sender(fresh_topics)
    sender.transaction(future)
    sender.flush()
    # nor is the newest of another producer's records, more than the first step back reads
    others = 3 * resume.TAIL
    load = {"seed": seed + 1, "label_delay_seconds": delay_s, "tps": 5_000.0}
    run(producer_settings(fresh_topics, mode="live", max_records=others, **load))
    live = {"mode": "live", "traffic": "history", "tps": 5_000.0, **common}
    run(producer_settings(fresh_topics, max_records=half, **live))  # stopped: SIGTERM-like
    run(producer_settings(fresh_topics, max_records=len(gap) - half, **live))

    raw = consume_all(
        fresh_topics.kafka_bootstrap_servers,
        fresh_topics.kafka_topic_raw,
        expected=history + len(gap) + 1 + others,
    )
    expected = list(sim.between(first, to_millis(end))) + gap
    ours = {e.transaction["transaction_id"] for e in expected}
    sent = [r for _, r in decode_all(raw, fresh_topics.schema_registry_url)]
    assert len(sent) == history + len(gap) + 1 + others
    sent = [r for r in sent if r["transaction_id"] in ours]
    assert len(sent) == len(expected) == history + len(gap)
    assert sorted(r["transaction_id"] for r in sent) == sorted(
        e.transaction["transaction_id"] for e in expected
    )
    labels = consume_all(fresh_topics.kafka_bootstrap_servers, fresh_topics.kafka_topic_labels)
    reported = [
        r["transaction_id"]
        for _, r in decode_all(labels, fresh_topics.schema_registry_url)
        if r["transaction_id"] in ours
    ]
    assert len(reported) == len(set(reported)), "a label was sent twice"
    frauds = {e.transaction["transaction_id"] for e in expected if e.label is not None}
    held_back = {
        e.transaction["transaction_id"]
        for e in expected
        if e.label is not None and to_millis(end) - delay_s * 1000 <= e.transaction["event_time"]
    }
    assert set(reported) == frauds  # the stopped producers sent their pending ones early
    assert held_back, "no fraud in the history's last label delay: the check proves nothing"
