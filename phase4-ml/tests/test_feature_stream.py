"""The streaming feature job takes what the contract accepts and survives every other record.

Wire-format records (the contract's encoder) fed to :meth:`FeatureStream.parse` one by
one: a valid transaction and a valid fraud label become what the online state keeps;
every other record (undecodable bytes, an unknown schema id, a record of the other
registered schema on each topic, records of random foreign schemas, values the quality
rules refuse, a label clearing its transaction) is refused with its reason, and nothing
else is ever raised.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastavro import parse_schema
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_contracts import avro
from fraud_contracts.avro import encode, fraud_label_schema, transaction_schema
from fraud_testing.wire import sample_transaction
from serving.feature_store import FraudReport, TransactionEvent
from serving.feature_stream import FeatureStream, FeatureStreamSettings, SkipError

pytestmark = pytest.mark.unit

TX_ID, LABEL_ID, FOREIGN_ID = 7, 8, 9
NOW_MS = 1_796_000_100_000
RAW, LABELS = "transactions.raw", "transactions.labels"


def transaction(**changes: Any) -> dict[str, Any]:
    return sample_transaction(**changes)


def label(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "transaction_id": "7f1d8c55-6a4b-4e0e-9a57-2a1c2b3d4e5f",
        "user_id": "U000042",
        "is_fraud": True,
        "scenario": "card_testing",
        "event_time": 1_796_000_000_000,
        "reported_at": 1_796_000_050_000,
    }
    return record | changes


class FakeMessage:
    def __init__(self, topic: str, value: bytes, offset: int = 0) -> None:
        self._topic, self._value, self._offset = topic, value, offset

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, NOW_MS)  # TIMESTAMP_CREATE_TIME


FOREIGN = parse_schema(
    {
        "type": "record",
        "name": "Refund",
        "namespace": "com.elsewhere",
        "fields": [
            {"name": "refund_id", "type": "string"},
            {"name": "amount", "type": ["null", "double"]},
            {"name": "user_id", "type": ["null", "string"]},
        ],
    }
)


def stream() -> FeatureStream:
    """A job without its Kafka consumer and Redis (``parse`` is per message)."""
    job = object.__new__(FeatureStream)
    job.settings = FeatureStreamSettings(metrics_port=0)
    job.lookup = {  # type: ignore[assignment]
        TX_ID: transaction_schema(),
        LABEL_ID: fraud_label_schema(),
        FOREIGN_ID: FOREIGN,
    }
    return job


def reason(topic: str, value: bytes) -> str:
    with pytest.raises(SkipError) as caught:
        stream().parse(FakeMessage(topic, value))  # type: ignore[arg-type]
    return caught.value.reason


def test_a_valid_transaction_and_label_become_events() -> None:
    job = stream()
    tx = job.parse(FakeMessage(RAW, encode(transaction(), transaction_schema(), TX_ID)))  # type: ignore[arg-type]
    assert tx == TransactionEvent(
        "7f1d8c55-6a4b-4e0e-9a57-2a1c2b3d4e5f", "U000042", "M00007", 1_796_000_000_000, 57.3
    )
    report = job.parse(FakeMessage(LABELS, encode(label(), fraud_label_schema(), LABEL_ID)))  # type: ignore[arg-type]
    assert report == FraudReport(
        "7f1d8c55-6a4b-4e0e-9a57-2a1c2b3d4e5f", "U000042", 1_796_000_050_000
    )


@pytest.mark.parametrize(
    ("topic", "value", "why"),
    [
        (RAW, b'{"not": "avro"}', "undecodable"),
        (RAW, b"\x00\x00\x0f\x42\x40" + b"\x02", "undecodable"),  # an id nobody registered
        (RAW, encode(label(), fraud_label_schema(), LABEL_ID), "not_a_transaction"),
        (LABELS, encode(transaction(), transaction_schema(), TX_ID), "not_a_label"),
        (
            RAW,
            encode({"refund_id": "r", "amount": 1.0, "user_id": "U1"}, FOREIGN, FOREIGN_ID),
            "not_a_transaction",
        ),
        (
            LABELS,
            encode({"refund_id": "r", "amount": None, "user_id": None}, FOREIGN, FOREIGN_ID),
            "not_a_label",
        ),
        (
            RAW,
            encode(transaction(amount=math.nan), transaction_schema(), TX_ID),
            "amount_not_positive_finite",
        ),
        (
            RAW,
            encode(transaction(amount=-1.0), transaction_schema(), TX_ID),
            "amount_not_positive_finite",
        ),
        (
            RAW,
            encode(transaction(amount=1e300), transaction_schema(), TX_ID),
            "amount_out_of_range",
        ),
        (RAW, encode(transaction(user_id=""), transaction_schema(), TX_ID), "user_id_empty"),
        (RAW, encode(transaction(currency="XYZ"), transaction_schema(), TX_ID), "currency_unknown"),
        (
            RAW,
            encode(transaction(event_time=4_102_444_800_000), transaction_schema(), TX_ID),
            "event_time_in_future",
        ),
        (RAW, encode(transaction(event_time=0), transaction_schema(), TX_ID), "event_time_too_old"),
        (
            LABELS,
            encode(label(event_time=4_102_444_800_000), fraud_label_schema(), LABEL_ID),
            "event_time_in_future",
        ),
        (LABELS, encode(label(is_fraud=False), fraud_label_schema(), LABEL_ID), "not_fraud"),
    ],
    ids=[
        "not-avro",
        "unknown-schema-id",
        "label-on-raw",
        "transaction-on-labels",
        "foreign-on-raw",
        "foreign-on-labels",
        "nan-amount",
        "negative-amount",
        "huge-amount",
        "empty-user",
        "unknown-currency",
        "future-transaction",
        "ancient-transaction",
        "future-label",
        "cleared-label",
    ],
)
def test_every_other_record_is_refused_with_its_reason(topic: str, value: bytes, why: str) -> None:
    assert reason(topic, value) == why


@settings(max_examples=300, deadline=None)
@given(
    topic=st.sampled_from([RAW, LABELS]),
    refund_id=st.text(max_size=40),
    amount=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    user_id=st.none() | st.text(max_size=20),
    junk=st.binary(max_size=64),
)
def test_random_foreign_records_and_bytes_only_ever_skip(
    topic: str, refund_id: str, amount: float | None, user_id: str | None, junk: bytes
) -> None:
    record = {"refund_id": refund_id, "amount": amount, "user_id": user_id}
    for value in (encode(record, FOREIGN, FOREIGN_ID), junk, avro.encode(record, FOREIGN, TX_ID)):
        try:
            stream().parse(FakeMessage(topic, value))  # type: ignore[arg-type]
        except SkipError:
            continue
        raise AssertionError(f"{value!r} was taken on {topic}")
