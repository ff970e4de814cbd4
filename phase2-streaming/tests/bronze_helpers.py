"""Helpers of the Phase 2 tests: test topics, Avro test records, reading DLQ and bronze."""

from __future__ import annotations

import contextlib
import json
import math
import struct
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from deltalake import DeltaTable
from fastavro import parse_schema

from fraud_common.s3 import s3_client
from fraud_common.settings import PlatformSettings
from fraud_contracts import dlq
from fraud_contracts.avro import (
    FRAUD_LABEL_AVSC,
    TRANSACTION_AVSC,
    Encoder,
    fraud_label_schema,
    schema_text,
    transaction_schema,
)
from fraud_contracts.registry import SchemaRegistry
from fraud_simulator.simulator import SimulatedTransaction, Simulator, to_millis
from spark_jobs.lake import delta_rs_uri, delta_storage_options
from spark_jobs.settings import StreamingSettings

V2_FIELD = {"name": "card_id", "type": ["null", "string"], "default": None, "doc": "test v2"}


def transaction_v2_text() -> str:
    """transaction.avsc plus an optional field with a default (backward compatible)."""
    schema = json.loads(schema_text(TRANSACTION_AVSC))
    schema["fields"].append(V2_FIELD)
    return json.dumps(schema)


@dataclass
class BronzeRun:
    """Unique topics, subject and lake locations of one test."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def raw(self) -> str:
        return f"test.bronze.{self.run}.raw"

    @property
    def labels(self) -> str:
        return f"test.bronze.{self.run}.labels"

    @property
    def dlq(self) -> str:
        return f"test.bronze.{self.run}.dlq"

    @property
    def prefix(self) -> str:
        return f"tests/bronze/{self.run}"

    def env(self) -> dict[str, str]:
        """Environment for a bronze writer subprocess of this run."""
        return {
            "KAFKA_TOPIC_RAW": self.raw,
            "KAFKA_TOPIC_LABELS": self.labels,
            "KAFKA_TOPIC_DLQ": self.dlq,
            "STREAMING_TRANSACTIONS_TABLE": f"{self.prefix}/transactions",
            "STREAMING_LABELS_TABLE": f"{self.prefix}/fraud_labels",
            "STREAMING_CHECKPOINT_ROOT": f"{self.prefix}/checkpoints",
        }

    def settings(self, base: StreamingSettings, **extra: Any) -> StreamingSettings:
        """``base`` pointed at this run's topics and locations."""
        return base.model_copy(
            update={
                "topic_raw": self.raw,
                "topic_labels": self.labels,
                "topic_dlq": self.dlq,
                "transactions_table": f"{self.prefix}/transactions",
                "labels_table": f"{self.prefix}/fraud_labels",
                "checkpoint_root": f"{self.prefix}/checkpoints",
                **extra,
            }
        )


def create_topics(bootstrap: str, topics: Mapping[str, int]) -> None:
    """Create the topics (name: partitions) and wait until they exist."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(t, num_partitions=p, replication_factor=1) for t, p in topics.items()]
    for future in admin.create_topics(new, operation_timeout=30).values():
        future.result()


def delete_prefix(settings: StreamingSettings, prefix: str) -> None:
    """Delete a test's tables and checkpoints from the bucket (best effort)."""
    platform = PlatformSettings.model_validate(
        {
            "s3_endpoint_url": settings.s3_endpoint_url,
            "s3_access_key": settings.s3_access_key,
            "s3_secret_key": settings.s3_secret_key,
            "s3_bucket": settings.s3_bucket,
            "s3_region": settings.s3_region,
            "postgres_password": "unused",
            "redis_password": "unused",
        }
    )
    client = s3_client(platform)
    with contextlib.suppress(Exception):
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=settings.s3_bucket, Prefix=prefix.rstrip("/") + "/"
        )
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        for key in sorted(keys, key=len, reverse=True):  # files before directory markers
            client.delete_object(Bucket=settings.s3_bucket, Key=key)


def delete_topics(bootstrap: str, topics: Iterable[str]) -> None:
    """Delete test topics (best effort)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(list(topics), operation_timeout=30).values():
        with contextlib.suppress(Exception):  # best effort
            future.result()


@dataclass
class Schemas:
    """Registered schema ids of one test subject."""

    transaction: Encoder
    label: Encoder
    transaction_id: int
    label_id: int


def register(registry: SchemaRegistry, run: BronzeRun) -> Schemas:
    """Register the contract schemas under the run's subjects."""
    tx_id = registry.register(f"{run.raw}-value", schema_text(TRANSACTION_AVSC))
    label_id = registry.register(f"{run.labels}-value", schema_text(FRAUD_LABEL_AVSC))
    return Schemas(
        Encoder(transaction_schema(), tx_id),
        Encoder(fraud_label_schema(), label_id),
        tx_id,
        label_id,
    )


