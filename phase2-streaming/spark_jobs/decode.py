"""Decoding Kafka values (Confluent wire format) into bronze columns, on the executors.

Each value is ``0x00`` + a 4-byte schema id + an Avro body. The writer schema is fetched
from the registry by that id (once per id and Python worker: ids are immutable) and
resolved against the job's reader schema (the contract the bronze table follows), so
records written with any compatible schema version decode into the same columns.

Nothing here raises for a bad record: it gets ``decode_error`` (``not_avro``,
``unknown_schema_id``, ``undecodable``) and ``decode_detail``, and goes to the DLQ. A
registry that cannot be reached does raise: the batch fails and is retried after a
restart, instead of misrouting good records.

:class:`ArrowDecoder` is the function given to ``DataFrame.mapInArrow``: Arrow record
batches in, Arrow record batches out, no per-row JVM/Python round trip.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from fastavro import parse_schema, schemaless_reader
from pyspark.sql import types as st

from fraud_contracts.avro import READ_ERRORS, NotAvroError, split_header, strip_logical_types
from fraud_contracts.registry import RegistryError, SchemaRegistry
from spark_jobs.avro_types import TIMESTAMP_ARROW, FieldType, field_types

NOT_AVRO = "not_avro"
UNKNOWN_SCHEMA_ID = "unknown_schema_id"
UNDECODABLE = "undecodable"

# Columns the Kafka source hands to the decoder, passed through unchanged.
PASS_THROUGH: tuple[tuple[str, st.DataType], ...] = (
    ("raw_value", st.BinaryType()),
    ("kafka_topic", st.StringType()),
    ("kafka_partition", st.IntegerType()),
    ("kafka_offset", st.LongType()),
    ("kafka_timestamp", st.TimestampType()),
    ("ingested_at", st.TimestampType()),
)
_UNKNOWN_ID_TTL_S = 60.0
_READ_ERRORS: tuple[type[BaseException], ...] = (*READ_ERRORS, AttributeError)


@dataclass(frozen=True)
class _Plan:
    """How to read the bodies of one writer schema id (or why they cannot be read)."""

    writer: Any = None
    reader: Any = None  # None: writer and reader are the same schema (fast path)
    error: str | None = None


@dataclass(frozen=True)
class Decoded:
    """Outcome of one value: a record, or the decode error and its detail."""

    schema_id: int | None
    record: dict[str, Any] | None
    error: str | None = None
    detail: str | None = None


SchemaFetch = Callable[[int], "str | None"]


def registry_fetch(registry_url: str) -> SchemaFetch:
    """Writer schema text by id from the registry; None for an unknown id (404)."""
    registry = SchemaRegistry(registry_url)

    def fetch(schema_id: int) -> str | None:
        try:
            return str(registry.schema_by_id(schema_id))
        except RegistryError as err:
            if err.status == 404:
                return None
            raise

    return fetch


class Decoder:
    """Writer-schema cache and the per-value decoding of one reader schema.

    ``fetch`` returns a writer schema's text by id, or None if the id is unknown; it
    raises when the registry cannot answer (see :func:`registry_fetch`).
    """

    def __init__(self, fetch: SchemaFetch, reader_schema: str) -> None:
        self._fetch = fetch
        self._reader_json = strip_logical_types(json.loads(reader_schema))
        self._reader = parse_schema(self._reader_json)
        self._canonical = _canonical(self._reader_json)
        self._plans: dict[int, _Plan] = {}
        self._unknown: dict[int, float] = {}

    def _plan(self, schema_id: int) -> _Plan | None:
        plan = self._plans.get(schema_id)
        if plan is not None:
            return plan
        seen = self._unknown.get(schema_id)
        if seen is not None and time.monotonic() - seen < _UNKNOWN_ID_TTL_S:
            return None
        text = self._fetch(schema_id)
        if text is None:
            self._unknown[schema_id] = time.monotonic()
            return None
        plan = self._make_plan(schema_id, text)
        self._plans[schema_id] = plan
        return plan

    def _make_plan(self, schema_id: int, text: str) -> _Plan:
        try:
            writer_json = strip_logical_types(json.loads(text))
            writer = parse_schema(writer_json)
        except Exception as exc:
            return _Plan(error=f"writer schema {schema_id} is not a usable Avro schema: {exc}")
        if not isinstance(writer_json, dict) or writer_json.get("type") != "record":
            return _Plan(error=f"writer schema {schema_id} is not an Avro record")
        same = _canonical(writer_json) == self._canonical
        return _Plan(writer=writer, reader=None if same else self._reader)

    def decode(self, value: bytes | None) -> Decoded:
        """Decode one Kafka value; never raises for bad bytes (see the module doc)."""
        if value is None:
            return Decoded(None, None, NOT_AVRO, "null value")
        try:
            schema_id, body = split_header(value)
        except NotAvroError as exc:
            return Decoded(None, None, NOT_AVRO, str(exc))
        plan = self._plan(schema_id)
        if plan is None:
            return Decoded(schema_id, None, UNKNOWN_SCHEMA_ID, f"schema id {schema_id} unknown")
        if plan.error is not None:
            return Decoded(schema_id, None, UNDECODABLE, plan.error)
        fo = io.BytesIO(body)
        try:
            record = schemaless_reader(fo, plan.writer, plan.reader)
        except _READ_ERRORS as exc:
            return Decoded(schema_id, None, UNDECODABLE, f"{type(exc).__name__}: {exc}"[:500])
        except Exception as exc:
            return Decoded(schema_id, None, UNDECODABLE, f"{type(exc).__name__}: {exc}"[:500])
        if fo.tell() != len(body):
            detail = f"{len(body) - fo.tell()} trailing bytes after the record"
            return Decoded(schema_id, None, UNDECODABLE, detail)
        if not isinstance(record, dict):
            return Decoded(schema_id, None, UNDECODABLE, "body is not a record")
        return Decoded(schema_id, record)


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


# One decoder per (registry, reader schema) and Python worker process (workers are reused).
_DECODERS: dict[tuple[str, str], Decoder] = {}


def decoder_for(registry_url: str, reader_schema: str) -> Decoder:
    """The process-wide cached decoder."""
    key = (registry_url, reader_schema)
    decoder = _DECODERS.get(key)
    if decoder is None:
        decoder = _DECODERS[key] = Decoder(registry_fetch(registry_url), reader_schema)
    return decoder


def decoded_schema(reader_schema: str) -> st.StructType:
    """Spark schema of the decoder's output: contract fields, decode status, pass-through."""
    fields = [st.StructField(f.name, f.spark, True) for f in field_types(reader_schema)]
    fields += [
        st.StructField("schema_id", st.LongType(), True),
        st.StructField("decode_error", st.StringType(), True),
        st.StructField("decode_detail", st.StringType(), True),
    ]
    fields += [st.StructField(name, dtype, True) for name, dtype in PASS_THROUGH]
    return st.StructType(fields)


