"""The columnar BatchEncoder: byte-identical to avro.Encoder, and as strict."""

from __future__ import annotations

import copy
import enum
import io
import json
import math
import struct
import uuid
from collections import UserString
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud_contracts.avro import (
    TRANSACTION_AVSC,
    Encoder,
    ParsedSchema,
    SchemaValidationError,
    _compiled,
    _parse,
    decode,
    transaction_schema,
)
from fraud_simulator.simulator import Simulator
from producer import batch_encode
from producer.batch_encode import BatchEncoder, UnsupportedSchemaError

pytestmark = pytest.mark.unit

SCHEMA_ID = 42
INT64 = st.integers(-(2**63), 2**63 - 1)
FIELDS = [f["name"] for f in transaction_schema()["fields"]]
HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def simulated() -> list[dict[str, Any]]:
    """At least 50,000 simulator transactions (6 days)."""
    rows = [dict(s.transaction) for s in Simulator(5).backfill(6, date(2025, 3, 1))]
    assert len(rows) >= 50_000
    return rows


@pytest.fixture(scope="module")
def expected(simulated: list[dict[str, Any]]) -> list[bytes]:
    encoder = Encoder(transaction_schema(), SCHEMA_ID)
    return [encoder.encode(r) for r in simulated]


def _batches(encoder: BatchEncoder, rows: Sequence[Mapping[str, Any]], size: int) -> list[bytes]:
    out: list[bytes] = []
    for i in range(0, len(rows), size):
        out.extend(encoder.encode_many(rows[i : i + size]))
    return out


def _fastavro(schema: ParsedSchema, record: Mapping[str, Any]) -> bytes:
    """Reference for schemas that Encoder refuses: header + fastavro's own writer."""
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, SCHEMA_ID))
    schemaless_writer(buf, _compiled(schema).plain, record, strict_allow_default=True)
    return buf.getvalue()


def _v2_schema() -> ParsedSchema:
    """Transaction plus optional fields added the backward-compatible way."""
    raw = json.loads(TRANSACTION_AVSC.read_text(encoding="utf-8"))
    raw["fields"].append({"name": "card_id", "type": ["null", "string"], "default": None})
    raw["fields"].append({"name": "risk_score", "type": ["null", "double"], "default": None})
    return _parse(raw)


# ------------------------------------------------------------------ identity
def test_simulator_records_are_byte_identical(
    simulated: list[dict[str, Any]], expected: list[bytes]
) -> None:
    encoder = BatchEncoder(transaction_schema(), SCHEMA_ID)
    for size in (1_000, 4_096, 10_000, 1, 7):
        chunk = simulated if size >= 1_000 else simulated[:3_000]
        assert _batches(encoder, chunk, size) == expected[: len(chunk)], size
    assert encoder.encode_many(simulated) == expected
    got, errors = encoder.encode_many_checked(simulated[:5_000])
    assert errors == [] and got == expected[:5_000]


def test_tiny_memo_still_gives_identical_bytes(
    simulated: list[dict[str, Any]], expected: list[bytes]
) -> None:
    # A memo of 64 strings is emptied constantly and falls back to direct encoding.
    encoder = BatchEncoder(transaction_schema(), SCHEMA_ID, cache_size=64)
    assert _batches(encoder, simulated[:40_000], 2_000) == expected[:40_000]


def test_columns_that_change_shape_between_batches(
    simulated: list[dict[str, Any]], expected: list[bytes]
) -> None:
    """Single-width columns turning ragged, distinct strings, small and large ints."""
    encoder = BatchEncoder(transaction_schema(), SCHEMA_ID, cache_size=512)
    reference = Encoder(transaction_schema(), SCHEMA_ID)
    rows = [dict(r) for r in simulated[:6_000]]
    for i, r in enumerate(rows):
        if i % 3 == 0:
            r["transaction_id"] = f"tx-{i}"  # ragged, never repeated
            r["merchant_name"] = "é" * (i % 70)  # non-ASCII, lengths past one prefix byte
        if i % 5 == 0:
            r["event_time"] = [0, -1, 63, -64, 64, 2**31, -(2**63), 2**63 - 1][i % 8]
        if i % 7 == 0:
            r["metadata"] = {"trace": str(i), "": "ü" * (i % 3)}
    assert _batches(encoder, rows, 1_000) == [reference.encode(r) for r in rows]
    assert _batches(encoder, simulated[:2_000], 1_000) == expected[:2_000]


