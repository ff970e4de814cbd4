"""From an Avro reader schema (the bronze contract) to Spark and Arrow types.

Bronze columns are the top-level fields of the reader schema, in order. Supported field
types are the ones the platform's contracts use: primitives, ``uuid`` strings,
``timestamp-millis`` longs (Spark ``timestamp``, UTC), ``map<string>`` and
``["null", X]`` unions (nullable). Anything else is refused at start-up, not per record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql import types as st

_PRIMITIVES: dict[str, tuple[st.DataType, pa.DataType]] = {
    "string": (st.StringType(), pa.string()),
    "boolean": (st.BooleanType(), pa.bool_()),
    "int": (st.IntegerType(), pa.int32()),
    "long": (st.LongType(), pa.int64()),
    "float": (st.FloatType(), pa.float32()),
    "double": (st.DoubleType(), pa.float64()),
    "bytes": (st.BinaryType(), pa.binary()),
}
TIMESTAMP_ARROW = pa.timestamp("us", tz="UTC")
MILLIS_ARROW = pa.timestamp("ms", tz="UTC")


@dataclass(frozen=True)
class FieldType:
    """One bronze column: its Spark type, the Arrow type the decoder builds, flags."""

    name: str
    spark: st.DataType
    arrow: pa.DataType
    timestamp_millis: bool = False


def _field_type(name: str, avro: Any) -> FieldType:
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1 or len(avro) > 2:
            raise ValueError(f"field {name!r}: only [null, X] unions are supported")
        return _field_type(name, branches[0])
    if isinstance(avro, str):
        if avro not in _PRIMITIVES:
            raise ValueError(f"field {name!r}: unsupported Avro type {avro!r}")
        spark, arrow = _PRIMITIVES[avro]
        return FieldType(name, spark, arrow)
    if isinstance(avro, dict):
        logical = avro.get("logicalType")
        base = avro.get("type")
        if logical == "timestamp-millis" and base == "long":
            return FieldType(name, st.TimestampType(), MILLIS_ARROW, timestamp_millis=True)
        if base == "map" and avro.get("values") == "string":
            spark_map = st.MapType(st.StringType(), st.StringType())
            return FieldType(name, spark_map, pa.map_(pa.string(), pa.string()))
        if isinstance(base, str) and base in _PRIMITIVES:
            return _field_type(name, base)  # uuid and other logical types on primitives
    raise ValueError(f"field {name!r}: unsupported Avro type {avro!r}")


def field_types(schema_text: str) -> list[FieldType]:
    """The bronze columns of a record schema, in field order."""
    schema = json.loads(schema_text)
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ValueError("the reader schema must be an Avro record")
    return [_field_type(f["name"], f["type"]) for f in schema["fields"]]
