"""The Avro contract and the Confluent wire-format helpers."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any, get_type_hints

import pytest
from fastavro import schemaless_reader

from fraud_contracts.avro import (
    FRAUD_LABEL_AVSC,
    TRANSACTION_AVSC,
    Encoder,
    FraudLabel,
    NotAvroError,
    SchemaValidationError,
    Transaction,
    UnknownSchemaError,
    decode,
    encode,
    fraud_label_schema,
    is_valid,
    schema_text,
    split_header,
    transaction_schema,
    validate,
)
from fraud_simulator.simulator import SimulatedTransaction, Simulator

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sample() -> list[SimulatedTransaction]:
    return Simulator(3).day(date(2025, 2, 1))[:2_000]


@pytest.fixture(scope="module")
def record(sample: list[SimulatedTransaction]) -> Transaction:
    return sample[0].transaction


@pytest.fixture(scope="module")
def label(sample: list[SimulatedTransaction]) -> FraudLabel:
    found = next(s.label for s in sample if s.label is not None)
    assert found is not None
    return found


@pytest.mark.parametrize("path", [TRANSACTION_AVSC, FRAUD_LABEL_AVSC])
def test_schemas_document_every_field(path: Any) -> None:
    raw = json.loads(schema_text(path))
    assert raw["namespace"] == "com.fraudplatform" and raw["doc"]
    for field in raw["fields"]:
        assert len(field.get("doc", "")) > 20, field["name"]


def test_typed_dicts_match_the_schemas() -> None:
    for typed, schema in ((Transaction, transaction_schema()), (FraudLabel, fraud_label_schema())):
        assert list(get_type_hints(typed)) == [f["name"] for f in schema["fields"]]
    raw = json.loads(schema_text(TRANSACTION_AVSC))
    fields = {f["name"]: f for f in raw["fields"]}
    assert fields["event_time"]["type"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["metadata"]["default"] == {}
    assert not {"is_fraud", "scenario", "label"} & set(fields)


def test_wire_format_header(record: Transaction) -> None:
    data = encode(record, transaction_schema(), 258)
    assert data[:5] == b"\x00\x00\x00\x01\x02"
    schema_id, body = split_header(data)
    assert schema_id == 258
    body_record: Any = schemaless_reader(io.BytesIO(bytes(body)), transaction_schema(), None)
    assert body_record["user_id"] == record["user_id"]


def test_round_trip(record: Transaction, label: FraudLabel) -> None:
    schemas = {7: transaction_schema(), 8: fraud_label_schema()}
    assert decode(encode(record, schemas[7], 7), schemas) == (7, record)
    assert decode(encode(label, schemas[8], 8), schemas.get) == (8, label)


def test_round_trip_of_many_records(sample: list[SimulatedTransaction]) -> None:
    enc = Encoder(transaction_schema(), 5)
    lookup = {5: transaction_schema()}
    for s in sample:
        data = enc.encode(s.transaction)
        assert data == encode(s.transaction, transaction_schema(), 5)
        assert decode(data, lookup)[1] == s.transaction


def test_logical_types_are_honoured(record: Transaction) -> None:
    data = encode(record, transaction_schema(), 1)
    full: Any = schemaless_reader(io.BytesIO(data[5:]), transaction_schema(), None)
    assert full["event_time"] == datetime.fromtimestamp(record["event_time"] / 1000, UTC)
    assert full["transaction_id"] == uuid.UUID(record["transaction_id"])
    as_objects = dict(record)
    as_objects["event_time"] = full["event_time"]
    as_objects["transaction_id"] = full["transaction_id"]
    assert encode(as_objects, transaction_schema(), 1) == data


def test_missing_metadata_takes_the_default(record: Transaction) -> None:
    partial = {k: v for k, v in record.items() if k != "metadata"}
    validate(partial)
    assert decode(encode(partial, transaction_schema(), 1), {1: transaction_schema()})[1] == record


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x00\x00", b"\x01\x00\x00\x00\x01abc", b'{"amount": 1}', b"hello world"],
)
def test_non_avro_bytes_are_rejected(data: bytes) -> None:
    with pytest.raises(NotAvroError):
        decode(data, {1: transaction_schema()})


def test_unknown_schema_id(record: Transaction) -> None:
    data = encode(record, transaction_schema(), 99)
    with pytest.raises(UnknownSchemaError) as err:
        decode(data, {1: transaction_schema()})
    assert err.value.schema_id == 99
    with pytest.raises(UnknownSchemaError):
        decode(data, lambda _id: None)


def test_truncated_and_trailing_bodies_are_rejected(record: Transaction) -> None:
    data = encode(record, transaction_schema(), 1)
    lookup = {1: transaction_schema()}
    with pytest.raises(NotAvroError):
        decode(data[:-3], lookup)
    with pytest.raises(NotAvroError, match="trailing"):
        decode(data + b"\x00\x01", lookup)
    with pytest.raises(NotAvroError):  # a label body is not a transaction body
        decode(encode(dict(record), transaction_schema(), 1)[:5] + b"\x02", lookup)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "12.50"}, "amount"),
        ({"event_time": "2025-01-01T00:00:00Z"}, "event_time"),
        ({"is_international": "yes"}, "is_international"),
        ({"metadata": {"a": 1}}, "metadata"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_validation_names_the_field(
    record: Transaction, change: dict[str, Any], field: str
) -> None:
    bad = {**record, **change}
    with pytest.raises(SchemaValidationError) as err:
        validate(bad)
    assert err.value.field == field
    assert field in str(err.value)
    assert not is_valid(bad)
    with pytest.raises(SchemaValidationError) as enc_err:
        encode(bad, transaction_schema(), 1)
    assert enc_err.value.field == field


@pytest.mark.parametrize("missing", ["user_id", "amount", "event_time", "transaction_id"])
def test_missing_required_field(record: Transaction, missing: str) -> None:
    bad = {k: v for k, v in record.items() if k != missing}
    with pytest.raises(SchemaValidationError) as err:
        validate(bad)
    assert err.value.field == missing
    with pytest.raises(SchemaValidationError):
        encode(bad, transaction_schema(), 1)


def test_valid_records_and_labels_validate(
    sample: list[SimulatedTransaction], label: FraudLabel
) -> None:
    for s in sample:
        validate(s.transaction)
    validate(label, fraud_label_schema())
    assert is_valid(label, fraud_label_schema())
    assert not is_valid(label)  # a label is not a transaction


def test_encode_is_strict_about_types(record: Transaction) -> None:
    schema = transaction_schema()
    with pytest.raises(SchemaValidationError) as err:
        encode({**record, "amount": True}, schema, 1)
    assert err.value.field == "amount"
    with pytest.raises(SchemaValidationError) as err:
        encode({**record, "user_id": None}, schema, 1)
    assert err.value.field == "user_id"
    # ints are valid doubles and encode like the equal float
    whole = {**record, "amount": 12}
    assert encode(whole, schema, 1) == encode({**record, "amount": 12.0}, schema, 1)
