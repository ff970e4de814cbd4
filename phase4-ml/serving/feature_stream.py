"""``fraud-feature-stream``: every transaction and fraud label into the online state, in seconds.

A Kafka consumer group (``fraud-feature-stream``) over ``transactions.raw`` (keyed by
card: a card's transactions are in one partition, in order) and ``transactions.labels``.
Each record is decoded with the registry's schema and checked against the contract
(:mod:`fraud_contracts.quality`: the rules the bronze writer applies, so the online state
holds what silver holds); a record that is not a valid transaction or label is counted
by reason, logged with its position and skipped (the bronze writer owns the DLQ). Valid
ones are applied to Redis (:class:`~serving.feature_store.events.EventWriter`: the
layout of :mod:`fraud_contracts.online`) one batch per round trip, then the batch's
offsets are committed.

Exactly once in effect: offsets are committed after the batch is in Redis (a crash
replays at most the uncommitted batches), and applying a record twice changes nothing
(a transaction id already on its card is skipped, a fraud report keeps the earliest
time). On its first start the group reads the topics from the beginning (the history
within the raw topic's retention, which covers the features' lookback), and it does so
again whenever the online state was wiped (its marker key is gone: a Redis flush or a
lost volume): the state is rebuilt from Kafka, consistently with what gold holds.

Measured: ``fraud_feature_stream_delay_seconds`` is each record's time from its Kafka
timestamp (when it was appended) to the moment it is readable by the scoring API, the
figure of the freshness SLO; the heartbeat in Redis (``feature_stream:status``) tells the
API whether its answers are fresh. Metrics on ``FEATURE_STREAM_METRICS_PORT`` (8006).

Scaling: more instances in the group share the partitions (the state is in Redis, keyed
by card and terminal, not in the process); docs/decisions.md has the path past one Redis.
Membership is static (``group.instance.id``): an instance that crashes and comes back
within the session timeout resumes its partitions without a rebalance.
"""

from __future__ import annotations

import signal
import socket
import sys
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any, cast

import redis
import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from prometheus_client import Counter, Gauge, Histogram, start_http_server
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.exceptions import RedisError

from fraud_common.logs import configure_logging
from fraud_common.settings import KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL
from fraud_contracts import online, quality
from fraud_contracts.avro import AvroError, decode
from fraud_contracts.names import TOPIC_LABELS, TOPIC_RAW
from fraud_contracts.registry import CachedSchemaLookup, SchemaRegistry
from serving.feature_store.events import EventWriter, FraudReport, TransactionEvent

log = structlog.get_logger(__name__)

APPLIED = Counter(
    "fraud_feature_stream_records_total",
    "Records applied to the online state, by topic and outcome (added, duplicate, "
    "report_placed, report_waiting)",
    ["topic", "outcome"],
)
SKIPPED = Counter(
    "fraud_feature_stream_skipped_total",
    "Records not applied (not a valid transaction or label), by topic and reason",
    ["topic", "reason"],
)
DELAY = Histogram(
    "fraud_feature_stream_delay_seconds",
    "From a record's Kafka timestamp to its change being readable in the online state",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
)
BACKLOG = Gauge(
    "fraud_feature_stream_backlog_records", "Records of the topics not applied yet", ["topic"]
)
APPLIED_THROUGH = Gauge(
    "fraud_feature_stream_applied_through_timestamp_seconds",
    "Kafka time of the newest record applied",
)
REBUILDS = Counter(
    "fraud_feature_stream_rebuilds_total",
    "Times the online state was found wiped and rebuilt from the topics",
)
LAST_BATCH = Gauge(
    "fraud_feature_stream_last_batch_timestamp_seconds", "When the last batch was applied"
)

TRANSACTION_FIELDS = ("transaction_id", "user_id", "merchant_id", "amount", "event_time")
LABEL_FIELDS = ("transaction_id", "user_id", "is_fraud", "event_time", "reported_at")
#: marks a state that was built by this job, ``"<layout version>:<built at, ms>"``: its
#: absence means the state was wiped; another layout version, that it must be rebuilt
MARKER_KEY = "feature_stream:built"


