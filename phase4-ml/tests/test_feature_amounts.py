"""The card's amount features (contract version 3) on a hand-computed example, in the
reference definition, the vectorised training path and the serving vector alike."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from fraud_contracts import features
from serving import vectors
from training import data

pytestmark = pytest.mark.unit

T = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
HOUR = features.HOUR_MS


def _events(amounts: list[float], hours_before: list[int]) -> list[features.Event]:
    t = features.to_ms(T)
    return [features.Event(t - h * HOUR, a) for a, h in zip(amounts, hours_before, strict=True)]


def _reference(amount: float, history: list[features.Event]) -> dict[str, float]:
    ctx = features.TransactionContext(amount, False, T)
    return features.reference_features(ctx, history, [])


def test_zscore_and_median_ratio_by_hand() -> None:
    # 10, 30, 50, 70 in the 30 days before; 1,000 and an event at T itself do not count
    history = _events([10.0, 30.0, 50.0, 70.0, 1000.0, 5.0], [1, 2, 3, 700, 24 * 31, 0])
    got = _reference(100.0, history)
    # mean 40, population variance (900 + 100 + 100 + 900) / 4 = 500
    assert got["amount_zscore_30d"] == pytest.approx(60 / math.sqrt(500), rel=1e-12)
    assert got["amount_to_user_median_30d"] == pytest.approx(100 / 40, rel=1e-12)  # (30+50)/2
    assert got["amount_to_user_avg_30d"] == pytest.approx(100 / 40, rel=1e-12)
    # odd count: the middle amount
    odd = _reference(90.0, _events([10.0, 30.0, 500.0], [1, 2, 3]))
    assert odd["amount_to_user_median_30d"] == pytest.approx(3.0)
    assert odd["amount_to_user_avg_30d"] == pytest.approx(90 / 180)


def test_too_little_or_flat_history_gives_the_defaults() -> None:
    assert _reference(50.0, [])["amount_zscore_30d"] == 0.0
    assert _reference(50.0, [])["amount_to_user_median_30d"] == 1.0
    one = _reference(50.0, _events([20.0], [5]))
    assert one["amount_zscore_30d"] == 0.0  # one earlier transaction: no spread
    assert one["amount_to_user_median_30d"] == pytest.approx(2.5)
    flat = _reference(50.0, _events([20.0, 20.0, 20.0], [1, 2, 3]))
    assert flat["amount_zscore_30d"] == 0.0  # a deviation under a cent
    almost = _reference(50.0, _events([20.0, 20.04], [1, 2]))
    assert almost["amount_zscore_30d"] == pytest.approx((50 - 20.02) / 0.02, rel=1e-9)


def test_the_vectorised_training_path_equals_the_reference() -> None:
    rng = np.random.default_rng(3)
    n = 400
    user = rng.integers(0, 12, n).astype(np.int64)
    t0 = features.to_ms(T)
    time_ms = np.sort(t0 + rng.integers(0, 60 * features.DAY_MS, n)).astype(np.int64)
    time_ms[5] = time_ms[4]  # two events at the same instant
    user[5] = user[4]
    amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
    amount[10:14] = 25.0  # flat stretches
    got = data.compute_features(
        user, np.zeros(n, np.int64), time_ms, amount, np.zeros(n, bool), np.full(n, -1)
    )
    for i in range(n):
        history = [
            features.Event(int(time_ms[j]), float(amount[j]))
            for j in range(n)
            if user[j] == user[i]
        ]
        ctx = features.TransactionContext(
            float(amount[i]), False, dt.datetime.fromtimestamp(time_ms[i] / 1000, dt.UTC)
        )
        ref = features.reference_features(ctx, history, [])
        for name in ("amount_zscore_30d", "amount_to_user_median_30d"):
            assert got[name][i] == pytest.approx(ref[name], rel=1e-12, abs=1e-12), (i, name)


def test_the_serving_vector_uses_the_stored_statistics() -> None:
    record = features.UserFeatures(
        "U1",
        T,
        dict.fromkeys(features.USER_FEATURES, 0.0)
        | {
            "user_tx_count_30d": 4.0,
            "user_avg_amount_30d": 40.0,
            "user_std_amount_30d": math.sqrt(500),
            "user_median_amount_30d": 40.0,
        },
    )
    values = tuple(record.values[n] for n in features.USER_RECORD)
    got = dict(
        zip(features.FEATURE_NAMES, vectors.vector(100.0, False, T, values, None), strict=True)
    )
    assert got["amount_zscore_30d"] == pytest.approx(60 / math.sqrt(500))
    assert got["amount_to_user_median_30d"] == pytest.approx(2.5)
    assert "user_std_amount_30d" not in got  # a stored statistic, not a model input
