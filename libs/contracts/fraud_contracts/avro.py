"""The data contract (Avro schemas) and fastavro helpers for the Confluent wire format.

A Kafka message value is ``0x00`` (magic byte) + the schema id as a 4-byte big-endian
integer + the Avro binary body written by fastavro's schemaless writer. Encoding with
fastavro plus this 5-byte header is much faster than confluent-kafka's
``SerializingProducer`` (confluent-kafka-python issues #1440, #1053).

Records are plain dicts. Timestamps (``timestamp-millis``) are ``int`` milliseconds since
the Unix epoch and UUIDs are ``str``, both when encoding and when decoding, so that
``decode(encode(r)) == r``.
"""

from __future__ import annotations

import io
import json
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError as FastavroValidationError
from fastavro.validation import validate as fastavro_validate

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
TRANSACTION_AVSC = SCHEMA_DIR / "transaction.avsc"
FRAUD_LABEL_AVSC = SCHEMA_DIR / "fraud_label.avsc"
MAGIC_BYTE = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")

ParsedSchema = dict[str, Any]
SchemaLookup = Mapping[int, ParsedSchema] | Callable[[int], ParsedSchema | None]


class Transaction(TypedDict):
    """Python view of ``com.fraudplatform.Transaction`` (see transaction.avsc)."""

    transaction_id: str
    event_time: int
    user_id: str
    amount: float
    currency: str
    merchant_id: str
    merchant_name: str
    merchant_category: str
    channel: str
    country: str
    city: str
    is_international: bool
    device_id: str
    device_type: str
    customer_x: float
    customer_y: float
    terminal_x: float
    terminal_y: float
    metadata: dict[str, str]


class FraudLabel(TypedDict):
    """Python view of ``com.fraudplatform.FraudLabel`` (see fraud_label.avsc)."""

    transaction_id: str
    user_id: str
    is_fraud: bool
    scenario: str
    event_time: int
    reported_at: int


class AvroError(ValueError):
    """Base class of every error raised by this module."""


class NotAvroError(AvroError):
    """The bytes are not a Confluent-framed Avro message of the given schema."""


class UnknownSchemaError(AvroError):
    """The message names a schema id that the lookup does not know."""

    def __init__(self, schema_id: int) -> None:
        super().__init__(f"unknown schema id {schema_id}")
        self.schema_id = schema_id


class SchemaValidationError(AvroError):
    """A record does not match its schema; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field {field!r}: {message}")
        self.field = field


def schema_text(path: Path = TRANSACTION_AVSC) -> str:
    """The schema's JSON text, as registered with the schema registry."""
    return path.read_text(encoding="utf-8")


def load_schema(path: Path) -> ParsedSchema:
    """Parse an ``.avsc`` file with fastavro (not cached; see the cached accessors)."""
    return _parse(json.loads(schema_text(path)))


def _parse(schema: Any) -> ParsedSchema:
    parsed = parse_schema(schema)
    if not isinstance(parsed, dict):
        raise AvroError("only record schemas are supported")
    return parsed


@lru_cache(maxsize=1)
def transaction_schema() -> ParsedSchema:
    """The parsed ``Transaction`` schema (shared; do not mutate)."""
    return load_schema(TRANSACTION_AVSC)


@lru_cache(maxsize=1)
def fraud_label_schema() -> ParsedSchema:
    """The parsed ``FraudLabel`` schema (shared; do not mutate)."""
    return load_schema(FRAUD_LABEL_AVSC)


def strip_logical_types(node: Any) -> Any:
    """The same schema without logical types: timestamps stay ints, UUIDs strings (faster)."""
    if isinstance(node, dict):
        return {k: strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical_types(v) for v in node]
    return node


_PRIMITIVE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "double": (float, int),
    "float": (float, int),
    "long": (int,),
    "int": (int,),
    "boolean": (bool,),
    "null": (type(None),),
    "bytes": (bytes,),
}
_LOGICAL_TYPES: dict[str, tuple[type, ...]] = {
    "uuid": (str, uuid.UUID),
    "timestamp-millis": (int, datetime),
}
_STRING_MAP = (dict,)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """Per-schema helpers: the plain schema and exact-type checks of top-level fields."""

    plain: ParsedSchema
    # (field name, accepted exact types or None if not checkable, has a default)
    checks: tuple[tuple[str, tuple[type, ...] | None, bool], ...]