class ArrowDecoder:
    """``mapInArrow`` function: decodes ``raw_value`` of each Arrow batch (picklable)."""

    def __init__(self, registry_url: str, reader_schema: str) -> None:
        self.registry_url = registry_url
        self.reader_schema = reader_schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        decoder = decoder_for(self.registry_url, self.reader_schema)
        fields = field_types(self.reader_schema)
        for batch in batches:
            yield decode_batch(decoder, fields, batch)


def _column(field: FieldType, values: list[Any]) -> pa.Array:
    if field.timestamp_millis:
        millis = pa.array(values, type=pa.int64())
        return pc.multiply(millis, 1000).cast(TIMESTAMP_ARROW)
    if pa.types.is_map(field.arrow):
        return pa.array([None if v is None else list(v.items()) for v in values], field.arrow)
    return pa.array(values, type=field.arrow)


def decode_batch(
    decoder: Decoder, fields: list[FieldType], batch: pa.RecordBatch
) -> pa.RecordBatch:
    """Decode one Arrow batch of Kafka records into the columns of :func:`decoded_schema`."""
    names = [f.name for f in fields]
    columns: list[list[Any]] = [[] for _ in fields]
    schema_ids: list[int | None] = []
    errors: list[str | None] = []
    details: list[str | None] = []
    for value in batch.column("raw_value").to_pylist():
        out = decoder.decode(value)
        schema_ids.append(out.schema_id)
        errors.append(out.error)
        details.append(out.detail)
        record = out.record
        if record is None:
            for col in columns:
                col.append(None)
        else:
            for col, name in zip(columns, names, strict=True):
                col.append(record.get(name))
    arrays = [_column(f, col) for f, col in zip(fields, columns, strict=True)]
    arrays += [
        pa.array(schema_ids, type=pa.int64()),
        pa.array(errors, type=pa.string()),
        pa.array(details, type=pa.string()),
    ]
    arrays += [batch.column(name) for name, _ in PASS_THROUGH]
    out_names = [*names, "schema_id", "decode_error", "decode_detail"]
    out_names += [name for name, _ in PASS_THROUGH]
    return pa.RecordBatch.from_arrays(arrays, names=out_names)