class SkipError(Exception):
    """A record the online state does not take; ``reason`` names why (a metric label)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _plain(name: str) -> AliasChoices:
    return AliasChoices(name, f"FEATURE_STREAM_{name}")


class FeatureStreamSettings(BaseSettings):
    """``FEATURE_STREAM_*``, plus the platform-wide Kafka, registry and Redis names."""

    model_config = SettingsConfigDict(
        env_prefix="FEATURE_STREAM_", extra="ignore", populate_by_name=True
    )

    kafka_bootstrap_servers: str = Field(
        default=KAFKA_BOOTSTRAP_SERVERS, validation_alias=_plain("KAFKA_BOOTSTRAP_SERVERS")
    )
    schema_registry_url: str = Field(
        default=SCHEMA_REGISTRY_URL, validation_alias=_plain("SCHEMA_REGISTRY_URL")
    )
    topic_raw: str = Field(default=TOPIC_RAW, validation_alias=_plain("KAFKA_TOPIC_RAW"))
    topic_labels: str = Field(default=TOPIC_LABELS, validation_alias=_plain("KAFKA_TOPIC_LABELS"))
    redis_host: str = Field(default="127.0.0.1", validation_alias=_plain("REDIS_HOST"))
    redis_port: int = Field(default=6379, validation_alias=_plain("REDIS_PORT"))
    redis_password: SecretStr | None = Field(
        default=None, validation_alias=_plain("REDIS_PASSWORD")
    )
    redis_db: int = Field(default=0, ge=0, validation_alias=_plain("REDIS_DB"))
    redis_key_prefix: str = Field(default="", description="isolates a test's keys")
    group_id: str = "fraud-feature-stream"
    instance_id: str = Field(
        default_factory=lambda: f"fraud-feature-stream-{socket.gethostname()}",
        description="static group membership: a restarted instance takes its partitions "
        "back at once (each instance of the group needs its own)",
    )
    session_timeout_ms: int = Field(
        default=10_000, ge=6_000, description="a member silent this long loses its partitions"
    )
    batch_size: int = Field(default=2_000, ge=1, description="records per Redis round trip")
    poll_seconds: float = Field(default=0.05, gt=0, description="longest wait for a record")
    status_seconds: float = Field(default=1.0, gt=0, description="heartbeat interval")
    metrics_port: int = Field(default=8006, ge=0, description="Prometheus endpoint; 0 disables it")
    metrics_host: str = Field(
        default="127.0.0.1", description="its address (compose: 0.0.0.0, inside the network)"
    )


def _kafka_ms(msg: Message) -> int:
    kind, ts = msg.timestamp()
    return int(ts) if kind != 0 and ts > 0 else int(time.time() * 1000)


def _missing(record: Mapping[str, Any], fields: tuple[str, ...]) -> bool:
    return any(record.get(f) is None for f in fields)


class FeatureStream:
    """The consumer loop (see the module docstring)."""

    def __init__(self, settings: FeatureStreamSettings) -> None:
        self.settings = settings
        self.lookup = CachedSchemaLookup(SchemaRegistry(settings.schema_registry_url))
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        self.redis = redis.Redis(
            host=settings.redis_host,
            port=settings.redis_port,
            db=settings.redis_db,
            password=password,
            socket_timeout=30,
        )
        self.writer = EventWriter(self.redis, settings.redis_key_prefix)
        self.marker = settings.redis_key_prefix + MARKER_KEY
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "group.id": settings.group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "client.id": "fraud-feature-stream",
                "group.instance.id": settings.instance_id,
                "session.timeout.ms": settings.session_timeout_ms,
                "fetch.wait.max.ms": 20,
            }
        )
        self.running = True
        self.applied_through_ms = 0
        self._next_status = 0.0
        #: partitions assigned from now on start at their beginning (rebuild)
        self._rewind = False

    # ------------------------------------------------------------------ records
    def parse(self, msg: Message) -> TransactionEvent | FraudReport:
        """The record as the online state keeps it; :class:`SkipError` when it is not a
        valid transaction (``transactions.raw``) or fraud label (``transactions.labels``)."""
        raw = msg.topic() != self.settings.topic_labels
        try:
            _, record = decode(msg.value() or b"", self.lookup)
        except AvroError as err:
            raise SkipError("undecodable", str(err)) from err
        ingested_ms = _kafka_ms(msg)
        try:
            if raw:
                if _missing(record, TRANSACTION_FIELDS):
                    raise SkipError("not_a_transaction", "a record of another schema")
                problems = quality.transaction_problems(record, ingested_ms)
                if problems:
                    raise SkipError(problems[0], ",".join(problems))
                return TransactionEvent(
                    str(record["transaction_id"]),
                    str(record["user_id"]),
                    str(record["merchant_id"]),
                    int(record["event_time"]),
                    float(record["amount"]),
                )
            if _missing(record, LABEL_FIELDS):
                raise SkipError("not_a_label", "a record of another schema")
            problems = quality.label_problems(record, ingested_ms)
            if problems:
                raise SkipError(problems[0], ",".join(problems))
            if not record["is_fraud"]:
                raise SkipError("not_fraud", "a label clearing its transaction")
            return FraudReport(
                str(record["transaction_id"]), str(record["user_id"]), int(record["reported_at"])
            )
        except (TypeError, ValueError, OverflowError) as err:  # a value of another type
            raise SkipError("bad_value", str(err)) from err

    def _skipped(self, msg: Message, err: SkipError) -> None:
        kind = "labels" if msg.topic() == self.settings.topic_labels else "raw"
        SKIPPED.labels(kind, err.reason).inc()
        log.warning(
            "record skipped",
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
            reason=err.reason,
            detail=str(err)[:200],
        )

    # ------------------------------------------------------------------ the loop
    def apply(self, batch: list[Message]) -> None:
        transactions: list[TransactionEvent] = []
        reports: list[FraudReport] = []
        for msg in batch:
            try:
                parsed = self.parse(msg)
            except SkipError as err:
                self._skipped(msg, err)
                continue
            if isinstance(parsed, TransactionEvent):
                transactions.append(parsed)
            else:
                reports.append(parsed)
        written = self.writer.write(transactions, reports, int(time.time() * 1000))
        done = time.time()
        APPLIED.labels("raw", "added").inc(written.added)
        APPLIED.labels("raw", "duplicate").inc(written.duplicates)
        APPLIED.labels("labels", "report_placed").inc(written.reports_placed)
        APPLIED.labels("labels", "report_waiting").inc(written.reports_waiting)
        newest = 0
        for msg in batch:
            ts = _kafka_ms(msg)
            DELAY.observe(max(0.0, done - ts / 1000))
            newest = max(newest, ts)
        self.applied_through_ms = max(self.applied_through_ms, newest)
        APPLIED_THROUGH.set(self.applied_through_ms / 1000)
        LAST_BATCH.set(done)

    def state_wiped(self) -> bool:
        """Whether the online state lacks the marker this job sets (a first start, or a
        Redis that was flushed or lost its volume), or was written in another layout (its
        keys are then deleted here: the rebuild writes them anew)."""
        marker = cast(bytes | None, self.redis.get(self.marker))
        if marker is None:
            return True
        version = marker.decode().partition(":")[0] if b":" in marker else "1"
        if version == str(online.LAYOUT_VERSION):
            return False
        deleted = self.delete_state()
        log.warning(
            "online state of another layout: deleted, rebuilding",
            layout=version,
            current=online.LAYOUT_VERSION,
            keys=deleted,
        )
        return True

    def delete_state(self) -> int:
        """Delete every key of the online layout (under this job's prefix)."""
        prefix = self.settings.redis_key_prefix
        deleted = 0
        for name in online.PREFIXES:
            batch: list[bytes] = []
            for key in self.redis.scan_iter(match=prefix + name + "*", count=10_000):
                batch.append(key)
                if len(batch) >= 10_000:
                    deleted += cast(int, self.redis.unlink(*batch))
                    batch = []
            if batch:
                deleted += cast(int, self.redis.unlink(*batch))
        return deleted

    def mark_built(self) -> None:
        self.redis.set(self.marker, f"{online.LAYOUT_VERSION}:{int(time.time() * 1000)}")

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._rewind:  # the state must be rebuilt: every partition from its beginning
            for tp in partitions:
                tp.offset = OFFSET_BEGINNING
        consumer.assign(partitions)

    def rebuild(self) -> None:
        """Read the assigned partitions again from the beginning (the topics hold the
        lookback; applying a record twice changes nothing)."""
        self.mark_built()
        assignment = self.consumer.assignment()
        for tp in assignment:
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING))
        self._rewind = True  # partitions assigned later start from the beginning too
        REBUILDS.inc()
        log.warning("online state wiped: rebuilding from the topics", partitions=len(assignment))

    def heartbeat(self) -> None:
        now = time.monotonic()
        if now < self._next_status:
            return
        self._next_status = now + self.settings.status_seconds
        backlog = {"raw": 0, "labels": 0}
        for tp in self.consumer.assignment():
            try:
                _, high = self.consumer.get_watermark_offsets(tp, timeout=1, cached=True)
                position = self.consumer.position([tp])[0].offset
            except KafkaException as err:  # a heartbeat must not stop the job
                log.warning("no position for the backlog", partition=str(tp), error=str(err))
                continue
            kind = "labels" if tp.topic == self.settings.topic_labels else "raw"
            if position >= 0 and high >= 0:
                backlog[kind] += max(0, high - position)
        for kind, n in backlog.items():
            BACKLOG.labels(kind).set(n)
        status = online.StreamStatus(
            int(time.time() * 1000), sum(backlog.values()), self.applied_through_ms
        )
        self.writer.set_status(status, ttl_ms=60_000)
        if self.state_wiped():
            self.rebuild()

    def run(self) -> None:
        topics = [self.settings.topic_raw, self.settings.topic_labels]
        self._rewind = self.state_wiped()
        if self._rewind:
            self.mark_built()
            REBUILDS.inc()
        self.consumer.subscribe(topics, on_assign=self._on_assign)
        log.info("feature stream started", topics=topics, group=self.settings.group_id)
        try:
            while self.running:
                batch = [
                    m
                    for m in self.consumer.consume(
                        self.settings.batch_size, timeout=self.settings.poll_seconds
                    )
                    if not self._error(m)
                ]
                if batch:
                    self.apply(batch)
                    self.consumer.commit(asynchronous=True)
                self.heartbeat()
        finally:
            self.consumer.close()
            log.info("feature stream stopped")

    @staticmethod
    def _error(msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return False
        if err.code() != KafkaError._PARTITION_EOF:
            log.error("consumer error", error=str(err))
        return True

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        self.running = False


def main() -> int:
    configure_logging()
    settings = FeatureStreamSettings()
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    while True:
        stream = FeatureStream(settings)
        signal.signal(signal.SIGTERM, stream.stop)
        signal.signal(signal.SIGINT, stream.stop)
        try:
            stream.run()
            return 0
        except RedisError as err:  # Redis away: wait and resume from the last commit
            log.error("redis unavailable; resuming from the last commit", error=str(err))
            time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
