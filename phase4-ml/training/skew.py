"""Training/serving skew, measured live: the vector the API scored with against gold's.

For a live prediction that gold later covers, ``gold.mart_fraud_features`` holds the
point-in-time vector training would have built for the same transaction; the prediction
log holds the one the API built online (``predictions.features``, in the contract's
order, stored as the model's float32 input). :func:`compare` says, per feature, which
share of the values agree (to float32 tolerance) and how large the disagreements are,
and which share of whole vectors agree. Only answers the API gave from a current online
state are compared (``feature_source = 'redis'``): a fallback or a stale answer is
flagged as such already.

The live model monitor (:mod:`training.monitor`) runs :func:`measure` on a sample of each
pass's predictions and exports the result (``fraud_feature_skew_*``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fraud_contracts import features
from fraud_contracts.names import MART_FRAUD_FEATURES, PREDICTIONS_TABLE

#: float32 keeps ~7 significant digits: values equal to this are the same feature value
RTOL, ATOL = 1e-6, 1e-6
#: IN-list size of one gold query
_CHUNK = 1_000


@dataclass(frozen=True)
class Skew:
    """The agreement of ``compared`` logged vectors with gold's."""

    compared: int
    #: share of whole vectors equal to gold's (every feature within tolerance)
    vectors_agree: float
    #: feature -> share of its values equal to gold's
    agree: Mapping[str, float] = field(default_factory=dict)
    #: feature -> median relative difference where they differ (0 where none differ)
    disagreement: Mapping[str, float] = field(default_factory=dict)


def compare(served: np.ndarray, gold: np.ndarray) -> Skew:
    """Two ``(n, len(FEATURE_NAMES))`` arrays, row i the same transaction."""
    if served.shape != gold.shape or served.ndim != 2:
        raise ValueError(f"shapes differ: {served.shape} vs {gold.shape}")
    n = served.shape[0]
    if n == 0:
        return Skew(0, 1.0)
    same = np.isclose(served, gold.astype(np.float32).astype(np.float64), rtol=RTOL, atol=ATOL)
    rel = np.abs(served - gold) / np.maximum(np.abs(gold), 1e-9)
    agree, size = {}, {}
    for j, name in enumerate(features.FEATURE_NAMES):
        agree[name] = float(same[:, j].mean())
        off = rel[~same[:, j], j]
        size[name] = float(np.median(off)) if off.size else 0.0
    return Skew(n, float(same.all(axis=1).mean()), agree, size)


class Query(Protocol):
    def __call__(self, sql: str) -> Sequence[Sequence[Any]]: ...


def gold_vectors(query: Query, catalog: str, ids: Sequence[str]) -> dict[str, list[float]]:
    """Gold's vector of each of ``ids`` that gold holds (through Trino)."""
    columns = ", ".join(features.FEATURE_NAMES)
    out: dict[str, list[float]] = {}
    for i in range(0, len(ids), _CHUNK):
        listed = ", ".join("'" + t.replace("'", "''") + "'" for t in ids[i : i + _CHUNK])
        rows = query(
            f"SELECT transaction_id, {columns} FROM {catalog}.gold.{MART_FRAUD_FEATURES} "  # noqa: S608
            f"WHERE transaction_id IN ({listed})"
        )
        for row in rows:
            out[str(row[0])] = [float(v) for v in row[1:]]
    return out


#: the logged predictions a pass samples: answered from a current online state
SAMPLE_SQL = (
    f"SELECT transaction_id, features FROM {PREDICTIONS_TABLE} "  # noqa: S608
    "WHERE feature_source = 'redis' AND event_time >= %s AND event_time < %s "
    "ORDER BY random() LIMIT %s"
)


def measure(logged: Sequence[tuple[str, Sequence[float]]], query: Query, catalog: str) -> Skew:
    """The skew of logged (transaction_id, features) against gold, over those gold holds."""
    gold = gold_vectors(query, catalog, [t for t, _ in logged])
    both = [(list(v), gold[t]) for t, v in logged if t in gold]
    if not both:
        return Skew(0, 1.0)
    served = np.array([s for s, _ in both], dtype=np.float64)
    offline = np.array([g for _, g in both], dtype=np.float64)
    return compare(served, offline)


def window(
    now: dt.datetime, hours: float, min_age_seconds: float
) -> tuple[dt.datetime, dt.datetime]:
    """The event-time window a pass compares: recent, but old enough for gold to hold."""
    end = now - dt.timedelta(seconds=min_age_seconds)
    return end - dt.timedelta(hours=hours), end