def test_round_trip_through_decode(simulated: list[dict[str, Any]]) -> None:
    rows = simulated[:2_000]
    messages = BatchEncoder(transaction_schema(), SCHEMA_ID).encode_many(rows)
    lookup = {SCHEMA_ID: transaction_schema()}
    assert [decode(m, lookup) for m in messages] == [(SCHEMA_ID, r) for r in rows]


def test_empty_batch_and_single_record(simulated: list[dict[str, Any]]) -> None:
    encoder = BatchEncoder(transaction_schema(), SCHEMA_ID)
    assert encoder.encode_many([]) == []
    assert encoder.encode_many_checked([]) == ([], [])
    record = simulated[0]
    assert encoder.encode(record) == Encoder(transaction_schema(), SCHEMA_ID).encode(record)


# Strategies: Transaction-shaped records with edge-case values. Pools of short strings
# make columns of one width (the numpy path) common, free text makes them ragged.
_TEXT = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["", "a", "USD", "é", "日本", "𝄞", "x" * 63, "y" * 64, "z" * 200]),
    st.text(alphabet="abcXYZ019-", min_size=3, max_size=3),
)
_DOUBLE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, math.nan, -math.nan, math.inf, -math.inf, 5e-324, 1.7e308]),
    st.integers(-(2**53), 2**53),  # an int is a valid double for Encoder
)
_STRING_MAP = st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4)


