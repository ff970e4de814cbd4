"""Feature drift, measured live: the population stability index (PSI) of the vectors the
API served in the last hour against a reference sample of gold's vectors.

**PSI** (the credit-scoring definition): a feature's reference values are cut into bins;
with ``r_i`` and ``c_i`` the shares of the reference and of the current values in bin
``i``,

    PSI = sum_i (c_i - r_i) * ln(c_i / r_i)

(the symmetrised Kullback-Leibler divergence of the binned distributions). The usual
reading (:data:`MODERATE`, :data:`SIGNIFICANT`): under 0.1 stable, 0.1 to 0.2 a moderate
shift, over 0.2 a significant one.

**Bins** (:func:`cut_points`): ``bins`` equal-frequency bins on the reference's
quantiles, deduplicated, where a value holding at least ``1 / bins`` of the reference (the
0 of a 1-hour count) is a bin of its own; a feature with at most ``bins`` distinct values
(a count that is 0 to 3, a flag) has one bin per value. The outer bins are open-ended:
current values outside the reference's range land in them (for a discrete feature, in the
bins beside its values, which the reference leaves empty). An empty bin's share counts as
:data:`EPSILON`: a large but finite term. :func:`measure` rounds both sides to float32
first (the served vectors are logged as the model's float32 input).

**Reference**: gold's point-in-time vectors (``gold.mart_fraud_features``, through Trino),
a random sample of the ``reference_days`` before the current window (:func:`reference_sql`).
Not the production model's training window: its dates are tags of the model version in
MLflow, which the monitor does not reach, and a training window that starts a week into
the history (the burn-in) holds 30-day windows only partly filled, unlike any served
vector. Recent gold is what the served vectors should resemble when nothing is broken;
how far recent traffic is from the training window shows in the live quality
(``fraud_model_live_*``).

**Current**: the served vectors of the last hour (``predictions.features``, only answers
from a current online state, ``feature_source = 'redis'``: :data:`training.skew.SAMPLE_SQL`),
sampled the same way.

The live model monitor (:mod:`training.monitor`) runs :func:`measure` each pass with a
reference kept across passes (:class:`ReferenceCache`) and exports the result
(``fraud_feature_psi*``).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fraud_contracts import features
from fraud_contracts.names import MART_FRAUD_FEATURES
from training.skew import Query

#: A one-hour window of served vectors holds one value of each of these (it is night or
#: not, a weekend or not): their "drift" is the clock's, so they are never measured.
CALENDAR_FEATURES = frozenset({"is_night", "is_weekend"})
#: the features :func:`measure` reports, in the contract's order
MEASURED = tuple(name for name in features.FEATURE_NAMES if name not in CALENDAR_FEATURES)
#: the share an empty bin counts as (a finite PSI term)
EPSILON = 1e-4
#: equal-frequency bins of a continuous feature
BINS = 10
#: the usual reading of a PSI: a moderate shift from this value, a significant one from this
MODERATE, SIGNIFICANT = 0.1, 0.2


def cut_points(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The sorted cut points of a feature's bins: bin ``k`` holds the values ``x`` with
    ``cuts[k-1] <= x < cuts[k]``; below ``cuts[0]`` and from ``cuts[-1]`` on, the outer
    bins (see the module docstring)."""
    values = _finite(reference)
    if values.size == 0:
        return np.empty(0)
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size <= bins:  # every value a bin of its own
        cuts = masses = distinct
    else:
        masses = distinct[counts >= values.size / bins]
        cuts = np.quantile(values, np.arange(1, bins) / bins)
    # [v, nextafter(v)) holds v alone: a point mass is a bin of its own
    return np.unique(np.concatenate([cuts, masses, np.nextafter(masses, np.inf)]))


