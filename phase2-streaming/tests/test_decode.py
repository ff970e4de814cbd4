"""Decoding the Confluent wire format by schema id, with schema resolution (no engine)."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from bronze_helpers import transaction_v2_text
from fastavro import parse_schema

from fraud_contracts.avro import TRANSACTION_AVSC, Encoder, schema_text, transaction_schema
from fraud_simulator.simulator import Simulator
from spark_jobs.avro_types import field_types
from spark_jobs.decode import (
    NOT_AVRO,
    PASS_THROUGH,
    UNDECODABLE,
    UNKNOWN_SCHEMA_ID,
    Decoder,
    decode_batch,
    decoded_schema,
)

pytestmark = pytest.mark.unit

V1, V2 = 11, 12
READER = schema_text(TRANSACTION_AVSC)
LABEL_ID = 13
LABEL_LIKE = json.dumps(
    {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "string"}]}
)


def fetch(schema_id: int) -> str | None:
    return {V1: READER, V2: transaction_v2_text(), LABEL_ID: LABEL_LIKE}.get(schema_id)


@pytest.fixture(scope="module")
def record() -> dict[str, object]:
    return dict(Simulator(3).live_batch(datetime(2026, 3, 1, tzinfo=UTC), 1)[0].transaction)


def test_v1_and_v2_decode_into_the_reader_schema(record: dict[str, object]) -> None:
    decoder = Decoder(fetch, READER)
    v1 = Encoder(transaction_schema(), V1).encode(record)
    v2 = Encoder(parse_schema(json.loads(transaction_v2_text())), V2).encode(
        {**record, "card_id": "C1"}
    )
    out1, out2 = decoder.decode(v1), decoder.decode(v2)
    assert out1.error is None and out2.error is None
    assert out1.record == out2.record == record
    assert (out1.schema_id, out2.schema_id) == (V1, V2)


def test_bad_values_get_a_reason_and_never_raise(record: dict[str, object]) -> None:
    decoder = Decoder(fetch, READER)
    good = Encoder(transaction_schema(), V1).encode(record)
    cases = {
        b"": NOT_AVRO,
        b'{"a": 1}': NOT_AVRO,
        b"\x01" + good[1:]: NOT_AVRO,
        b"\x00" + struct.pack(">I", 999) + good[5:]: UNKNOWN_SCHEMA_ID,
        good[:20]: UNDECODABLE,
        good + b"\x02": UNDECODABLE,
        b"\x00" + struct.pack(">I", LABEL_ID) + good[5:]: UNDECODABLE,
    }
    for value, reason in cases.items():
        out = decoder.decode(value)
        assert (out.error, out.record) == (reason, None), value
    assert decoder.decode(None).error == NOT_AVRO


def test_decode_batch_builds_the_declared_arrow_columns(record: dict[str, object]) -> None:
    decoder = Decoder(fetch, READER)
    good = Encoder(transaction_schema(), V1).encode(record)
    n = 3
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([good, b"junk", good], pa.binary()),
            pa.array(["t"] * n),
            pa.array([0] * n, pa.int32()),
            pa.array([1, 2, 3], pa.int64()),
            pa.array([0] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array([0] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        ],
        names=[name for name, _ in PASS_THROUGH],
    )
    out = decode_batch(decoder, field_types(READER), batch)
    assert out.schema.names == decoded_schema(READER).fieldNames()
    rows = out.to_pylist()
    assert rows[0]["transaction_id"] == record["transaction_id"]
    assert rows[0]["event_time"].timestamp() * 1000 == record["event_time"]
    assert rows[0]["metadata"] == []
    assert rows[1]["decode_error"] == NOT_AVRO and rows[1]["transaction_id"] is None
    assert rows[2]["kafka_offset"] == 3


def test_records_of_other_registered_schemas_are_undecodable_never_raised() -> None:
    """Valid Avro of the platform's other schema (a fraud label sent to the raw topic) and
    of foreign schemas (the transaction's field names with other types, nothing in common):
    each is an error with a reason (the DLQ takes it), random records included."""
    from fastavro.utils import generate_many

    from fraud_contracts.avro import FRAUD_LABEL_AVSC, fraud_label_schema
    from fraud_testing.wire import FOREIGN_SCHEMAS

    foreign = {22 + i: schema for i, schema in enumerate(FOREIGN_SCHEMAS)}
    texts = {21: schema_text(FRAUD_LABEL_AVSC), LABEL_ID: LABEL_LIKE}
    texts.update({schema_id: json.dumps(schema) for schema_id, schema in foreign.items()})
    decoder = Decoder({V1: READER, **texts}.get, READER)
    schemas = {21: fraud_label_schema(), LABEL_ID: parse_schema(json.loads(LABEL_LIKE))}
    schemas.update({schema_id: parse_schema(schema) for schema_id, schema in foreign.items()})
    for schema_id, schema in schemas.items():
        for record in generate_many(schema, 30):
            out = decoder.decode(Encoder(schema, schema_id).encode(record))
            assert out.record is None and out.error == UNDECODABLE, (schema_id, record)


def test_random_transactions_decode_or_get_a_reason() -> None:
    from fastavro.utils import generate_many

    decoder = Decoder(fetch, READER)
    encoder = Encoder(transaction_schema(), V1)
    for record in generate_many(transaction_schema(), 200):
        out = decoder.decode(encoder.encode(record))
        assert (out.error is None) == (out.record is not None)