def _accepted_types(field_type: Any) -> tuple[type, ...] | None:
    if isinstance(field_type, str):
        return _PRIMITIVE_TYPES.get(field_type)
    if isinstance(field_type, dict):
        logical = field_type.get("logicalType")
        if logical is not None:
            return _LOGICAL_TYPES.get(logical)
        if field_type.get("type") == "map" and field_type.get("values") == "string":
            return _STRING_MAP
        return _accepted_types(field_type.get("type"))
    if isinstance(field_type, list):  # a union, e.g. ["null", "string"] (optional field)
        members = [_accepted_types(member) for member in field_type]
        if any(m is None for m in members):
            return None
        return tuple(t for m in members if m is not None for t in m)
    return None


# id(parsed schema) -> (the parsed schema, kept alive so its id stays unique; helpers)
_COMPILED: dict[int, tuple[ParsedSchema, _Compiled]] = {}


def _compiled(schema: ParsedSchema) -> _Compiled:
    hit = _COMPILED.get(id(schema))
    if hit is not None:
        return hit[1]
    raw = {k: v for k, v in schema.items() if not k.startswith("__")}
    checks = tuple(
        (f["name"], _accepted_types(f["type"]), "default" in f) for f in schema["fields"]
    )
    compiled = _Compiled(
        plain=_parse(strip_logical_types(raw)),
        checks=checks,
    )
    _COMPILED[id(schema)] = (schema, compiled)
    return compiled


def _plain_schema(schema: ParsedSchema) -> ParsedSchema:
    """The same binary layout without logical types (ints and strs, and much faster)."""
    return _compiled(schema).plain


def _misfit(record: Mapping[str, Any], compiled: _Compiled) -> str | None:
    """Name of the first field failing an exact type check, else None.

    fastavro's writer would silently coerce ``"1.5"`` to a double or ``"yes"`` to true.
    """
    present = 0
    for name, types, has_default in compiled.checks:
        value = record.get(name)
        if value is None and name not in record:
            if has_default:
                continue
            return name
        present += 1
        if types is None:
            return name
        if type(value) not in types and (isinstance(value, bool) or not isinstance(value, types)):
            return name
        if isinstance(value, dict) and not all(
            type(k) is str and type(v) is str for k, v in value.items()
        ):
            return name
    if len(record) != present:
        return next(str(k) for k in record if k not in {c[0] for c in compiled.checks})
    return None


def _record_name(schema: ParsedSchema) -> str:
    return str(schema.get("name", ""))


def validate(record: Mapping[str, Any], schema: ParsedSchema | None = None) -> None:
    """Raise :class:`SchemaValidationError` naming the first field that does not fit.

    Checks missing and unknown fields first (fastavro reports those against the whole
    record), then types with ``fastavro.validation``. Values valid for Avro but not for
    the quality rules (NaN amount, unknown currency...) pass: those are checked later.
    """
    schema = schema if schema is not None else transaction_schema()
    fields = schema["fields"]
    for f in fields:
        if f["name"] not in record and "default" not in f:
            raise SchemaValidationError(f["name"], "required field is missing")
    known = {f["name"] for f in fields}
    for key in record:
        if key not in known:
            raise SchemaValidationError(str(key), "field is not in the schema")
    try:
        fastavro_validate(record, schema, raise_errors=True)
    except FastavroValidationError as exc:
        first = exc.errors[0] if exc.errors else None
        field = str(getattr(first, "field", "") or "")
        prefix = _record_name(schema) + "."
        field = field.removeprefix(prefix)
        datum = getattr(first, "datum", None)
        raise SchemaValidationError(
            field or "<record>", f"value {datum!r} does not match {getattr(first, 'schema', '?')}"
        ) from exc


def is_valid(record: Mapping[str, Any], schema: ParsedSchema | None = None) -> bool:
    """Whether :func:`validate` accepts the record."""
    try:
        validate(record, schema)
    except SchemaValidationError:
        return False
    return True