def register_v2(registry: SchemaRegistry, run: BronzeRun) -> Encoder:
    """Register schema v2 (v1 + optional card_id) under the run's subject."""
    text = transaction_v2_text()
    schema_id = registry.register(f"{run.raw}-value", text)
    return Encoder(parse_schema(json.loads(text)), schema_id)


def simulated(n: int, seed: int = 7, now: datetime | None = None) -> list[SimulatedTransaction]:
    """``n`` realistic transactions (and labels) stamped around ``now``."""
    sim = Simulator(seed)
    moment = now or datetime.now(UTC)
    out: list[SimulatedTransaction] = []
    while len(out) < n:
        out.extend(sim.live_batch(moment, min(5_000, n - len(out)), window=timedelta(seconds=5)))
    return out[:n]


@dataclass(frozen=True)
class Invalid:
    """An invalid Kafka value and the DLQ reasons it must get."""

    value: bytes
    reasons: frozenset[str]
    name: str


def invalid_values(base: Mapping[str, Any], enc: Encoder) -> list[Invalid]:
    """One invalid record of every kind: each quality rule, non-Avro, unknown id, bad body."""

    def variant(**changes: Any) -> dict[str, Any]:
        rec = dict(base)
        rec["metadata"] = {}
        rec["transaction_id"] = str(uuid.uuid4())
        rec.update(changes)
        return rec

    now_ms = to_millis(datetime.now(UTC))
    cases: list[tuple[str, dict[str, Any], set[str]]] = [
        ("empty_transaction_id", variant(transaction_id=""), {"transaction_id_empty"}),
        ("blank_user_id", variant(user_id="  "), {"user_id_empty"}),
        ("negative_amount", variant(amount=-12.5), {"amount_not_positive_finite"}),
        ("zero_amount", variant(amount=0.0), {"amount_not_positive_finite"}),
        ("nan_amount", variant(amount=math.nan), {"amount_not_positive_finite"}),
        ("inf_amount", variant(amount=math.inf), {"amount_not_positive_finite"}),
        ("unknown_currency", variant(currency="XYZ"), {"currency_unknown"}),
        (
            "too_old",
            variant(event_time=to_millis(datetime(1990, 1, 1, tzinfo=UTC))),
            {"event_time_too_old"},
        ),
        ("in_future", variant(event_time=now_ms + 3 * 3600 * 1000), {"event_time_in_future"}),
        ("two_rules", variant(user_id="", currency="ABC"), {"user_id_empty", "currency_unknown"}),
    ]
    out = [Invalid(enc.encode(rec), frozenset(reasons), name) for name, rec, reasons in cases]
    good = enc.encode(variant())
    out += [
        Invalid(b"hello, not avro", frozenset({"not_avro"}), "text"),
        Invalid(json.dumps({"amount": 1}).encode(), frozenset({"not_avro"}), "json"),
        Invalid(b"\x00\x01", frozenset({"not_avro"}), "short"),
        Invalid(
            b"\x00" + struct.pack(">I", 2_000_000_000) + good[5:],
            frozenset({"unknown_schema_id"}),
            "unknown_id",
        ),
        Invalid(good[: len(good) // 2], frozenset({"undecodable"}), "truncated"),
        Invalid(good + b"\x00\x00", frozenset({"undecodable"}), "trailing"),
    ]
    return out


def producer(bootstrap: str) -> Producer:
    """An idempotent producer for the tests."""
    return Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )


def produce(bootstrap: str, topic: str, values: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Produce (key, value) pairs and wait for all acknowledgements."""
    prod = producer(bootstrap)
    n = 0
    for key, value in values:
        while True:
            try:
                prod.produce(topic, key=key, value=value)
                break
            except BufferError:
                prod.poll(0.1)
        n += 1
    assert prod.flush(60) == 0
    return n


@dataclass(frozen=True)
class DlqRecord:
    key: str
    value: bytes | None
    headers: dict[str, str]


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> list[DlqRecord]:
    """Every record of ``topic`` from the beginning to its current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        pending = {p for p, end in ends.items() if end > 0}
        out: list[DlqRecord] = []
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(msg.error())
                headers = dlq.parse(msg.headers())  # raises without the contract's headers
                out.append(DlqRecord((msg.key() or b"").decode(), msg.value(), headers))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    pending.discard(msg.partition())
        assert not pending, f"timed out reading {topic}"
        return out
    finally:
        consumer.close()


def bronze_table(settings: StreamingSettings, location: str) -> DeltaTable:
    """A bronze table through delta-rs (the deltalake package), not Spark."""
    return DeltaTable(delta_rs_uri(location), storage_options=delta_storage_options(settings))
