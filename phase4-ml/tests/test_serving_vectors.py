"""The scoring path's fast vector (serving.vectors) equals the feature contract exactly."""

from __future__ import annotations

import datetime as dt
import json
import random

import orjson
import pytest

import features
from serving import vectors
from serving.prediction_log import copy_text

pytestmark = pytest.mark.unit


def _values(rng: random.Random, names: tuple[str, ...]) -> dict[str, float]:
    def one(name: str) -> float:
        if rng.random() < 0.15:
            return 0.0
        if "count" in name:
            return float(rng.randint(0, 500))
        if "risk" in name:
            return rng.random()
        return rng.lognormvariate(3.5, 1.5)

    return {n: one(n) for n in names}


def test_vector_equals_build_features_to_array() -> None:
    rng = random.Random(7)
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for i in range(5_000):
        as_of = base + dt.timedelta(seconds=rng.randint(0, 10**8))
        user = (
            features.UserFeatures(f"U{i}", as_of, _values(rng, features.USER_FEATURES))
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
        # the API parses the stored records
        user_raw = user.to_redis() if user else None
        terminal_raw = terminal.to_redis() if terminal else None
        expected = features.to_array(
            features.build_features(
                features.TransactionContext(amount, intl, event_time),
                features.UserFeatures.from_redis(user_raw) if user_raw else None,
                features.TerminalFeatures.from_redis(terminal_raw) if terminal_raw else None,
            )
        )
        got = vectors.vector(
            amount,
            intl,
            event_time,
            vectors.parse_user(user_raw.encode()) if user_raw else None,
            vectors.parse_terminal(terminal_raw) if terminal_raw else None,
        )
        assert got == expected, (i, got, expected)


def test_records_the_contract_refuses_are_refused() -> None:
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    good = json.loads(
        features.UserFeatures("U1", now, dict.fromkeys(features.USER_FEATURES, 1.0)).to_redis()
    )
    bad = [
        good | {"fingerprint": "0000000000000000"},
        {k: v for k, v in good.items() if k != "user_tx_count_1h"},
        {k: v for k, v in good.items() if k != "as_of"},
        good | {"as_of": "yesterday"},
        good | {"user_avg_amount_7d": "x"},
    ]
    for record in bad:
        raw = orjson.dumps(record)
        with pytest.raises((ValueError, KeyError, TypeError)):
            features.UserFeatures.from_redis(raw)
        with pytest.raises((ValueError, KeyError, TypeError)):
            vectors.parse_user(raw)
    with pytest.raises(ValueError):
        vectors.parse_user(b"{not json")
    # json (not orjson) accepts NaN: the contract's parser decides, as before
    nan = json.dumps(good | {"user_avg_amount_7d": float("nan")})
    position = features.USER_FEATURES.index("user_avg_amount_7d")
    assert str(vectors.parse_user(nan)[position]) == "nan"


def test_copy_text_escapes_and_formats() -> None:
    t = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    row = ("a\\b\tc", "U1", "M1", 42.5, 0.25, "low", "1", "redis", [1.0, 0.5], 1.2, None, t)
    assert copy_text([row]) == (
        b"a\\\\b\\tc\tU1\tM1\t42.5\t0.25\tlow\t1\tredis\t{1.0,0.5}\t1.2\t\\N\t"
        b"2026-03-01T12:00:00+00:00\n"
    )
