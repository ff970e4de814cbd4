"""``fraud-live-scorer``: every live transaction of ``transactions.raw`` sent to ``/predict``.

It stands in for the payment gateway, which would ask the scoring API about each card
transaction as it is authorised: a Kafka consumer (group ``fraud-live-scorer``; on its
first start it begins at the end of the topic, so only transactions produced from then
on are scored, not the history) decodes each record with the registry's schema and
posts it to the API, one request per transaction. The API logs every answer in the
``predictions`` table, so the prediction log, the metrics and the dashboards see live
traffic.

Offsets are committed after the batch they belong to was answered (at least once); a
transaction scored twice after a crash is logged once (the prediction log ignores a
second row for a transaction id). Transport errors and 5xx answers are retried with
backoff (urllib3's ``Retry``); a 4xx answer is counted and logged with the API's reason,
and the scorer goes on. It goes on past every record it can be sent, each counted by
reason (``fraud_live_scorer_rejected_total``) and logged with its offset: bytes that are
not Avro of a registered schema (``undecodable``), a valid record that is not a transaction
(another registered schema, e.g. a fraud label; a field missing or of another type:
``not_a_transaction``), a transaction with no JSON form (a NaN amount, a date past the
calendar: ``not_scorable``; the streaming job's DLQ takes those), and anything else its
processing raises (``error``). None of them is retried: a restart would meet it again.
Metrics on ``LIVE_SCORER_METRICS_PORT`` (default 8003).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

import requests
import structlog
from confluent_kafka import Consumer, KafkaError, Message
from prometheus_client import Counter, Gauge, start_http_server
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from fraud_common.logs import configure_logging
from fraud_common.settings import KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL
from fraud_contracts.avro import AvroError, decode
from fraud_contracts.names import TOPIC_RAW
from fraud_contracts.registry import CachedSchemaLookup, SchemaRegistry

log = structlog.get_logger(__name__)

SCORED = Counter(
    "fraud_live_scorer_scored_total", "Live transactions scored, by risk tier", ["risk_tier"]
)
REJECTED = Counter(
    "fraud_live_scorer_rejected_total", "Live transactions not scored, by reason", ["reason"]
)
LAST_EVENT = Gauge(
    "fraud_live_scorer_last_event_timestamp_seconds", "Event time of the newest scored transaction"
)
#: request channels the API knows (an ATM withdrawal is scored without one)
API_CHANNELS = frozenset({"pos", "ecom"})
JSON_HEADERS = {"Content-Type": "application/json"}
#: the fields of a ``transactions.raw`` record the request is made of, and their types
REQUEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "transaction_id": str,
    "user_id": str,
    "amount": (int, float),
    "merchant_id": str,
    "is_international": bool,
    "event_time": int,
    "currency": str,
}


class NotATransactionError(ValueError):
    """A decodable record that is not a transaction the API can be asked about."""


def _plain(name: str) -> AliasChoices:
    return AliasChoices(name, f"LIVE_SCORER_{name}")


class LiveScorerSettings(BaseSettings):
    """``LIVE_SCORER_*``, plus the platform-wide Kafka and registry names."""

    model_config = SettingsConfigDict(
        env_prefix="LIVE_SCORER_", extra="ignore", populate_by_name=True
    )

    kafka_bootstrap_servers: str = Field(
        default=KAFKA_BOOTSTRAP_SERVERS, validation_alias=_plain("KAFKA_BOOTSTRAP_SERVERS")
    )
    schema_registry_url: str = Field(
        default=SCHEMA_REGISTRY_URL, validation_alias=_plain("SCHEMA_REGISTRY_URL")
    )
    topic_raw: str = Field(default=TOPIC_RAW, validation_alias=_plain("KAFKA_TOPIC_RAW"))
    api_url: str = "http://127.0.0.1:8000"
    group_id: str = "fraud-live-scorer"
    batch_size: int = Field(default=500, ge=1)
    request_timeout_seconds: float = Field(default=5.0, gt=0)
    metrics_port: int = Field(default=8003, ge=0, description="Prometheus endpoint; 0 disables it")
    metrics_host: str = Field(
        default="127.0.0.1", description="its address (compose: 0.0.0.0, inside the network)"
    )


def check_fields(record: Mapping[str, Any]) -> None:
    """:class:`NotATransactionError` naming the first request field missing or mistyped."""
    for name, kind in REQUEST_FIELDS.items():
        value = record.get(name)
        if value is None:
            raise NotATransactionError(f"{name}: missing")
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise NotATransactionError(f"{name}: {type(value).__name__} {value!r:.60}")


def request_body(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``/predict`` body of one ``transactions.raw`` record (see its Avro schema)."""
    check_fields(record)
    event_time = dt.datetime.fromtimestamp(int(record["event_time"]) / 1000, tz=dt.UTC)
    body: dict[str, Any] = {
        "transaction_id": record["transaction_id"],
        "user_id": record["user_id"],
        "amount": record["amount"],
        "merchant_id": record["merchant_id"],
        "is_international": record["is_international"],
        "event_time": event_time.isoformat(),
        "currency": record["currency"],
    }
    if record.get("channel") in API_CHANNELS:
        body["channel"] = record["channel"]
    return body


