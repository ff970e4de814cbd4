"""The Handbook protocol: time split with the label delay, burn-in, known cards removed."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pandas as pd
import pytest

from fraud_contracts import features
from training.split import Split, SplitError, apply, plan, validation_windows, with_validation

pytestmark = pytest.mark.unit


def test_default_plan_for_a_30_day_backfill() -> None:
    w = plan(date(2026, 1, 1), date(2026, 1, 30))
    assert (w.test_start, w.test_end) == (date(2026, 1, 24), date(2026, 1, 31))
    assert (w.test_start - w.train_end).days == features.LABEL_DELAY_DAYS
    assert w.train_start == date(2026, 1, 8)  # after the 7-day burn-in


def test_handbook_week_plan() -> None:
    """The Handbook's exact protocol: one training week, a 7-day delay, one test week."""
    w = plan(date(2026, 1, 1), date(2026, 1, 30), train_days=7, delay_days=7)
    assert (w.train_start, w.train_end) == (date(2026, 1, 10), date(2026, 1, 17))


def test_too_little_data_is_refused() -> None:
    with pytest.raises(SplitError, match="cannot hold"):
        plan(date(2026, 1, 1), date(2026, 1, 20), delay_days=7)
    with pytest.raises(SplitError):
        plan(date(2026, 1, 1), date(2026, 1, 30), train_days=10, delay_days=7)


def test_no_test_row_before_train_end_plus_delay_and_no_overlap(split_30d: Split) -> None:
    train, test, w = split_30d.train, split_30d.test, split_30d.window
    assert train["event_time"].max() < test["event_time"].min()
    gap = test["event_time"].min() - train["event_time"].max()
    assert gap >= pd.Timedelta(days=features.LABEL_DELAY_DAYS)
    assert (test["event_date"] >= w.train_end + timedelta(days=features.LABEL_DELAY_DAYS)).all()
    assert set(train["transaction_id"]).isdisjoint(test["transaction_id"])
    assert train["event_date"].min() == date(2026, 1, 8)  # 7 burn-in days dropped


def test_known_compromised_cards_are_removed_from_the_test_set(
    frame_30d: pd.DataFrame, split_30d: Split
) -> None:
    train, test, w = split_30d.train, split_30d.test, split_30d.window
    known = set(train.loc[train["is_fraud"] == 1, "user_id"])
    assert known and set(test["user_id"]).isdisjoint(known)
    assert split_30d.removed_known_compromised > 0
    # a card defrauded on the first delay day is kept on test day 0, removed from day 1 on
    frauds = frame_30d[(frame_30d["is_fraud"] == 1) & (frame_30d["event_date"] == w.train_end)]
    first_delay_day = set(frauds["user_id"]) - known
    later = test[test["event_date"] > w.test_start]
    assert set(later["user_id"]).isdisjoint(first_delay_day)


def test_split_on_a_tiny_hand_made_frame() -> None:
    day0 = date(2026, 1, 1)
    rows = []
    for d in range(16):  # burn-in 0, train 1 day, delay 7, test 8
        for user, fraud in (("a", int(d == 0)), ("b", 0), ("c", int(d == 2))):
            ts = pd.Timestamp(day0 + timedelta(days=d), tz="UTC") + pd.Timedelta(hours=12)
            rows.append(
                {
                    "transaction_id": f"{user}{d}",
                    "user_id": user,
                    "event_time": ts,
                    "event_date": (day0 + timedelta(days=d)),
                    "is_fraud": fraud,
                }
            )
    frame = pd.DataFrame(rows)
    w = plan(
        day0, day0 + timedelta(days=15), burn_in_days=0, train_days=1, test_days=8, delay_days=7
    )
    sp = apply(frame, w)
    assert list(sp.train["transaction_id"]) == ["a0", "b0", "c0"]
    assert "a8" not in set(sp.test["transaction_id"])  # a: defrauded in training
    # c: defrauded on delay day 2 (day index 2 = train_end + 1): known from test day 2 on
    kept_c = sorted(sp.test.loc[sp.test["user_id"] == "c", "event_date"])
    assert kept_c == [day0 + timedelta(days=8), day0 + timedelta(days=9)]


def test_one_validation_fold_fits_in_a_30_day_backfill() -> None:
    final = plan(date(2026, 1, 1), date(2026, 1, 30))
    folds = validation_windows(final, date(2026, 1, 8), n_folds=4)
    assert len(folds) == 1
    (v,) = folds
    # its test window is the last week of the final training window: labels known by then
    assert (v.test_start, v.test_end) == (date(2026, 1, 16), final.train_end)
    assert (v.test_start - v.train_end).days == features.LABEL_DELAY_DAYS
    assert (v.train_start, v.train_end) == (date(2026, 1, 8), date(2026, 1, 15))
    assert v.test_end <= final.test_start  # the test window is never validated on


def test_handbook_prequential_folds_are_shifted_by_a_week() -> None:
    final = plan(date(2025, 4, 1), date(2025, 7, 2), burn_in_days=37, train_days=7, delay_days=7)
    folds = validation_windows(
        final, date(2025, 4, 1) + timedelta(days=37), 4, train_days=7, delay_days=7
    )
    assert len(folds) == 4
    assert (folds[0].test_start, folds[0].test_end) == (final.train_start, final.train_end)
    for newer, older in pairwise(folds):
        assert newer.test_start - older.test_start == timedelta(days=7)
    for f in folds:
        assert (f.train_end - f.train_start).days == 7
        assert (f.test_start - f.train_end).days == 7
        assert (f.test_end - f.test_start).days == 7
        assert f.test_end <= final.train_end < final.test_start
    # one day less of data: the oldest fold no longer fits
    fewer = validation_windows(
        final, date(2025, 4, 1) + timedelta(days=38), 4, train_days=7, delay_days=7
    )
    assert len(fewer) == 3


def test_with_validation_applies_each_fold_with_its_own_known_cards(
    frame_30d: pd.DataFrame,
) -> None:
    final, folds = with_validation(frame_30d)
    (fold,) = folds
    assert fold.test["event_date"].max() < final.window.train_end
    assert fold.test["event_date"].max() < final.test["event_date"].min()
    known = set(fold.train.loc[fold.train["is_fraud"] == 1, "user_id"])
    assert known and set(fold.test["user_id"]).isdisjoint(known)


def test_no_fold_fits_is_refused(frame_30d: pd.DataFrame) -> None:
    with pytest.raises(SplitError, match="no validation fold"):
        with_validation(frame_30d, burn_in_days=14)
    final, folds = with_validation(frame_30d, burn_in_days=14, allow_none=True)
    assert folds == [] and final.window.test_end == date(2026, 1, 31)


def test_a_fold_without_data_is_left_out(frame_30d: pd.DataFrame) -> None:
    """Days missing from the data (a gap in the gold mart): the fold is not used."""
    gap = frame_30d[
        (frame_30d["event_date"] < date(2026, 1, 8))
        | (frame_30d["event_date"] >= date(2026, 1, 15))
    ]
    with pytest.raises(SplitError, match="no validation fold"):
        with_validation(gap)
    final, folds = with_validation(gap, allow_none=True)
    assert folds == [] and len(final.test)
