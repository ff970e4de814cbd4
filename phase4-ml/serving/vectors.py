"""The scoring path's feature vector, built without per-request dict work.

:func:`features.build_features` + :func:`features.to_array` are the contract (dicts keyed
by name, easy to read and shared with training); rebuilding two dicts of 24 entries and
re-hashing the contract (:func:`features.fingerprint`, ~60 µs) for every Redis record
is a large share of a request's budget. This module computes **the same vector** from
precomputed positions: a Redis record is parsed once (orjson) into a tuple of floats in
the contract's order, and the vector is the defaults with the request, user and
terminal parts written at fixed indices. ``tests/test_serving_vectors.py`` holds it
equal (exactly, float for float) to the contract functions on many random inputs.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import orjson

from fraud_contracts import features

FINGERPRINT: Final = features.fingerprint()
NAMES: Final = features.FEATURE_NAMES
N_FEATURES: Final = len(NAMES)
DEFAULT_VECTOR: Final[tuple[float, ...]] = tuple(float(features.DEFAULTS[n]) for n in NAMES)

_POS: Final = {name: i for i, name in enumerate(NAMES)}
_AMOUNT: Final = _POS["amount"]
_INTL: Final = _POS["is_international"]
_WEEKEND: Final = _POS["is_weekend"]
_NIGHT: Final = _POS["is_night"]
_RATIO: Final = _POS["amount_to_user_avg_30d"]
_USER_POS: Final = tuple(_POS[n] for n in features.USER_FEATURES)
_TERMINAL_POS: Final = tuple(_POS[n] for n in features.TERMINAL_FEATURES)
#: index of user_avg_amount_30d inside a user record (the ratio's denominator)
_USER_AVG30: Final = features.USER_FEATURES.index("user_avg_amount_30d")

#: A stored record's values, in ``features.USER_FEATURES`` / ``TERMINAL_FEATURES`` order.
Values = tuple[float, ...]


def _parse(raw: bytes | str, names: tuple[str, ...]) -> Values:
    """The values of a Redis record; ValueError/KeyError/TypeError as :func:`features._load`."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # what orjson refuses but json accepts (NaN, Infinity): the contract's own parser
        user = names is features.USER_FEATURES
        kind = features.UserFeatures if user else features.TerminalFeatures
        values = kind.from_redis(raw).values
        return tuple(values[n] for n in names)
    if record.get("fingerprint") != FINGERPRINT:
        raise ValueError(f"feature record has fingerprint {record.get('fingerprint')!r}")
    str(record["id"])
    dt.datetime.fromisoformat(record["as_of"])  # a record the contract would refuse is refused
    return tuple([float(record[n]) for n in names])


def parse_user(raw: bytes | str) -> Values:
    return _parse(raw, features.USER_FEATURES)


def parse_terminal(raw: bytes | str) -> Values:
    return _parse(raw, features.TERMINAL_FEATURES)


def vector(
    amount: float,
    is_international: bool,
    event_time: dt.datetime,
    user: Values | None,
    terminal: Values | None,
) -> list[float]:
    """``features.to_array(features.build_features(...))`` from parsed records."""
    out = list(DEFAULT_VECTOR)
    amount = float(amount)
    out[_AMOUNT] = amount
    out[_INTL] = float(is_international)
    t = event_time.astimezone(dt.UTC) if event_time.tzinfo else event_time
    out[_WEEKEND] = float(t.weekday() >= 5)
    out[_NIGHT] = float(t.hour < features.NIGHT_END_HOUR)
    if user is not None:
        for pos, value in zip(_USER_POS, user, strict=True):
            out[pos] = value
        avg = user[_USER_AVG30]
    else:
        avg = DEFAULT_VECTOR[_USER_POS[_USER_AVG30]]
    if terminal is not None:
        for pos, value in zip(_TERMINAL_POS, terminal, strict=True):
            out[pos] = value
    out[_RATIO] = features.amount_ratio(amount, avg)
    return out