#: what fastavro raises on bytes that are not a valid body for the schema
READ_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    OverflowError,
    MemoryError,
    UnicodeDecodeError,
    struct.error,
)
_WRITE_ERRORS = (ValueError, TypeError, AttributeError, OverflowError, struct.error)


def _write(buf: io.BytesIO, schema: ParsedSchema, record: Mapping[str, Any]) -> None:
    """Write the body after an exact type check; fast path without logical types.

    Both paths give the same bytes; the full schema also accepts datetimes and UUIDs.
    """
    compiled = _compiled(schema)
    misfit = _misfit(record, compiled)
    if misfit is not None:
        validate(record, schema)  # raises with the offending field's name and value
        raise SchemaValidationError(misfit, f"value {record.get(misfit)!r} has the wrong type")
    start = buf.tell()
    try:
        schemaless_writer(buf, compiled.plain, record, strict_allow_default=True)
        return
    except _WRITE_ERRORS:
        buf.seek(start)
        buf.truncate()
    try:
        schemaless_writer(buf, schema, record, strict_allow_default=True)
    except _WRITE_ERRORS as exc:
        validate(record, schema)  # raises with the offending field's name
        raise SchemaValidationError("<record>", str(exc)) from exc


def encode(record: Mapping[str, Any], schema: ParsedSchema, schema_id: int) -> bytes:
    """Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body.

    Raises :class:`SchemaValidationError` (naming the field) if the record does not fit.
    Thread-safe; :class:`Encoder` reuses one buffer and is a little faster.
    """
    buf = io.BytesIO()
    buf.write(_HEADER.pack(MAGIC_BYTE, schema_id))
    _write(buf, schema, record)
    return buf.getvalue()


class Encoder:
    """Encoder of one schema/id pair reusing its buffer (not thread-safe)."""

    def __init__(self, schema: ParsedSchema, schema_id: int) -> None:
        self.schema = schema
        self.schema_id = schema_id
        self._header = _HEADER.pack(MAGIC_BYTE, schema_id)
        self._buf = io.BytesIO()

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Same bytes as :func:`encode`."""
        buf = self._buf
        buf.seek(0)
        buf.truncate()
        buf.write(self._header)
        _write(buf, self.schema, record)
        return buf.getvalue()


def split_header(data: bytes) -> tuple[int, memoryview]:
    """Schema id and body of a Confluent-framed message, or :class:`NotAvroError`."""
    if len(data) < HEADER_SIZE:
        raise NotAvroError(f"message of {len(data)} bytes is shorter than the 5-byte header")
    if data[0] != MAGIC_BYTE:
        raise NotAvroError(f"magic byte is {data[0]:#04x}, expected 0x00")
    (schema_id,) = struct.unpack_from(">I", data, 1)
    return schema_id, memoryview(data)[HEADER_SIZE:]


def decode(data: bytes, schema_lookup: SchemaLookup) -> tuple[int, dict[str, Any]]:
    """Decode a Confluent-framed message into ``(schema_id, record)``.

    ``schema_lookup`` maps schema ids to parsed schemas (a mapping or a function that
    returns ``None`` for unknown ids). Raises :class:`NotAvroError` for bytes that are not
    such a message (bad header, truncated or trailing bytes, invalid body) and
    :class:`UnknownSchemaError` for an id the lookup does not know.
    """
    schema_id, body = split_header(data)
    getter = schema_lookup if callable(schema_lookup) else schema_lookup.get
    schema = getter(schema_id)
    if schema is None:
        raise UnknownSchemaError(schema_id)
    fo = io.BytesIO(body)
    try:
        record = schemaless_reader(fo, _plain_schema(schema), None)
    except READ_ERRORS as exc:
        raise NotAvroError(f"body does not decode with schema {schema_id}: {exc!r}") from exc
    if fo.tell() != len(body):
        raise NotAvroError(
            f"{len(body) - fo.tell()} trailing bytes after a record of schema {schema_id}"
        )
    if not isinstance(record, dict):
        raise NotAvroError(f"schema {schema_id} does not describe a record")
    return schema_id, record