def shares(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """The share of ``values`` in each of the ``len(cuts) + 1`` bins (raw, not smoothed)."""
    finite = _finite(values)
    counts = np.bincount(np.searchsorted(cuts, finite, side="right"), minlength=cuts.size + 1)
    return counts / max(finite.size, 1)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = BINS) -> float:
    """The PSI of one feature's current values against its reference values."""
    cuts = cut_points(reference, bins)
    ref = np.maximum(shares(reference, cuts), EPSILON)
    cur = np.maximum(shares(current, cuts), EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


@dataclass(frozen=True)
class Drift:
    """The PSI of each measured feature; empty while a side had too few rows."""

    reference_rows: int
    current_rows: int
    psi: Mapping[str, float] = field(default_factory=dict)
    #: the largest PSI and its feature (NaN, None: nothing measured)
    max_psi: float = math.nan
    worst: str | None = None


def measure(reference: np.ndarray, current: np.ndarray, min_rows: int = 1) -> Drift:
    """Per-feature PSI of two ``(n, len(FEATURE_NAMES))`` arrays (calendar features
    excluded); none while either has fewer than ``min_rows`` rows."""
    width = len(features.FEATURE_NAMES)
    for side in (reference, current):
        if side.ndim != 2 or side.shape[1] != width:
            raise ValueError(f"expected (n, {width}) arrays, got {side.shape}")
    n_ref, n_cur = reference.shape[0], current.shape[0]
    if min(n_ref, n_cur) < max(min_rows, 1):
        return Drift(n_ref, n_cur)
    ref32, cur32 = (_float32(side) for side in (reference, current))
    column = {name: j for j, name in enumerate(features.FEATURE_NAMES)}
    values = {name: psi(ref32[:, column[name]], cur32[:, column[name]]) for name in MEASURED}
    worst = max(values, key=values.__getitem__)
    return Drift(n_ref, n_cur, values, values[worst], worst)


def reference_window(
    current_start: dt.datetime, reference_days: float
) -> tuple[dt.datetime, dt.datetime]:
    """The event-time window of the reference: the days before the current window."""
    return current_start - dt.timedelta(days=reference_days), current_start


def reference_sql(catalog: str, start: dt.datetime, end: dt.datetime, sample: int) -> str:
    """A random sample of ``sample`` of gold's vectors with event time in [start, end)."""
    columns = ", ".join(features.FEATURE_NAMES)
    return (
        f"SELECT {columns} FROM {catalog}.gold.{MART_FRAUD_FEATURES} "  # noqa: S608
        f"WHERE event_date BETWEEN DATE '{start.date().isoformat()}' "
        f"AND DATE '{end.date().isoformat()}' "
        f"AND event_time >= from_iso8601_timestamp('{start.isoformat()}') "
        f"AND event_time < from_iso8601_timestamp('{end.isoformat()}') "
        f"ORDER BY random() LIMIT {int(sample)}"
    )


def reference_vectors(
    query: Query, catalog: str, start: dt.datetime, end: dt.datetime, sample: int
) -> np.ndarray:
    """The ``(n, len(FEATURE_NAMES))`` reference sample (NULLs as NaN: not binned)."""
    rows = query(reference_sql(catalog, start, end, sample))
    return as_vectors([[math.nan if v is None else float(v) for v in row] for row in rows])


class ReferenceCache:
    """The last reference sample, fetched again once older than the caller's maximum age
    (an empty one is not kept: gold may have filled in by the next pass)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._vectors: np.ndarray | None = None
        self._fetched_at = -math.inf

    def get(self, fetch: Callable[[], np.ndarray], max_age_seconds: float) -> np.ndarray:
        if self._vectors is not None and self._clock() - self._fetched_at < max_age_seconds:
            return self._vectors
        vectors = fetch()
        self._vectors = vectors if vectors.shape[0] else None
        self._fetched_at = self._clock()
        return vectors


def as_vectors(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Rows of ``len(FEATURE_NAMES)`` values as an ``(n, len(FEATURE_NAMES))`` array."""
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(features.FEATURE_NAMES))


def _float32(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32).astype(np.float64)


def _finite(values: np.ndarray) -> np.ndarray:
    flat: np.ndarray = np.asarray(values, dtype=np.float64).ravel()
    finite: np.ndarray = flat[np.isfinite(flat)]
    return finite