def _transaction(text: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in transaction_schema()["fields"]:
        kind = f["type"] if isinstance(f["type"], str) else f["type"]["type"]
        fields[f["name"]] = {
            "string": text,
            "long": INT64,
            "double": _DOUBLE,
            "boolean": st.booleans(),
            "map": _STRING_MAP,
        }[kind]
    optional = {"metadata": fields.pop("metadata")}
    return st.fixed_dictionaries(fields, optional=optional)


_TRANSACTIONS = st.lists(_transaction(_TEXT), min_size=1, max_size=40)
_SHARED = BatchEncoder(transaction_schema(), SCHEMA_ID, cache_size=256)  # memos carry over


@HYPOTHESIS
@given(rows=_TRANSACTIONS)
def test_generated_records_are_byte_identical(rows: list[dict[str, Any]]) -> None:
    reference = Encoder(transaction_schema(), SCHEMA_ID)
    expected = [reference.encode(r) for r in rows]
    assert BatchEncoder(transaction_schema(), SCHEMA_ID).encode_many(rows) == expected
    assert _SHARED.encode_many(rows) == expected
    lookup = {SCHEMA_ID: transaction_schema()}
    for message in expected:  # decoding and encoding again gives the same bytes
        assert reference.encode(decode(message, lookup)[1]) == message


@HYPOTHESIS
@given(row=_transaction(_TEXT), copies=st.integers(300, 600))
def test_generated_records_in_large_batches(row: dict[str, Any], copies: int) -> None:
    """Above the size where string columns adapt their mode."""
    rows = [dict(row, user_id=f"U{i:06d}", amount=i / 7) for i in range(copies)]
    reference = Encoder(transaction_schema(), SCHEMA_ID)
    assert _SHARED.encode_many(rows) == [reference.encode(r) for r in rows]


# ------------------------------------------------------------------ schema evolution
def test_v2_schema_with_optional_fields(simulated: list[dict[str, Any]]) -> None:
    v2 = _v2_schema()
    encoder = BatchEncoder(v2, SCHEMA_ID)
    rows = simulated[:3_000]
    # v1-shaped records: the new fields take their default, like Encoder writes them.
    reference = Encoder(v2, SCHEMA_ID)
    assert encoder.encode_many(rows) == [reference.encode(r) for r in rows]
    # Present values: Encoder refuses union values, so fastavro itself is the reference.
    mixed = [
        dict(r, card_id=None if i % 3 == 0 else f"C{i}", risk_score=[None, 0.5, 7][i % 3])
        if i % 2
        else r
        for i, r in enumerate(rows)
    ]
    messages = encoder.encode_many(mixed)
    assert messages == [_fastavro(v2, r) for r in mixed]
    decoded = [decode(m, {SCHEMA_ID: v2})[1] for m in messages]
    full = [{"card_id": None, "risk_score": None, **r} for r in mixed]
    assert decoded == [
        {k: float(v) if k == "risk_score" and v else v for k, v in r.items()} for r in full
    ]
    all_set = [dict(r, card_id="C", risk_score=1.25) for r in rows[:500]]
    assert encoder.encode_many(all_set) == [_fastavro(v2, r) for r in all_set]


def test_v2_schema_rejects_wrong_optional_values(simulated: list[dict[str, Any]]) -> None:
    encoder = BatchEncoder(_v2_schema(), SCHEMA_ID)
    rows = [dict(r) for r in simulated[:200]]
    rows[17]["card_id"] = 12
    rows[150]["risk_score"] = "high"
    out, errors = encoder.encode_many_checked(rows)
    assert [(i, e.field) for i, e in errors] == [(17, "card_id"), (150, "risk_score")]
    assert out[17] is None and out[150] is None
    assert all(m is not None for i, m in enumerate(out) if i not in (17, 150))


# ------------------------------------------------------------------ strictness
_WRONG: list[tuple[str, Any]] = [
    ("transaction_id", 123),
    ("transaction_id", None),
    ("transaction_id", b"bytes"),
    ("event_time", True),
    ("event_time", 1.5),
    ("event_time", "1700000000000"),
    ("event_time", 2**63),
    ("event_time", -(2**63) - 1),
    ("user_id", UserString("U000001")),
    ("amount", "12.50"),
    ("amount", True),
    ("amount", None),
    ("amount", 10**400),  # too large for a double: fastavro blames the record
    ("currency", 1),
    ("merchant_name", ["a"]),
    ("is_international", 1),
    ("is_international", "yes"),
    ("customer_x", False),
    ("terminal_y", "1.0"),
    ("metadata", None),
    ("metadata", {"k": 1}),
    ("metadata", {1: "v"}),
    ("metadata", [("k", "v")]),
    ("device_id", "\ud800"),  # a lone surrogate cannot be written as UTF-8
]


@pytest.mark.parametrize(
    ("field", "value"), _WRONG, ids=[f"{f}-{i}" for i, (f, _) in enumerate(_WRONG)]
)
def test_wrong_values_are_reported_with_their_field(
    simulated: list[dict[str, Any]], expected: list[bytes], field: str, value: Any
) -> None:
    rows = [dict(r) for r in simulated[:1_000]]
    rows[613][field] = value
    encoder = BatchEncoder(transaction_schema(), SCHEMA_ID)
    out, errors = encoder.encode_many_checked(rows)
    assert len(errors) == 1
    index, error = errors[0]
    assert index == 613 and out[613] is None
    with pytest.raises(SchemaValidationError) as per_record:
        Encoder(transaction_schema(), SCHEMA_ID).encode(rows[613])
    assert error.field == per_record.value.field
    # Encoder blames the record when fastavro cannot write a value it validated.
    unwritable = field == "device_id" or value == 10**400
    assert error.field == ("<record>" if unwritable else field)
    assert out[:613] == expected[:613] and out[614:] == expected[614:1_000]
    with pytest.raises(SchemaValidationError) as raised:
        encoder.encode_many(rows)
    assert raised.value.field == error.field


def test_missing_unknown_and_defaulted_fields(
    simulated: list[dict[str, Any]], expected: list[bytes]
) -> None:
    rows = [dict(r) for r in simulated[:2_000]]
    del rows[5]["amount"]
    rows[900]["card_id"] = "not in v1"
    del rows[1_500]["metadata"]  # has a default: encoded as {}
    for r in rows[1_600:1_700]:
        del r["metadata"]
    out, errors = BatchEncoder(transaction_schema(), SCHEMA_ID).encode_many_checked(rows)
    assert [(i, e.field) for i, e in errors] == [(5, "amount"), (900, "card_id")]
    assert out[1_500] == expected[1_500]
    assert out[1_600:1_700] == expected[1_600:1_700]
    assert [m for i, m in enumerate(out) if i not in (5, 900)] == [
        m for i, m in enumerate(expected[:2_000]) if i not in (5, 900)
    ]


def test_unknown_field_in_complete_records(
    simulated: list[dict[str, Any]], expected: list[bytes]
) -> None:
    encoder = BatchEncoder(transaction_schema(), SCHEMA_ID)
    rows = [dict(r) for r in simulated[:1_000]]
    rows[10]["card_id"] = "C1"
    rows[20] = {**rows[20], "zz": 1}
    out, errors = encoder.encode_many_checked(rows)  # every field present in every row
    assert [(i, e.field) for i, e in errors] == [(10, "card_id"), (20, "zz")]
    assert out[11:20] == expected[11:20] and out[21:] == expected[21:1_000]
    rows = [dict(r) for r in simulated[:1_000]]
    del rows[30]["amount"]
    rows[30]["amount_typo"] = 1.0  # as many keys as the schema, one of them wrong
    out, errors = encoder.encode_many_checked(rows)
    assert [(i, e.field) for i, e in errors] == [(30, "amount")]
    assert out[:30] == expected[:30] and out[31:] == expected[31:1_000]


def test_many_scattered_errors(simulated: list[dict[str, Any]], expected: list[bytes]) -> None:
    rows = [dict(r) for r in simulated[:5_000]]
    bad = set(range(3, 5_000, 97)) | {0, 4_999}
    for i in bad:
        rows[i]["amount"] = str(rows[i]["amount"])
    rows.append("not a record")  # type: ignore[arg-type]
    out, errors = BatchEncoder(transaction_schema(), SCHEMA_ID).encode_many_checked(rows)
    assert [i for i, _ in errors] == [*sorted(bad), 5_000]
    assert {e.field for i, e in errors if i < 5_000} == {"amount"}
    assert errors[-1][1].field == "<record>"
    assert [m for i, m in enumerate(out[:5_000]) if i not in bad] == [
        m for i, m in enumerate(expected[:5_000]) if i not in bad
    ]


def test_only_the_culprits_go_record_by_record(
    simulated: list[dict[str, Any]], expected: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [dict(r) for r in simulated[:5_000]]
    bad = {7: ("amount", "1.0"), 2_000: ("event_time", None), 4_321: ("metadata", {"k": 2})}
    for i, (field, value) in bad.items():
        rows[i][field] = value
    del rows[3_000]["user_id"]
    rows[3_500]["unknown"] = "x"
    calls: list[Mapping[str, Any]] = []
    original = Encoder.encode

    def spy(self: Encoder, record: Mapping[str, Any]) -> bytes:
        calls.append(record)
        return original(self, record)

    monkeypatch.setattr(Encoder, "encode", spy)
    out, errors = BatchEncoder(transaction_schema(), SCHEMA_ID).encode_many_checked(rows)
    culprits = [7, 2_000, 3_000, 3_500, 4_321]
    assert [i for i, _ in errors] == culprits
    assert [e.field for _, e in errors] == [
        "amount",
        "event_time",
        "user_id",
        "unknown",
        "metadata",
    ]
    assert len(calls) == len(culprits)  # located, not bisected
    assert [m for i, m in enumerate(out) if i not in culprits] == [
        m for i, m in enumerate(expected[:5_000]) if i not in culprits
    ]


def test_failures_that_cannot_be_located_are_bisected(
    simulated: list[dict[str, Any]], expected: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_encode, "_owners", lambda lengths, items: None)
    rows = [dict(r) for r in simulated[:3_000]]
    culprits = [0, 1_234, 1_235, 2_999]
    for i in culprits:
        rows[i]["metadata"] = {"ok": "yes", "bad": 1.5}
    out, errors = BatchEncoder(transaction_schema(), SCHEMA_ID).encode_many_checked(rows)
    assert [(i, e.field) for i, e in errors] == [(i, "metadata") for i in culprits]
    assert [m for i, m in enumerate(out) if i not in culprits] == [
        m for i, m in enumerate(expected[:3_000]) if i not in culprits
    ]


def test_tiny_batches(simulated: list[dict[str, Any]], expected: list[bytes]) -> None:
    encoder = BatchEncoder(transaction_schema(), SCHEMA_ID)
    sink = BatchEncoder(_SINK_SCHEMA, SCHEMA_ID)
    for size in range(1, 12):
        assert encoder.encode_many(simulated[:size]) == expected[:size]
        sinks = [dict(_SINK_RECORD, big=i) for i in range(size)]
        assert sink.encode_many(sinks) == [_fastavro(_SINK_SCHEMA, r) for r in sinks]
    broken = dict(simulated[0], is_international="no")
    with pytest.raises(SchemaValidationError) as raised:
        encoder.encode_many([simulated[1], broken])
    assert raised.value.field == "is_international"
    with pytest.raises(SchemaValidationError) as raised:
        sink.encode_many([dict(_SINK_RECORD, color="PINK")])
    assert raised.value.field == "color"


class _Currency(enum.StrEnum):
    EUR = "EUR"


class _Millis(enum.IntEnum):
    EPOCH_PLUS = 1_700_000_000_000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_time", datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)),
        ("event_time", _Millis.EPOCH_PLUS),
        ("transaction_id", uuid.UUID("12345678-1234-4234-8234-123456789abc")),
        ("currency", _Currency.EUR),
        ("amount", np.float64(12.5)),
        ("amount", 12),
        ("metadata", {"k": "v"}),
    ],
)
def test_values_encoder_converts_give_the_same_bytes(
    simulated: list[dict[str, Any]], field: str, value: Any
) -> None:
    rows = [dict(r) for r in simulated[:300]]
    rows[100][field] = value
    reference = Encoder(transaction_schema(), SCHEMA_ID)
    assert BatchEncoder(transaction_schema(), SCHEMA_ID).encode_many(rows) == [
        reference.encode(r) for r in rows
    ]


