"""Where the history's live stream resumes, read from the platform's own topics.

``--traffic history`` continues the simulator's day process (the history's): a live
producer started after a backfill, a crash or a stop must neither repeat nor skip what
was sent. Kafka is the record of what was sent, so nothing else is kept:

- :func:`newest_transaction`: the latest ``event_time`` among the last records of every
  partition of the transactions topic (the producer sends in event-time order, so the
  stream goes on just after it);
- :func:`labels_sent`: the transaction ids of the fraud labels on the labels topic since
  an instant (found by Kafka's time index), so that the labels of already-sent frauds
  that are not due yet (the backfill holds back labels reported after the history's end;
  a crashed producer loses its pending ones) are sent once, when due, and never twice.

Records that do not decode (malformed variants sent to the raw topic on purpose, unknown
schemas) or break the contract's rules are passed over.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from fraud_contracts.avro import AvroError, SchemaLookup, decode
from producer.malformed import quality_problems
from producer.settings import ProducerSettings

log = structlog.get_logger("producer")

#: records read back from the end of each partition of the transactions topic
TAIL = 50
_TIMEOUT_S = 10.0


def _consumer(settings: ProducerSettings) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": "fraud-producer-resume",  # never commits: reads by assignment
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )


def _read(consumer: Consumer, starts: list[TopicPartition]) -> Iterator[bytes]:
    """Every record from ``starts`` to the end offsets as of now."""
    ends: dict[int, int] = {}
    todo: list[TopicPartition] = []
    for tp in starts:
        low, high = consumer.get_watermark_offsets(tp, timeout=_TIMEOUT_S)
        offset = max(tp.offset, low) if tp.offset >= 0 else high
        if offset < high:
            ends[tp.partition] = high
            todo.append(TopicPartition(tp.topic, tp.partition, offset))
    if not todo:
        return
    consumer.assign(todo)
    while ends:
        msg = consumer.poll(_TIMEOUT_S)
        if msg is None:
            raise TimeoutError(f"no record within {_TIMEOUT_S:.0f} s reading {todo[0].topic}")
        partition, offset = msg.partition(), msg.offset()
        if msg.error() is None:
            value = msg.value()
            if value is not None:
                yield value
        if partition in ends and (msg.error() is not None or offset + 1 >= ends[partition]):
            del ends[partition]


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return []
    return sorted(metadata.partitions)


def newest_transaction(
    settings: ProducerSettings, lookup: SchemaLookup, now_ms: int
) -> tuple[int, str] | None:
    """``(event_time, transaction_id)`` of the latest valid transaction on the raw topic,
    if any: a record that breaks the contract (e.g. dated in the future, which a drill
    sends on purpose) says nothing about what was sent."""
    consumer = _consumer(settings)
    try:
        topic = settings.topic_raw
        starts = []
        for p in _partitions(consumer, topic):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=_TIMEOUT_S)
            starts.append(TopicPartition(topic, p, max(high - TAIL, 0)))
        newest: tuple[int, str] | None = None
        for value in _read(consumer, starts):
            try:
                _, record = decode(value, lookup)
            except AvroError:
                continue
            t, tx = record.get("event_time"), record.get("transaction_id")
            if quality_problems(record, now_ms):
                continue
            if isinstance(t, int) and isinstance(tx, str) and (newest is None or t > newest[0]):
                newest = (t, tx)
        return newest
    finally:
        consumer.close()


def labels_sent(settings: ProducerSettings, lookup: SchemaLookup, since_ms: int) -> set[str]:
    """Transaction ids of the labels appended to the labels topic since ``since_ms``."""
    consumer = _consumer(settings)
    try:
        topic = settings.topic_labels
        wanted = [TopicPartition(topic, p, since_ms) for p in _partitions(consumer, topic)]
        starts = consumer.offsets_for_times(wanted, timeout=_TIMEOUT_S) if wanted else []
        # a partition with nothing since then answers -1 (its end): nothing to read there
        starts = [
            tp if tp.offset >= 0 else TopicPartition(topic, tp.partition, OFFSET_END)
            for tp in starts
        ]
        sent: set[str] = set()
        for value in _read(consumer, starts):
            try:
                _, record = decode(value, lookup)
            except AvroError:
                continue
            tx = record.get("transaction_id")
            if isinstance(tx, str):
                sent.add(tx)
        return sent
    finally:
        consumer.close()
