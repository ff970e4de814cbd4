"""The Kafka side of the producer: Confluent-framed Avro records, a DLQ, nothing dropped.

* Transactions go to ``transactions.raw`` keyed by ``user_id`` (ordering per user over
  the topic's partitions), labels to ``transactions.labels``.
* Encoding is fastavro's schemaless writer plus the 5-byte Confluent header
  (:class:`fraud_contracts.avro.Encoder`; whole batches column-wise with
  :class:`producer.batch_encode.BatchEncoder`), through a plain ``Producer`` with
  idempotence and ``acks=all`` — not the much slower ``SerializingProducer``.
* A record that fails validation or serialization goes to ``transactions.dlq`` with the
  platform's DLQ headers (:mod:`fraud_contracts.dlq`: reason, detail, stage ``producer``,
  source topic, timestamp; for a schema error also the field). A record the broker does
  not acknowledge (after librdkafka's own retries within ``delivery.timeout.ms``) is
  counted and sent to the DLQ with reason ``delivery_failed``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from confluent_kafka import KafkaError, Message, Producer

from fraud_contracts import dlq
from fraud_contracts.avro import Encoder
from producer import metrics
from producer.batch_encode import BatchEncoder
from producer.settings import ProducerSettings

log = structlog.get_logger(__name__)


def producer_config(settings: ProducerSettings) -> dict[str, Any]:
    """librdkafka settings: idempotent, acks=all, large lz4 batches."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        "linger.ms": settings.linger_ms,
        "batch.size": settings.batch_size,
        "batch.num.messages": 100_000,
        "compression.type": settings.compression_type,
        "delivery.timeout.ms": settings.delivery_timeout_ms,
        "queue.buffering.max.messages": settings.queue_buffering_max_messages,
        "queue.buffering.max.kbytes": 1_048_576,
        "message.max.bytes": 10_000_000,
        "client.id": "fraud-producer",
    }


def _payload_of(record: Any) -> bytes:
    """Best-effort bytes of a record that could not be encoded (for the DLQ)."""
    if isinstance(record, bytes | bytearray):
        return bytes(record)
    try:
        return json.dumps(record, default=repr, allow_nan=True).encode()
    except (TypeError, ValueError):
        return repr(record).encode()


@dataclass
class Counts:
    """What happened to every record handed to the producer."""

    generated: int = 0
    acked: Counter[str] = field(default_factory=Counter)  # by topic
    dlq: Counter[str] = field(default_factory=Counter)  # by reason
    delivery_failed: Counter[str] = field(default_factory=Counter)  # by topic
    dlq_lost: int = 0  # DLQ writes that themselves failed (never expected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated": self.generated,
            "acked": dict(self.acked),
            "dlq": dict(self.dlq),
            "delivery_failed": dict(self.delivery_failed),
            "dlq_lost": self.dlq_lost,
        }


class TransactionProducer:
    """Produces transactions and labels; routes failures to the DLQ; counts everything."""

    def __init__(
        self,
        settings: ProducerSettings,
        transaction_encoder: Encoder,
        label_encoder: Encoder,
        client: Producer | None = None,
    ) -> None:
        self.settings = settings
        self.tx_encoder = transaction_encoder
        self.tx_batch_encoder = BatchEncoder(
            transaction_encoder.schema, transaction_encoder.schema_id
        )
        self.label_encoder = label_encoder
        self.client = client or Producer(producer_config(settings))
        self.counts = Counts()
        self.delivery = metrics.DeliveryStats()
        self.counts.acked = self.delivery.acked  # one counter, shared with the metrics
        metrics.DELIVERY.sources.append(self.delivery)

    # ------------------------------------------------------------------ sending
    def send_transactions(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Encode a batch column-wise and produce it; records that do not fit go to the DLQ."""
        self.counts.generated += len(records)
        values, errors = self.tx_batch_encoder.encode_many_checked(records)
        for index, err in errors:
            self.to_dlq(
                _payload_of(dict(records[index])),
                "schema_validation",
                str(err),
                key=_key(records[index]),
                extra={dlq.FIELD: err.field},
            )
        topic = self.settings.topic_raw
        produce = self._produce
        for record, value in zip(records, values, strict=True):
            if value is not None:
                produce(topic, value, _key(record))

    def send_label(self, label: Mapping[str, Any]) -> None:
        value = self.label_encoder.encode(label)  # labels are built by us: errors are bugs
        self._produce(self.settings.topic_labels, value, _key(label))

    def send_raw(self, value: bytes, key: bytes | None = None) -> None:
        """Send bytes unvalidated to the raw topic (to exercise downstream DLQ paths)."""
        self.counts.generated += 1
        self._produce(self.settings.topic_raw, value, key)

    def to_dlq(
        self,
        value: bytes,
        reason: str,
        error: str,
        key: bytes | None = None,
        extra: Mapping[str, str] | None = None,
        source_topic: str | None = None,
    ) -> None:
        """One record to the DLQ, with the headers of :mod:`fraud_contracts.dlq`."""
        headers = dlq.headers(
            reason,
            error,
            dlq.STAGE_PRODUCER,
            source_topic or self.settings.topic_raw,
            int(time.time() * 1000),
            extra,
        )
        self.counts.dlq[reason] += 1
        metrics.DLQ_RECORDS.labels(reason=reason).inc()
        self._produce(self.settings.topic_dlq, value, key, headers=headers)

    def _produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        while True:
            try:
                self.client.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                return
            except BufferError:
                # local queue full: serve delivery reports until there is room
                self.client.poll(0.05)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        topic = str(msg.topic())
        if err is None:
            self.delivery.ack(topic, msg.latency())
            return
        self.counts.delivery_failed[topic] += 1
        metrics.DELIVERY_ERRORS.labels(topic=topic).inc()
        log.error("delivery failed", topic=topic, error=str(err))
        if topic == self.settings.topic_dlq:
            self.counts.dlq_lost += 1
            log.critical("DLQ record could not be delivered", error=str(err))
            return
        self.to_dlq(
            msg.value() or b"",
            "delivery_failed",
            str(err),
            key=msg.key(),
            source_topic=topic,
        )

    # ------------------------------------------------------------------ lifecycle
    def poll(self, timeout: float = 0.0) -> int:
        return int(self.client.poll(timeout))

    def flush(self, timeout: float = 60.0) -> int:
        """Wait for every outstanding delivery; returns how many are still in flight."""
        remaining = int(self.client.flush(timeout))
        # delivery failures during flush may have queued DLQ records: flush those too
        if remaining == 0 and len(self.client) > 0:
            remaining = int(self.client.flush(timeout))
        return remaining


def _key(record: Mapping[str, Any]) -> bytes | None:
    user = record.get("user_id")
    return user.encode() if isinstance(user, str) else None
