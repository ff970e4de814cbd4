"""The stored value of a record: the contract's JSON, written and read back.

Writes use the contract itself (``UserFeatures.to_redis``). Reads are on the scoring hot
path, so :func:`parse_user` / :func:`parse_terminal` decode a value with orjson straight
into a tuple of floats in the contract's order, with the fingerprint computed once per
process instead of per record, and refuse exactly what ``UserFeatures.from_redis`` /
``TerminalFeatures.from_redis`` refuse (``tests/test_serving_vectors.py`` holds them to
it). :func:`decode_user` / :func:`decode_terminal` are the backends' read: the values, or
``None`` for a missing or unreadable record, counted in the store's metrics.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import orjson
from prometheus_client import Counter

from fraud_contracts import features
from serving import metrics
from serving.feature_store.base import Record, Values

FINGERPRINT: Final = features.fingerprint()

_HIT_USER, _HIT_TERMINAL = (metrics.CACHE_HITS.labels(k) for k in ("user", "terminal"))
_MISS_USER, _MISS_TERMINAL = (metrics.CACHE_MISSES.labels(k) for k in ("user", "terminal"))
_BAD_RECORD = metrics.CACHE_ERRORS.labels("bad_record")


def encode(record: Record) -> str:
    """The stored value of ``record``."""
    return record.to_redis()


def _parse(raw: bytes | str, names: tuple[str, ...]) -> Values:
    """The values of a stored record; ValueError/KeyError/TypeError as the contract's."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # what orjson refuses but json accepts (NaN, Infinity): the contract's own parser
        user = names is features.USER_RECORD
        kind = features.UserFeatures if user else features.TerminalFeatures
        values = kind.from_redis(raw).values
        return tuple(values[n] for n in names)
    if record.get("fingerprint") != FINGERPRINT:
        raise ValueError(f"feature record has fingerprint {record.get('fingerprint')!r}")
    str(record["id"])
    dt.datetime.fromisoformat(record["as_of"])  # a record the contract would refuse is refused
    return tuple([float(record[n]) for n in names])


def parse_user(raw: bytes | str) -> Values:
    return _parse(raw, features.USER_RECORD)


def parse_terminal(raw: bytes | str) -> Values:
    return _parse(raw, features.TERMINAL_FEATURES)


def _decode(
    raw: bytes | str | None, names: tuple[str, ...], hit: Counter, miss: Counter
) -> Values | None:
    if raw is None:
        metrics.HOT.inc(miss)
        return None
    try:
        values = _parse(raw, names)
    except (ValueError, KeyError, TypeError):
        _BAD_RECORD.inc()
        return None
    metrics.HOT.inc(hit)
    return values


def decode_user(raw: bytes | str | None) -> Values | None:
    """A user's stored values, or None when absent (a miss: no history) or unreadable
    (another feature version, or corrupt: treated as absent, loudly)."""
    return _decode(raw, features.USER_RECORD, _HIT_USER, _MISS_USER)


def decode_terminal(raw: bytes | str | None) -> Values | None:
    """A terminal's stored values (see :func:`decode_user`)."""
    return _decode(raw, features.TERMINAL_FEATURES, _HIT_TERMINAL, _MISS_TERMINAL)
