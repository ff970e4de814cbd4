"""The scoring path's vector (serving.vectors) equals the feature contract exactly, and
the prediction log's binary COPY frames rows as Postgres reads them."""

from __future__ import annotations

import datetime as dt
import json
import random

import orjson
import pytest

from fraud_contracts import features
from serving import vectors
from serving.prediction_log import COLUMNS, _from_spill, copy_binary

pytestmark = pytest.mark.unit


def _values(rng: random.Random, names: tuple[str, ...]) -> dict[str, float]:
    def one(name: str) -> float:
        if rng.random() < 0.15:
            return 0.0
        if "count" in name:
            return float(rng.randint(0, 500))
        if "risk" in name:
            return rng.random()
        if "std" in name:  # around amount_zscore_30d's threshold, and typical
            return rng.choice([0.0, 0.005, 0.01, rng.lognormvariate(3.0, 1.0)])
        if "median" in name:
            return rng.choice([0.0, rng.lognormvariate(3.5, 1.0)])
        return rng.lognormvariate(3.5, 1.5)

    return {n: one(n) for n in names}


def test_vector_equals_build_features_to_array() -> None:
    rng = random.Random(7)
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for i in range(5_000):
        as_of = base + dt.timedelta(seconds=rng.randint(0, 10**8))
        user = (
            features.UserFeatures(f"U{i}", as_of, _values(rng, features.USER_RECORD))
            if rng.random() < 0.8
            else None
        )
        terminal = (
            features.TerminalFeatures(f"M{i}", as_of, _values(rng, features.TERMINAL_FEATURES))
            if rng.random() < 0.9
            else None
        )
        tz = dt.timezone(dt.timedelta(minutes=rng.choice([0, 60, -300, 330])))
        event_time = (base + dt.timedelta(seconds=rng.randint(0, 10**8))).astimezone(tz)
        amount = rng.choice([0.01, 1.0, rng.lognormvariate(3.5, 1.0), 1e9])
        intl = rng.random() < 0.1
        expected = features.to_array(
            features.build_features(
                features.TransactionContext(amount, intl, event_time), user, terminal
            )
        )
        # the online store hands over the values in the contract's order
        got = vectors.vector(
            amount,
            intl,
            event_time,
            tuple(user.values[n] for n in features.USER_RECORD) if user else None,
            tuple(terminal.values[n] for n in features.TERMINAL_FEATURES) if terminal else None,
        )
        assert got == expected, (i, got, expected)


def test_copy_binary_frames_rows_and_treats_replayed_rows_alike() -> None:
    t = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    row = ("a\tb", "U1", "M1", 42.5, 0.25, "low", "1", "redis", [1.0, 0.5], 1.2, None, t, [])
    data = copy_binary([row, row])
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00" + bytes(8))
    assert data.endswith(b"\xff\xff")
    body = data[19:-2]
    assert len(body) % 2 == 0 and body[: len(body) // 2] == body[len(body) // 2 :]
    assert body[:2] == (13).to_bytes(2, "big")  # one field per column
    assert b"\xff\xff\xff\xff" in body  # the NULL event_time
    # a row read back from the spill file (orjson: timestamps as strings) encodes the same
    replayed = (*row[:10], None, t.isoformat(), [])
    naive = (*row[:10], None, t.replace(tzinfo=None), ())
    assert copy_binary([replayed]) == copy_binary([naive]) == copy_binary([row])
    # the last fields: predicted_at in microseconds since 2000-01-01 UTC, then the empty
    # top_reasons as jsonb (length 3: version 1, "[]")
    us = int((t - dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).total_seconds() * 1_000_000)
    one = body[: len(body) // 2]
    assert (
        one[-19:]
        == (8).to_bytes(4, "big")
        + us.to_bytes(8, "big", signed=True)
        + bytes((0, 0, 0, 3, 1))
        + b"[]"
    )


def test_copy_binary_sends_top_reasons_as_jsonb_and_old_spill_rows_get_an_empty_list() -> None:
    t = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    reasons = [
        {"feature": "amount", "value": 0.30000001192092896, "contribution": 0.41},
        {"feature": "is_night", "value": 1.0, "contribution": 1e-06},
    ]
    row = ("t1", "U1", "M1", 42.5, 0.95, "high", "1", "redis", [1.0], 1.2, None, t, reasons)
    data = copy_binary([row])
    text = orjson.dumps(reasons)
    field = len(text + b"x").to_bytes(4, "big") + b"\x01" + text
    assert data[:-2].endswith(field)
    assert json.loads(text) == reasons  # shortest round-trip floats: read back exactly
    # a spill line of the current format and one written before top_reasons existed
    assert _from_spill(orjson.dumps(row)) == (*row[:11], t.isoformat(), reasons)
    old = _from_spill(orjson.dumps(row[:12]))
    assert len(old) == len(COLUMNS) and old[12] == ()
    assert copy_binary([old]) == copy_binary([(*row[:12], [])])
