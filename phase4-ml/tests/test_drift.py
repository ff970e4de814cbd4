"""Feature drift (training/drift.py): the PSI on hand-computed examples, its bins on
continuous, mostly-zero and discrete features, and what measure() reports."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from fraud_contracts import features
from training import drift

pytestmark = pytest.mark.unit

EPS = 1e-4  # the documented smoothing of an empty bin
N = 5_000


def rng() -> np.random.Generator:
    return np.random.default_rng(20261207)


def psi_of_shares(ref: list[float], cur: list[float]) -> float:
    """The definition, written out: sum((c - r) * ln(c / r)), empty shares as EPSILON."""
    return sum(
        (max(c, EPS) - max(r, EPS)) * math.log(max(c, EPS) / max(r, EPS))
        for r, c in zip(ref, cur, strict=True)
    )


def test_identical_samples_have_no_drift() -> None:
    values = rng().lognormal(3.0, 1.0, N)
    assert drift.psi(values, values) == pytest.approx(0.0, abs=1e-12)
    assert drift.psi(values, values[::-1].copy()) == pytest.approx(0.0, abs=1e-12)


def test_psi_of_a_small_discrete_example_is_the_formula() -> None:
    reference = np.repeat([0.0, 1.0, 2.0, 3.0], 25)  # a quarter each: one bin per value
    current = np.repeat([0.0, 1.0, 2.0, 3.0], [10, 20, 30, 40])
    expected = (
        (0.10 - 0.25) * math.log(0.10 / 0.25)
        + (0.20 - 0.25) * math.log(0.20 / 0.25)
        + (0.30 - 0.25) * math.log(0.30 / 0.25)
        + (0.40 - 0.25) * math.log(0.40 / 0.25)
    )
    assert drift.psi(reference, current) == pytest.approx(expected, rel=1e-12)
    # no 3 at all: its share counts as EPSILON, a large but finite term
    no_threes = np.repeat([0.0, 1.0, 2.0], [20, 30, 50])
    expected = psi_of_shares([0.25] * 4, [0.2, 0.3, 0.5, 0.0])
    assert drift.psi(reference, no_threes) == pytest.approx(expected, rel=1e-12)
    assert 1.0 < expected < math.inf


def test_a_feature_with_few_distinct_values_has_one_bin_per_value() -> None:
    reference = np.repeat([0.0, 1.0, 2.0, 3.0], [50, 3, 2, 45])  # 1 and 2 rare, side by side
    cuts = drift.cut_points(reference)
    held = drift.shares(reference, cuts)
    assert held[held > 0].tolist() == pytest.approx([0.50, 0.03, 0.02, 0.45])
    swapped = np.repeat([0.0, 1.0, 2.0, 3.0], [50, 2, 3, 45])
    expected = psi_of_shares([0.50, 0.03, 0.02, 0.45], [0.50, 0.02, 0.03, 0.45])
    assert drift.psi(reference, swapped) == pytest.approx(expected, rel=1e-12)


def test_a_shifted_normal_drifts_and_a_resample_does_not() -> None:
    r = rng()
    reference = r.normal(0.0, 1.0, N)
    assert drift.psi(reference, r.normal(0.5, 1.0, N)) > drift.SIGNIFICANT
    assert drift.psi(reference, r.normal(0.0, 1.0, N)) < 0.05


def test_a_mostly_zero_count_keeps_its_zero_in_a_bin_of_its_own() -> None:
    r = rng()
    reference = r.poisson(0.1, N).astype(np.float64)  # ~90 % zeros, like a 1-hour count
    assert drift.psi(reference, r.poisson(0.1, N).astype(np.float64)) < 0.05
    assert drift.psi(reference, r.poisson(1.0, N).astype(np.float64)) > drift.SIGNIFICANT
    # a continuous feature that is mostly 0 (an average over an empty window): 0 alone
    mixed = np.where(r.random(N) < 0.6, 0.0, r.lognormal(3.0, 1.0, N))
    cuts = drift.cut_points(mixed)
    zero_bin = int(np.argmax(drift.shares(np.array([0.0]), cuts)))
    assert drift.shares(np.array([1e-9]), cuts)[zero_bin] == 0.0  # not with the smallest
    assert drift.shares(mixed, cuts)[zero_bin] == pytest.approx(np.mean(mixed == 0.0))


def test_current_values_outside_the_reference_land_in_the_outer_bins() -> None:
    reference = np.linspace(0.0, 1.0, 1_000)  # ten bins of 10 %
    cuts = drift.cut_points(reference)
    assert len(cuts) == 9
    above, below = drift.shares(np.full(50, 5.0), cuts), drift.shares(np.full(50, -5.0), cuts)
    assert above[-1] == 1.0 and above[:-1].sum() == 0.0
    assert below[0] == 1.0 and below[1:].sum() == 0.0
    expected = psi_of_shares([0.1] * 10, [0.0] * 9 + [1.0])
    assert drift.psi(reference, np.full(50, 5.0)) == pytest.approx(expected, rel=1e-9)
    # a count never above 3 in the reference: a 7 falls in the bin past the 3s, left empty
    counts = np.repeat([0.0, 1.0, 2.0, 3.0], 25)
    past = drift.shares(np.array([7.0]), drift.cut_points(counts))
    assert past[-1] == 1.0 and drift.shares(counts, drift.cut_points(counts))[-1] == 0.0


def test_missing_values_are_not_binned() -> None:
    reference = np.repeat([0.0, 1.0], 50)
    with_nan = np.concatenate([reference, np.full(10, np.nan)])
    assert drift.psi(reference, with_nan) == pytest.approx(0.0, abs=1e-12)


def vectors(r: np.random.Generator, n: int) -> np.ndarray:
    return r.lognormal(1.0, 1.0, (n, len(features.FEATURE_NAMES)))


def test_measure_reports_every_feature_but_the_calendar_ones() -> None:
    r = rng()
    reference, current = vectors(r, N), vectors(r, N)
    column = {name: j for j, name in enumerate(features.FEATURE_NAMES)}
    reference[:, column["is_night"]], current[:, column["is_night"]] = 0.0, 1.0
    reference[:, column["is_weekend"]], current[:, column["is_weekend"]] = 1.0, 0.0
    current[:, column["terminal_risk_7d"]] *= 3.0
    result = drift.measure(reference, current, min_rows=200)
    assert "is_night" not in result.psi and "is_weekend" not in result.psi
    assert len(result.psi) == len(features.FEATURE_NAMES) - 2
    assert set(result.psi) | {"is_night", "is_weekend"} == set(features.FEATURE_NAMES)
    assert (result.reference_rows, result.current_rows) == (N, N)
    assert result.worst == "terminal_risk_7d"
    assert result.max_psi == result.psi["terminal_risk_7d"] > drift.SIGNIFICANT
    assert all(v < 0.05 for k, v in result.psi.items() if k != "terminal_risk_7d")


def test_measure_compares_the_float32_values_the_api_logs() -> None:
    third = np.full((300, len(features.FEATURE_NAMES)), 1 / 3)  # gold's float64 values
    served = third.astype(np.float32).astype(np.float64)  # the model's float32 input
    assert drift.psi(third[:, 0], served[:, 0]) > 1.0  # raw: different values
    assert drift.measure(third, served).max_psi == pytest.approx(0.0, abs=1e-12)


def test_measure_reports_nothing_below_the_minimum_and_checks_shapes() -> None:
    r = rng()
    result = drift.measure(vectors(r, 1_000), vectors(r, 199), min_rows=200)
    assert (result.reference_rows, result.current_rows) == (1_000, 199)
    assert result.psi == {} and math.isnan(result.max_psi) and result.worst is None
    assert drift.measure(vectors(r, 199), vectors(r, 1_000), min_rows=200).psi == {}
    with pytest.raises(ValueError, match="expected"):
        drift.measure(vectors(r, 10)[:, 1:], vectors(r, 10))


def test_the_reference_is_a_sample_of_gold_before_the_window() -> None:
    start = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
    ref_start, ref_end = drift.reference_window(start, 14.0)
    assert (ref_start, ref_end) == (dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC), start)
    width = len(features.FEATURE_NAMES)
    seen: list[str] = []

    def query(sql: str) -> list[tuple[object, ...]]:
        seen.append(sql)
        return [tuple(float(i) for i in range(width)), (None, *[1.0] * (width - 1))]

    got = drift.reference_vectors(query, "delta", ref_start, ref_end, 20_000)
    (sql,) = seen
    assert "FROM delta.gold.mart_fraud_features" in sql
    assert "event_date BETWEEN DATE '2026-11-23' AND DATE '2026-12-07'" in sql
    assert "event_time >= from_iso8601_timestamp('2026-11-23T10:00:00+00:00')" in sql
    assert "event_time < from_iso8601_timestamp('2026-12-07T10:00:00+00:00')" in sql
    assert sql.endswith("ORDER BY random() LIMIT 20000")
    assert got.shape == (2, width) and math.isnan(got[1, 0])  # NULL: not binned
    assert drift.reference_vectors(lambda sql: [], "delta", ref_start, ref_end, 5).shape == (
        0,
        width,
    )


def test_the_reference_is_kept_until_it_is_old_and_an_empty_one_is_not() -> None:
    now = [0.0]
    cache = drift.ReferenceCache(clock=lambda: now[0])
    fetched: list[int] = []

    def fetch(rows: int) -> np.ndarray:
        fetched.append(rows)
        return np.zeros((rows, len(features.FEATURE_NAMES)))

    assert cache.get(lambda: fetch(0), 3600).shape[0] == 0
    assert cache.get(lambda: fetch(5), 3600).shape[0] == 5  # an empty one is asked again
    now[0] = 3599.0
    assert cache.get(lambda: fetch(7), 3600).shape[0] == 5
    now[0] = 3600.0
    assert cache.get(lambda: fetch(7), 3600).shape[0] == 7
    assert fetched == [0, 5, 7]