# ------------------------------------------------------------------ other Avro types
_SINK: dict[str, Any] = {
    "type": "record",
    "name": "Sink",
    "namespace": "test.batch",
    "fields": [
        {"name": "nothing", "type": "null"},
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "single", "type": "float"},
        {"name": "double", "type": "double"},
        {"name": "text", "type": "string"},
        {"name": "blob", "type": "bytes"},
        {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["R", "G", "B"]}},
        {"name": "color2", "type": "Color"},
        {"name": "four", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "counts", "type": {"type": "map", "values": "long"}},
        {"name": "points", "type": {"type": "array", "items": "double"}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "maybe_text", "type": ["null", "string"], "default": None},
        {
            "name": "maybe_time",
            "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
            "default": None,
        },
        {"name": "maybe_int", "type": ["null", "int"], "default": None},
        {"name": "text_first", "type": ["string", "null"], "default": "dflt"},
        {
            "name": "maybe_map",
            "type": ["null", {"type": "map", "values": "string"}],
            "default": None,
        },
        {"name": "sparse", "type": {"type": "map", "values": ["null", "double"]}, "default": {}},
        {"name": "ratio", "type": "double", "default": 1.5},
        {"name": "level", "type": "Color", "default": "G"},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    ],
}
_SINK_SCHEMA = _parse(copy.deepcopy(_SINK))
_SINK_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "nothing": st.none(),
    "flag": st.booleans(),
    "small": st.integers(-(2**31), 2**31 - 1),
    "big": INT64,
    "single": st.one_of(st.floats(), st.floats(width=32), st.integers(-(2**60), 2**60)),
    "double": _DOUBLE,
    "text": _TEXT,
    "blob": st.binary(max_size=20),
    "color": st.sampled_from(["R", "G", "B"]),
    "color2": st.sampled_from(["R", "G", "B"]),
    "four": st.binary(min_size=4, max_size=4),
    "counts": st.dictionaries(st.text(max_size=5), INT64, max_size=3),
    "points": st.lists(_DOUBLE, max_size=3),
    "tags": st.lists(_TEXT, max_size=3),
    "id": st.uuids().map(str),
}
_SINK_OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "maybe_text": st.one_of(st.none(), _TEXT),
    "maybe_time": st.one_of(st.none(), INT64),
    "maybe_int": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
    "text_first": st.one_of(st.none(), _TEXT),
    "maybe_map": st.one_of(st.none(), _STRING_MAP),
    "sparse": st.dictionaries(st.text(max_size=5), st.one_of(st.none(), _DOUBLE), max_size=3),
    "ratio": _DOUBLE,
    "level": st.sampled_from(["R", "G", "B"]),
}
_SINKS = st.lists(
    st.fixed_dictionaries(_SINK_FIELDS, optional=_SINK_OPTIONAL), min_size=1, max_size=30
)


