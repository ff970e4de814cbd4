"""Features as of an earlier time (``compute_features(..., at=...)``): what a batch
snapshot taken at ``a`` served for a transaction at ``t >= a``, exactly as the contract's
reference defines it (its records at ``a``, the vector with the transaction's own request
features and amount)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fraud_contracts import features
from training import data

pytestmark = pytest.mark.unit

T0 = features.to_ms(dt.datetime(2026, 2, 2, tzinfo=dt.UTC))
MINUTE = 60_000


def _events(seed: int, n: int = 500) -> dict[str, np.ndarray]:
    """A few users and terminals over 40 days, bursts at equal instants, frauds whose
    labels come before, at and long after the risk delay."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, 8, n).astype(np.int64)
    terminal = rng.integers(0, 6, n).astype(np.int64)
    time_ms = np.sort(T0 + rng.integers(0, 40 * features.DAY_MS, n)).astype(np.int64)
    # bursts: a few events minutes apart, some at the same instant, on one card
    time_ms[100:106] = time_ms[100] + np.array([0, 0, 1, 2, 7, 14]) * MINUTE
    user[100:106] = user[100]
    terminal[100:106] = terminal[100]
    amount = np.round(rng.lognormal(3.5, 1.0, n), 2)
    amount[200:204] = 25.0  # flat stretches
    delay = rng.choice([0, features.LABEL_DELAY_MS, 3 * features.DAY_MS], n)
    reported = np.where(rng.random(n) < 0.15, time_ms + delay, -1).astype(np.int64)
    return {
        "user": user,
        "terminal": terminal,
        "time_ms": time_ms,
        "amount": amount,
        "intl": rng.random(n) < 0.2,
        "reported": reported,
    }


def _boundaries() -> list[int]:
    """Offsets from an event's time at which a query time sits on a window's bound."""
    d = features.LABEL_DELAY_MS
    widths = [*features.WINDOWS.values(), *(d + w for w in features.RISK_WINDOWS.values())]
    return [0, 1, d, d + 1, *widths, *(w + 1 for w in widths)]


def _as_of(ev: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """A third of the query times the 15-minute pipeline's (runs of 6 minutes), a third
    at random up to two days earlier, a third on a window bound of an event of the same
    card or terminal (its time, or its label's, plus a window's width, or one ms more)."""
    rng = np.random.default_rng(seed + 1)
    time_ms = ev["time_ms"]
    step, run = 15 * MINUTE, 6 * MINUTE
    pipeline = step * ((time_ms - run) // step)
    anywhere = time_ms - rng.integers(0, 2 * features.DAY_MS, len(time_ms))
    at = np.where(rng.random(len(time_ms)) < 0.5, pipeline, anywhere)
    offsets = _boundaries()
    for i in np.flatnonzero(rng.random(len(time_ms)) < 1 / 3):
        column = "user" if rng.random() < 0.5 else "terminal"
        others = np.flatnonzero(ev[column] == ev[column][i])
        reported = ev["reported"][others]
        anchors = np.concatenate([time_ms[others], reported[reported >= 0]])
        bounds = (anchors[:, None] + np.array(offsets)[None, :]).ravel()
        bounds = bounds[bounds <= time_ms[i]]
        if len(bounds):
            at[i] = rng.choice(bounds)
    out: np.ndarray = np.minimum(at, time_ms).astype(np.int64)
    return out


def _reference(ev: dict[str, np.ndarray], i: int, at_ms: int) -> dict[str, float]:
    """The contract's vector for transaction ``i`` from its card's and terminal's records
    as of ``at_ms``."""

    def history(column: str) -> list[features.Event]:
        same = np.flatnonzero(ev[column] == ev[column][i])
        return [
            features.Event(
                int(ev["time_ms"][j]),
                float(ev["amount"][j]),
                int(ev["reported"][j]) if ev["reported"][j] >= 0 else None,
            )
            for j in same
        ]

    def moment(ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)

    amount, intl = float(ev["amount"][i]), bool(ev["intl"][i])
    snapshot = features.TransactionContext(amount, intl, moment(at_ms))
    user, terminal = features.reference_records(snapshot, history("user"), history("terminal"))
    now = features.TransactionContext(amount, intl, moment(int(ev["time_ms"][i])))
    return features.build_features(now, user, terminal)


def _compute(ev: dict[str, np.ndarray], at: np.ndarray | None) -> dict[str, np.ndarray]:
    return data.compute_features(
        ev["user"],
        ev["terminal"],
        ev["time_ms"],
        ev["amount"],
        ev["intl"],
        ev["reported"],
        at=at,
    )


@pytest.mark.parametrize("seed", [5, 11])
def test_as_of_features_equal_the_reference_records_at_that_time(seed: int) -> None:
    ev = _events(seed)
    at = _as_of(ev, seed)
    got = _compute(ev, at)
    stale = 0
    for i in range(len(at)):
        ref = _reference(ev, i, int(at[i]))
        for name in features.FEATURE_NAMES:
            assert got[name][i] == pytest.approx(ref[name], rel=1e-12, abs=1e-12), (i, name)
        now = _reference(ev, i, int(ev["time_ms"][i]))
        stale += any(now[name] != ref[name] for name in features.FEATURE_NAMES)
    assert stale > len(at) // 2  # the query times matter for most rows
    assert any(got["terminal_risk_30d"] > 0) and any(got["amount_zscore_30d"] != 0)


def test_as_of_the_transactions_own_time_is_the_point_in_time_vector() -> None:
    ev = _events(3, 2_000)
    fresh = _compute(ev, None)
    same = _compute(ev, ev["time_ms"].copy())
    for name in features.FEATURE_NAMES:
        np.testing.assert_array_equal(same[name], fresh[name], err_msg=name)


def test_a_query_time_after_the_transaction_is_refused() -> None:
    ev = _events(3, 300)
    with pytest.raises(ValueError, match="point in time"):
        _compute(ev, ev["time_ms"] + 1)
