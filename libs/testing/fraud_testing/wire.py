"""Records on a test's topics in the contract's wire format (the registry's schema ids, the
Confluent header), as the producer writes them: :class:`Sender`; and one valid transaction
of the contract to vary (:func:`sample_transaction`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import Producer

from fraud_common.settings import PlatformSettings
from fraud_contracts import avro, names
from fraud_contracts.registry import SchemaRegistry

#: record schemas of other producers, valid Avro that is not a transaction: the
#: transaction's field names with other types (``RETYPED``), nothing in common (``PING``)
RETYPED: dict[str, Any] = {
    "type": "record",
    "name": "PaymentEvent",
    "namespace": "com.example.other",
    "fields": [
        {"name": "transaction_id", "type": "string"},
        {"name": "user_id", "type": "long"},
        {"name": "amount", "type": "string"},
        {"name": "event_time", "type": "string"},
    ],
}
PING: dict[str, Any] = {"type": "record", "name": "Ping", "fields": [{"name": "x", "type": "int"}]}
FOREIGN_SCHEMAS = (RETYPED, PING)


def sample_transaction(**changes: Any) -> dict[str, Any]:
    """A valid ``Transaction`` record (a card payment at a Paris café), with ``changes``."""
    record: dict[str, Any] = {
        "transaction_id": "7f1d8c55-6a4b-4e0e-9a57-2a1c2b3d4e5f",
        "event_time": 1_796_000_000_000,
        "user_id": "U000042",
        "amount": 57.3,
        "currency": "EUR",
        "merchant_id": "M00007",
        "merchant_name": "Cafe 7",
        "merchant_category": "restaurant",
        "channel": "pos",
        "country": "FR",
        "city": "Paris",
        "is_international": False,
        "device_id": "POS-M00007",
        "device_type": "pos",
        "customer_x": 10.0,
        "customer_y": 20.0,
        "terminal_x": 11.0,
        "terminal_y": 21.0,
        "metadata": {},
    }
    return record | changes


class Sender:
    """Transactions to ``kafka_topic_raw`` (keyed by card) and fraud labels to
    ``kafka_topic_labels`` of ``settings``, idempotent; raw bytes too."""

    def __init__(self, settings: PlatformSettings) -> None:
        registry = SchemaRegistry(settings.schema_registry_url)
        self.settings = settings
        self.tx = avro.Encoder(
            avro.transaction_schema(),
            registry.register(
                settings.kafka_topic_raw + names.SUBJECT_SUFFIX,
                avro.schema_text(avro.TRANSACTION_AVSC),
            ),
        )
        self.label = avro.Encoder(
            avro.fraud_label_schema(),
            registry.register(
                settings.kafka_topic_labels + names.SUBJECT_SUFFIX,
                avro.schema_text(avro.FRAUD_LABEL_AVSC),
            ),
        )
        self.producer = Producer(
            {"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True}
        )

    def transaction(self, record: Mapping[str, Any]) -> None:
        self.raw(self.tx.encode(record), str(record["user_id"]))

    def fraud_label(self, record: Mapping[str, Any]) -> None:
        self.producer.produce(self.settings.kafka_topic_labels, value=self.label.encode(record))

    def raw(self, value: bytes, key: str = "x") -> None:
        self.producer.produce(self.settings.kafka_topic_raw, key=key.encode(), value=value)
        self.producer.poll(0)

    def flush(self) -> None:
        assert self.producer.flush(60) == 0, "records not delivered"
