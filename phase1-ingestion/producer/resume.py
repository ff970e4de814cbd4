"""Where the history's live stream resumes, read from the platform's own topics.

``--traffic history`` continues the simulator's day process (the history's): a live
producer started after a backfill, a crash or a stop must neither repeat nor skip what
was sent. Kafka is the record of what was sent, so nothing else is kept:

- :func:`newest_transaction`: the latest ``event_time`` of the history's own transactions
  on the transactions topic (the producer sends in event-time order, so the stream goes
  on just after it). Other traffic sent since (a uniform load, another seed's stream, a
  test's records) says nothing about where the history stopped: each partition is read
  backwards from its end, in growing steps, until one of the history's transactions;
- :func:`labels_sent`: the transaction ids of the fraud labels on the labels topic since
  an instant (found by Kafka's time index), so that the labels of already-sent frauds
  that are not due yet (the backfill holds back labels reported after the history's end;
  a crashed producer loses its pending ones) are sent once, when due, and never twice.

Records that do not decode (malformed variants sent to the raw topic on purpose, unknown
schemas) or break the contract's rules are passed over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import structlog
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from fraud_contracts.avro import AvroError, SchemaLookup, decode
from producer.malformed import quality_problems
from producer.settings import ProducerSettings

log = structlog.get_logger("producer")

#: records read back from the end of each partition of the transactions topic, first ...
TAIL = 200
#: ... then 4 times more at each step back, at most this many records in all
MAX_SCAN = 2_000_000
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


def _read(
    consumer: Consumer, starts: list[TopicPartition], until: Mapping[int, int] | None = None
) -> Iterator[bytes]:
    """Every record from ``starts`` to the end offsets as of now (or to ``until``, a
    partition's end offset, exclusive)."""
    ends: dict[int, int] = {}
    todo: list[TopicPartition] = []
    for tp in starts:
        low, high = consumer.get_watermark_offsets(tp, timeout=_TIMEOUT_S)
        if until is not None and tp.partition in until:
            high = min(high, until[tp.partition])
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
    settings: ProducerSettings,
    lookup: SchemaLookup,
    now_ms: int,
    ours: Callable[[int, str], bool],
) -> tuple[int, str] | None:
    """``(event_time, transaction_id)`` of the latest valid transaction on the raw topic
    that ``ours(event_time, transaction_id)`` recognises as the history's, if any. A record
    that breaks the contract (e.g. dated in the future, which a drill sends on purpose)
    says nothing about what was sent, nor does another producer's traffic.

    Each partition is read backwards from its end: ``TAIL`` records, then 4 times more at
    each step, until a step holds one of the history's transactions (its newest one there
    is the partition's newest: the history is sent in event-time order), at most
    ``MAX_SCAN`` records in all."""
    consumer = _consumer(settings)
    try:
        topic = settings.topic_raw
        newest: tuple[int, str] | None = None
        budget = MAX_SCAN
        for p in _partitions(consumer, topic):
            low, end = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=_TIMEOUT_S)
            step = TAIL
            while end > low and budget > 0:
                start = max(low, end - min(step, budget))
                records = _read(consumer, [TopicPartition(topic, p, start)], {p: end})
                found = _newest_of_ours(records, lookup, now_ms, ours)
                budget -= end - start
                if found is not None:
                    newest = found if newest is None or found[0] > newest[0] else newest
                    break
                end, step = start, step * 4
        if newest is None and budget <= 0:
            log.warning("none of the history's transactions in the raw topic's tail", read=MAX_SCAN)
        return newest
    finally:
        consumer.close()


def _newest_of_ours(
    values: Iterator[bytes], lookup: SchemaLookup, now_ms: int, ours: Callable[[int, str], bool]
) -> tuple[int, str] | None:
    candidates: list[tuple[int, str]] = []
    for value in values:
        try:
            _, record = decode(value, lookup)
        except AvroError:
            continue
        t, tx = record.get("event_time"), record.get("transaction_id")
        if isinstance(t, int) and isinstance(tx, str) and not quality_problems(record, now_ms):
            candidates.append((t, tx))
    for t, tx in sorted(candidates, reverse=True):
        if ours(t, tx):
            return t, tx
    return None


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