@HYPOTHESIS
@given(rows=_SINKS)
def test_every_supported_type_matches_fastavro(rows: list[dict[str, Any]]) -> None:
    messages = BatchEncoder(_SINK_SCHEMA, SCHEMA_ID).encode_many(rows)
    assert messages == [_fastavro(_SINK_SCHEMA, r) for r in rows]
    for message, row in zip(messages, rows, strict=True):
        _, decoded = decode(message, {SCHEMA_ID: _SINK_SCHEMA})
        assert set(decoded) == set(_SINK_SCHEMA_NAMES)
        assert decoded["big"] == row["big"] and decoded["text"] == row["text"]
        assert decoded["blob"] == row["blob"] and decoded["tags"] == row["tags"]


_SINK_SCHEMA_NAMES = [f["name"] for f in _SINK["fields"]]
_SINK_RECORD: dict[str, Any] = {
    "nothing": None,
    "flag": True,
    "small": -7,
    "big": 2**40,
    "single": 0.1,
    "double": -0.0,
    "text": "héllo",
    "blob": b"\x00\xff",
    "color": "B",
    "color2": "R",
    "four": b"abcd",
    "counts": {"a": 1, "b": -(2**63)},
    "points": [1.5, math.inf],
    "tags": ["x", ""],
    "maybe_text": "present",
    "id": "12345678-1234-4234-8234-123456789abc",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("color", "PURPLE"),
        ("four", b"12345"),
        ("blob", "text"),
        ("nothing", 0),
        ("small", 2**31),  # Encoder writes any int64 for an int, but fastavro refuses it
        ("counts", {"k": 1.5}),
        ("points", [1.0, "2"]),
        ("tags", ("a", "b")),
        ("maybe_int", 2**31),
        ("maybe_text", b"x"),
        ("sparse", {"k": "v"}),
    ],
)
def test_wrong_values_of_other_types(field: str, value: Any) -> None:
    rows = [dict(_SINK_RECORD, big=i - 50, text=f"t{i % 7}") for i in range(100)]
    rows[42][field] = value
    encoder = BatchEncoder(_SINK_SCHEMA, SCHEMA_ID)
    out, errors = encoder.encode_many_checked(rows)
    if field == "small":  # top-level int: Encoder's leniency, fastavro writes the varint
        assert errors == [] and out[42] == _fastavro(_SINK_SCHEMA, rows[42])
        return
    assert [(i, e.field) for i, e in errors] == [(42, field)]
    assert [m for i, m in enumerate(out) if i != 42] == [
        _fastavro(_SINK_SCHEMA, r) for i, r in enumerate(rows) if i != 42
    ]


@pytest.mark.parametrize(
    "field_type",
    [
        ["null", "string", "long"],
        ["string", "long"],
        {"type": "record", "name": "Inner", "fields": [{"name": "a", "type": "long"}]},
    ],
)
def test_unsupported_schemas_are_refused(field_type: Any) -> None:
    schema = _parse({"type": "record", "name": "R", "fields": [{"name": "x", "type": field_type}]})
    with pytest.raises(UnsupportedSchemaError):
        BatchEncoder(schema, SCHEMA_ID)
