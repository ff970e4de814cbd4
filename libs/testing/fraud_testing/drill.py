"""The bad-data drill (issue 17): realistic bad records for a platform that holds history.

:func:`plan` builds one set of records of each kind the platform must survive, each with
what it must become; :func:`send` writes them to the platform's topics in the contract's
wire format (schema registry ids, as the producer does), recording where each landed in
Kafka, so that a test can follow every record to bronze, the DLQ or a quarantine:

================================  ==========================================================
record                            becomes
================================  ==========================================================
transaction in the future, and     DLQ ``event_time_in_future``
its label
amount at the double's limits      DLQ ``amount_out_of_range`` (max and min positive double)
its label (a chargeback the        bronze, then ``quarantine_orphan_labels``
network sent for it anyway)        (``transaction_not_found``)
transaction at a terminal missing  bronze, silver with default enrichment, features, and
from the merchant reference        ``quarantine_unknown_merchants``
                                   (``merchant_not_in_reference``)
events late by days                bronze, silver, features (incremental runs read bronze by
                                   ingestion time)
transaction older than the 30-day  bronze, silver, features; its label joins
windows, and its label
two labels for one transaction     both in bronze; the first joins, the second in
                                   ``quarantine_duplicate_labels`` (``duplicate_report``)
late chargeback for the oldest     bronze; the history row's training label becomes fraud
unlabelled history transaction
================================  ==========================================================

The drill's new transactions belong to users and a terminal of their own, so the
features of the history's rows (which other tests recompute) do not change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer

from fraud_common.settings import PlatformSettings
from fraud_contracts import avro, names
from fraud_contracts.features import to_ms
from fraud_contracts.registry import SchemaRegistry

TRANSACTIONS = "transactions"
LABELS = "fraud_labels"
#: largest and smallest positive finite doubles: an amount "at the schema's limits"
MAX_DOUBLE = 1.7976931348623157e308
MIN_DOUBLE = 5e-324
DLQ = "dlq"
BRONZE = "bronze"


@dataclass(frozen=True)
class Expected:
    """Where a record must end: ``bronze`` or ``dlq`` (with the DLQ ``reason``), and the
    quarantine table and reason it must appear in, if any."""

    layer: str
    reason: str = ""
    quarantine: str = ""
    quarantine_reason: str = ""


@dataclass(frozen=True)
class Record:
    name: str
    table: str  # bronze table of the record's topic: transactions or fraud_labels
    value: dict[str, Any]
    expected: Expected

    @property
    def transaction_id(self) -> str:
        return str(self.value["transaction_id"])


@dataclass(frozen=True)
class Sent:
    record: Record
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Plan:
    tag: str
    now: datetime
    records: list[Record]
    users: tuple[str, ...]
    terminal: str
    #: the history transaction the late chargeback is for
    history_transaction: str
    extra: dict[str, Any] = field(default_factory=dict)

    def named(self, name: str) -> Record:
        return next(r for r in self.records if r.name == name)


def _transaction(template: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    fields = [f["name"] for f in avro.transaction_schema()["fields"]]
    record = {k: template[k] for k in fields if k in template}
    record.update(changes)
    record["metadata"] = dict(record.get("metadata") or {})
    return record


def _label(tx: Mapping[str, Any], reported_at: datetime, scenario: str) -> dict[str, Any]:
    return {
        "transaction_id": tx["transaction_id"],
        "user_id": tx["user_id"],
        "is_fraud": True,
        "scenario": scenario,
        "event_time": tx["event_time"],
        "reported_at": to_ms(reported_at),
    }


def plan(
    template: Mapping[str, Any],
    history_transaction: Mapping[str, Any],
    now: datetime | None = None,
    tag: str | None = None,
) -> Plan:
    """The drill's records. ``template`` is one well-formed transaction (a dict of the
    contract's fields, ``event_time`` in ms) whose other fields the new transactions copy;
    ``history_transaction`` is an unlabelled transaction already in bronze."""
    now = now or datetime.now(UTC)
    tag = tag or uuid.uuid4().hex[:8]
    digits = int(tag, 16) % 100_000
    users = (f"U9{digits:05d}", f"U8{digits:05d}")
    terminal = f"M9{digits:05d}"  # the simulator's are M + 5 digits

    def tx_id(name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fraud-drill/{tag}/{name}"))

    def tx(name: str, user: str, at: datetime, **changes: Any) -> dict[str, Any]:
        return _transaction(
            template,
            transaction_id=tx_id(name),
            user_id=user,
            event_time=to_ms(at),
            merchant_id=terminal,
            merchant_name="Drill Kiosk",
            merchant_category="retail",
            **changes,
        )

    accepted = Expected(BRONZE, quarantine="quarantine_unknown_merchants",
                        quarantine_reason="merchant_not_in_reference")  # fmt: skip
    orphan = Expected(BRONZE, quarantine="quarantine_orphan_labels",
                      quarantine_reason="transaction_not_found")  # fmt: skip
    records: list[Record] = []

    def add(name: str, table: str, value: dict[str, Any], expected: Expected) -> dict[str, Any]:
        records.append(Record(name, table, value, expected))
        return value

    u1, u2 = users
    # events late by days (the same user three times: the windows see each other)
    late = [
        add(f"late_{i}", TRANSACTIONS, tx(f"late_{i}", u1, now - timedelta(days=d)), accepted)
        for i, d in enumerate((3.0, 2.5, 2.0))
    ]
    # older than the 30-day windows, and its label
    old = add("old_45d", TRANSACTIONS, tx("old_45d", u2, now - timedelta(days=45)), accepted)
    add("old_45d_label", LABELS, _label(old, now, "compromised_customer"), Expected(BRONZE))
    # a recent one at the same terminal, reported twice
    twice = add("twice", TRANSACTIONS, tx("twice", u2, now - timedelta(minutes=30)), accepted)
    add("twice_label_1", LABELS, _label(twice, now - timedelta(minutes=5), "card_testing"),
        Expected(BRONZE))  # fmt: skip
    add("twice_label_2", LABELS, _label(twice, now, "card_testing"),
        Expected(BRONZE, quarantine="quarantine_duplicate_labels",
                 quarantine_reason="duplicate_report"))  # fmt: skip
    # in the future: rejected, and so is a label dated in the future
    for i, hours in enumerate((26.0, 50.0)):
        future = add(
            f"future_{i}",
            TRANSACTIONS,
            tx(f"future_{i}", u1, now + timedelta(hours=hours)),
            Expected(DLQ, "event_time_in_future"),
        )
        add(f"future_{i}_label", LABELS, _label(future, now, "account_takeover"),
            Expected(DLQ, "event_time_in_future"))  # fmt: skip
    # amounts at the limits of a double: finite, positive, and absurd; rejected, with the
    # chargebacks the card network sends for them anyway (it does not know)
    for name, amount in (("amount_max", MAX_DOUBLE), ("amount_min", MIN_DOUBLE)):
        bad = add(name, TRANSACTIONS, tx(name, u2, now - timedelta(minutes=20), amount=amount),
                  Expected(DLQ, "amount_out_of_range"))  # fmt: skip
        add(f"{name}_label", LABELS, _label(bad, now, "high_amount"), orphan)
    # a late chargeback for the oldest unlabelled transaction of the history
    add("history_label", LABELS, _label(history_transaction, now, "compromised_terminal"),
        Expected(BRONZE))  # fmt: skip
    return Plan(
        tag,
        now,
        records,
        users,
        terminal,
        str(history_transaction["transaction_id"]),
        {"late": [r["transaction_id"] for r in late]},
    )


def send(settings: PlatformSettings, records: Sequence[Record]) -> list[Sent]:
    """Write the records to the raw and labels topics (acks=all, idempotent) with the
    registry's schema ids; returns where each landed."""
    registry = SchemaRegistry(settings.schema_registry_url)
    topics = {TRANSACTIONS: settings.kafka_topic_raw, LABELS: settings.kafka_topic_labels}
    schemas = {TRANSACTIONS: avro.TRANSACTION_AVSC, LABELS: avro.FRAUD_LABEL_AVSC}
    encoders = {
        table: avro.Encoder(
            avro.load_schema(path),
            registry.register(topics[table] + names.SUBJECT_SUFFIX, avro.schema_text(path)),
        )
        for table, path in schemas.items()
    }
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
        }
    )
    sent: list[Sent] = []
    errors: list[str] = []

    def on_delivery(record: Record) -> Callable[[Any, Any], None]:
        def done(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(f"{record.name}: {err}")
            else:
                sent.append(Sent(record, msg.topic(), msg.partition(), msg.offset()))

        return done

    for record in records:
        producer.produce(
            topics[record.table],
            key=str(record.value["user_id"]).encode(),
            value=encoders[record.table].encode(record.value),
            on_delivery=on_delivery(record),
        )
    left = producer.flush(60)
    if errors or left:
        raise RuntimeError(f"drill records not delivered: {errors or left}")
    return sent