def request_payload(record: Mapping[str, Any]) -> bytes:
    """The JSON ``/predict`` body of a record; ``ValueError`` when it has none.

    A record can be valid Avro and still not be a transaction JSON can carry: a NaN or
    infinite amount, an event time outside the calendar. The streaming job sends such a
    record to the DLQ; the scorer counts it and goes on (it must not stop the live stream).
    """
    try:
        body = request_body(record)
    except NotATransactionError:
        raise
    except (OverflowError, OSError, ValueError) as err:  # fromtimestamp(): no such date
        raise ValueError(f"event_time {record.get('event_time')!r}: {err}") from err
    return json.dumps(body, allow_nan=False).encode()


def http_session(retries: int = 5) -> requests.Session:
    """Keep-alive session; connection errors and 502/503/504 retried with backoff."""
    session = requests.Session()
    retry = Retry(
        total=retries,
        backoff_factor=0.5,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        raise_on_status=False,
    )
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


class LiveScorer:
    def __init__(self, settings: LiveScorerSettings) -> None:
        self.settings = settings
        self.lookup = CachedSchemaLookup(SchemaRegistry(settings.schema_registry_url))
        self.http = http_session()
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "group.id": settings.group_id,
                "auto.offset.reset": "latest",
                "enable.auto.commit": False,
                "client.id": "fraud-live-scorer",
            }
        )
        self.running = True

    def score(self, msg: Message) -> None:
        try:
            _, record = decode(msg.value() or b"", self.lookup)
        except AvroError as err:  # the streaming job sends it to the DLQ; nothing to score
            REJECTED.labels(reason="undecodable").inc()
            log.warning("record not decodable", offset=msg.offset(), error=str(err))
            return
        try:
            payload = request_payload(record)
        except ValueError as err:  # e.g. a NaN amount: JSON has no such number
            reason = (
                "not_a_transaction" if isinstance(err, NotATransactionError) else "not_scorable"
            )
            REJECTED.labels(reason=reason).inc()
            log.warning(
                "record cannot be scored",
                transaction_id=record.get("transaction_id"),
                offset=msg.offset(),
                error=str(err),
            )
            return
        resp = self.http.post(
            f"{self.settings.api_url}/predict",
            data=payload,
            headers=JSON_HEADERS,
            timeout=self.settings.request_timeout_seconds,
        )
        if resp.status_code >= 500:
            resp.raise_for_status()  # retries exhausted: stop without committing the batch
        if resp.status_code >= 400:
            REJECTED.labels(reason=f"http_{resp.status_code}").inc()
            log.warning(
                "transaction rejected by the API",
                transaction_id=record.get("transaction_id"),
                status=resp.status_code,
                answer=resp.text[:300],
            )
            return
        SCORED.labels(risk_tier=resp.json()["risk_tier"]).inc()
        LAST_EVENT.set(int(record["event_time"]) / 1000)

    def score_or_skip(self, msg: Message) -> None:
        """:meth:`score`, and past anything unforeseen its record raises: counted, logged
        with its offset, skipped (the API being unreachable is not the record's fault)."""
        try:
            self.score(msg)
        except requests.RequestException:
            raise
        except Exception:
            REJECTED.labels(reason="error").inc()
            log.exception("record skipped: its processing failed", offset=msg.offset())

    def run(self) -> None:
        self.consumer.subscribe([self.settings.topic_raw])
        log.info("live scorer started", topic=self.settings.topic_raw, api=self.settings.api_url)
        try:
            while self.running:
                batch = self.consumer.consume(self.settings.batch_size, timeout=1.0)
                for msg in batch:
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.error("consumer error", error=str(err))
                        continue
                    self.score_or_skip(msg)
                if batch:
                    self.consumer.commit(asynchronous=False)
        finally:
            self.consumer.close()
            log.info("live scorer stopped")

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        self.running = False


def main() -> int:
    configure_logging()
    settings = LiveScorerSettings()
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    scorer = LiveScorer(settings)
    signal.signal(signal.SIGTERM, scorer.stop)
    signal.signal(signal.SIGINT, scorer.stop)
    while True:
        try:
            scorer.run()
            return 0
        except requests.RequestException as err:  # the API stayed down through the retries
            log.error("scoring API unreachable; resuming from the last commit", error=str(err))
            time.sleep(5)
            scorer = LiveScorer(settings)
            signal.signal(signal.SIGTERM, scorer.stop)


if __name__ == "__main__":
    sys.exit(main())
