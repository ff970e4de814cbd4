"""Deliberately malformed messages, to exercise the DLQ path end to end.

Three kinds, so that a producer can route each one:

- ``bad_value``: a well-typed record that Avro accepts but the contract's quality rules
  (:mod:`fraud_contracts.quality`, applied by the streaming job) reject: negative, zero,
  NaN or infinite amount, empty user_id, unknown currency, event time in the year 2100.
- ``wrong_type``: a record that does not match the Avro schema (amount or event time as a
  string, boolean as a string, a required field missing): encoding fails, so the producer
  sends it to the DLQ itself (e.g. as JSON) with the reason.
- ``not_avro``: raw bytes that are not a Confluent-framed Avro message (random bytes whose
  first byte is never the magic byte 0, or the record as JSON text): consumers must fail
  to decode them and route them to the DLQ.

Variants get a fresh transaction_id (drawn from the malformer's seeded generator), so a
producer can send them *in addition to* the genuine records without clashing with a
genuine id or its label. Same seed and same calls give the same variants.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from fraud_contracts.avro import Transaction
from fraud_contracts.quality import FUTURE_TOLERANCE_MS, transaction_problems

MalformedKind = Literal["bad_value", "wrong_type", "not_avro"]
MALFORMED_KINDS: tuple[MalformedKind, ...] = ("bad_value", "wrong_type", "not_avro")
BAD_VALUE_DEFECTS = (
    "negative_amount",
    "zero_amount",
    "nan_amount",
    "inf_amount",
    "empty_user_id",
    "unknown_currency",
    "future_event_time",
)
WRONG_TYPE_DEFECTS = (
    "amount_as_string",
    "event_time_as_string",
    "is_international_as_string",
    "missing_field",
)
NOT_AVRO_DEFECTS = ("random_bytes", "json_text")
REQUIRED_FIELDS_TO_DROP = ("user_id", "amount", "event_time", "merchant_id", "transaction_id")
MAX_FUTURE_SKEW_MS = FUTURE_TOLERANCE_MS
_FAR_FUTURE_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
_DAY_MS = 86_400_000
_MALFORMED_STREAM = 21
_BLOCK = 4096


@dataclass(frozen=True, slots=True)
class Malformed:
    """A malformed variant: ``record`` for bad_value/wrong_type, ``payload`` for not_avro."""

    kind: MalformedKind
    defect: str
    record: dict[str, Any] | None
    payload: bytes | None


def quality_problems(
    record: Mapping[str, Any], now_ms: int, max_future_skew_ms: int = MAX_FUTURE_SKEW_MS
) -> list[str]:
    """Names of the contract's data-quality rules a well-typed transaction breaks (empty:
    none): :func:`fraud_contracts.quality.transaction_problems` with ``now_ms`` as the
    ingestion time."""
    return transaction_problems(record, now_ms, max_future_skew_ms)


class Malformer:
    """Turns a ``fraction`` of records into malformed variants of the chosen kinds."""

    def __init__(
        self, seed: int, fraction: float, kinds: Sequence[MalformedKind] = MALFORMED_KINDS
    ) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        unknown = set(kinds) - set(MALFORMED_KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty subset of {MALFORMED_KINDS}")
        self.fraction = fraction
        self.kinds = tuple(kinds)
        self._rng = np.random.default_rng([seed, _MALFORMED_STREAM])
        self._draws = self._rng.random(_BLOCK)
        self._next = 0

    def _uniform(self) -> float:
        if self._next == _BLOCK:
            self._draws = self._rng.random(_BLOCK)
            self._next = 0
        value = float(self._draws[self._next])
        self._next += 1
        return value

    def _pick(self, options: Sequence[str]) -> str:
        return options[int(self._rng.integers(len(options)))]

    def maybe(self, record: Transaction) -> Malformed | None:
        """With probability ``fraction``, a malformed variant of ``record``; else None."""
        if self.fraction == 0.0 or self._uniform() >= self.fraction:
            return None
        return self.corrupt(record)

    def corrupt(self, record: Transaction, kind: MalformedKind | None = None) -> Malformed:
        """A malformed variant of ``record`` of ``kind`` (default: one of ``kinds``)."""
        kind = kind or self.kinds[int(self._rng.integers(len(self.kinds)))]
        variant: dict[str, Any] = dict(record)
        variant["metadata"] = dict(record["metadata"])
        raw = self._rng.bytes(16)
        variant["transaction_id"] = _uuid_text(raw)
        if kind == "bad_value":
            defect = self._pick(BAD_VALUE_DEFECTS)
            _bad_value(variant, defect)
            return Malformed(kind, defect, variant, None)
        if kind == "wrong_type":
            defect = self._pick(WRONG_TYPE_DEFECTS)
            if defect == "missing_field":
                dropped = self._pick(REQUIRED_FIELDS_TO_DROP)
                del variant[dropped]
                defect = f"missing_field:{dropped}"
            else:
                _wrong_type(variant, defect)
            return Malformed(kind, defect, variant, None)
        defect = self._pick(NOT_AVRO_DEFECTS)
        if defect == "json_text":
            payload = json.dumps(variant, sort_keys=True).encode("utf-8")
        else:
            size = int(self._rng.integers(1, 65))
            payload = bytes([int(self._rng.integers(1, 256))]) + self._rng.bytes(size - 1)
        return Malformed(kind, defect, None, payload)


def _uuid_text(raw: bytes) -> str:
    b = bytearray(raw)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _bad_value(variant: dict[str, Any], defect: str) -> None:
    amount = float(variant["amount"])
    if defect == "negative_amount":
        variant["amount"] = -abs(amount) or -1.0
    elif defect == "zero_amount":
        variant["amount"] = 0.0
    elif defect == "nan_amount":
        variant["amount"] = math.nan
    elif defect == "inf_amount":
        variant["amount"] = math.inf
    elif defect == "empty_user_id":
        variant["user_id"] = ""
    elif defect == "unknown_currency":
        variant["currency"] = "XYZ"
    else:  # future_event_time
        variant["event_time"] = _FAR_FUTURE_MS + int(variant["event_time"]) % _DAY_MS


def _wrong_type(variant: dict[str, Any], defect: str) -> None:
    if defect == "amount_as_string":
        variant["amount"] = f"{variant['amount']:.2f}"
    elif defect == "event_time_as_string":
        variant["event_time"] = str(variant["event_time"])
    else:  # is_international_as_string
        variant["is_international"] = "yes" if variant["is_international"] else "no"
