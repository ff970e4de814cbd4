"""The Handbook's train/test protocol: by time, with the label delay, never at random.

Days are UTC calendar days of ``event_date``. Counting back from the last day of data:

    | burn-in | train (train_days) | delay (LABEL_DELAY_DAYS) | test (test_days) |

- **burn-in**: the first ``burn_in_days`` are dropped: their windows see no history yet.
- **train**: ``train_days`` days (default: every day between the burn-in and the delay).
- **delay**: ``features.LABEL_DELAY_DAYS`` (1) days skipped: at the end of the training
  period their labels are not known yet, so a model deployed then could not have used them.
- **test**: the last ``test_days`` days.
- Like the Handbook, the test set drops cards (users) *known* to be compromised: those
  with a fraud in the training period and, for test day ``k``, those with a fraud on the
  first ``k`` delay days (known by then). Investigators have blocked those cards already;
  scoring them again would flatter the model.

**Validation** (the Handbook's prequential validation, chapter 5): the model family is
chosen on folds that end before the test window. Fold 1 has the same shape as the final
split, shifted back so that its test window is the final *training* window (its labels
are known when the final model is trained); fold ``k`` is fold 1 shifted back by
``k - 1`` test windows. Each fold keeps the delay between its training and test days and
drops its own known-compromised cards. The test window itself is never looked at before
the chosen model is scored on it, once.

For a 30-day backfill the defaults give burn-in days 0-6 (7 days: the 1 h, 24 h and 7 d
windows are filled; the 30-day windows only fill on longer histories), train days 7-21
(15 days), delay day 22, test days 23-29 (7 days), and one validation fold: train days
7-13, delay day 14, validation days 15-21. The Handbook itself trains on 7 days with a
7-day delay: pass ``train_days=7, delay_days=7`` for its exact protocol
(``fraud-train --protocol handbook``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from fraud_contracts import features

if TYPE_CHECKING:
    from training.settings import TrainingSettings


class SplitError(ValueError):
    """The data does not cover the requested periods."""


@dataclass(frozen=True)
class Window:
    """Day bounds of one split (``end`` exclusive), all UTC dates."""

    train_start: date
    train_end: date
    test_start: date
    test_end: date

    def as_tags(self) -> dict[str, str]:
        return {
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
        }

    @classmethod
    def from_tags(cls, tags: dict[str, Any]) -> Window:
        return cls(
            *(
                date.fromisoformat(str(tags[k]))
                for k in ("train_start", "train_end", "test_start", "test_end")
            )
        )


@dataclass(frozen=True)
class Split:
    window: Window
    train: pd.DataFrame
    test: pd.DataFrame
    removed_known_compromised: int


def plan(
    first_day: date,
    last_day: date,
    burn_in_days: int = 7,
    train_days: int | None = None,
    test_days: int = 7,
    delay_days: int = features.LABEL_DELAY_DAYS,
) -> Window:
    """The windows for data covering ``first_day``..``last_day`` (inclusive)."""
    test_end = last_day + timedelta(days=1)
    test_start = test_end - timedelta(days=test_days)
    train_end = test_start - timedelta(days=delay_days)
    earliest = first_day + timedelta(days=burn_in_days)
    train_start = earliest if train_days is None else train_end - timedelta(days=train_days)
    if train_start < earliest or train_start >= train_end:
        span = (last_day - first_day).days + 1
        raise SplitError(
            f"{span} days of data cannot hold a {burn_in_days}-day burn-in, "
            f"{train_days or 1}+ training days, a {delay_days}-day delay and "
            f"{test_days} test days"
        )
    return Window(train_start, train_end, test_start, test_end)


def apply(frame: pd.DataFrame, window: Window) -> Split:
    """Train and test rows of ``frame`` for ``window`` (test without known-compromised cards)."""
    day = frame["event_date"]
    train = frame[(day >= window.train_start) & (day < window.train_end)]
    test = frame[(day >= window.test_start) & (day < window.test_end)]
    frauds = frame[frame[features.LABEL] == 1]
    known_from_train = set(train.loc[train[features.LABEL] == 1, "user_id"])
    keep = pd.Series(True, index=test.index)
    for test_day, rows in test.groupby("event_date"):
        offset = (test_day - window.test_start).days
        # Handbook: on test day k, frauds of the first k delay days are known too
        newly = frauds[
            (frauds["event_date"] >= window.train_end)
            & (frauds["event_date"] < window.train_end + timedelta(days=offset))
        ]
        known = known_from_train | set(newly["user_id"])
        keep.loc[rows.index] = ~rows["user_id"].isin(known)
    removed = int((~keep).sum())
    return Split(window, train.copy(), test[keep].copy(), removed)


def split(
    frame: pd.DataFrame,
    burn_in_days: int = 7,
    train_days: int | None = None,
    test_days: int = 7,
    delay_days: int = features.LABEL_DELAY_DAYS,
) -> Split:
    """Plan the windows from the data's own first and last day, then apply them."""
    if frame.empty:
        raise SplitError("no data")
    days = frame["event_date"]
    window = plan(days.min(), days.max(), burn_in_days, train_days, test_days, delay_days)
    return apply(frame, window)


def validation_windows(
    final: Window,
    earliest: date,
    n_folds: int,
    train_days: int | None = None,
    test_days: int = 7,
    delay_days: int = features.LABEL_DELAY_DAYS,
) -> list[Window]:
    """Up to ``n_folds`` prequential validation windows before ``final``'s test window.

    Fold ``k`` (0-based) validates on ``[final.train_end - (k + 1) * test_days,
    final.train_end - k * test_days)`` and trains on the ``train_days`` days (default:
    every day from ``earliest``) that end ``delay_days`` before that. Folds that do not
    fit after ``earliest`` (with at least ``train_days`` days, or one day) are left out.
    """
    out: list[Window] = []
    for k in range(n_folds):
        test_end = final.train_end - timedelta(days=k * test_days)
        test_start = test_end - timedelta(days=test_days)
        train_end = test_start - timedelta(days=delay_days)
        train_start = earliest if train_days is None else train_end - timedelta(days=train_days)
        if train_start < earliest or (train_end - train_start).days < (train_days or 1):
            break
        out.append(Window(train_start, train_end, test_start, test_end))
    return out


def with_validation(
    frame: pd.DataFrame,
    burn_in_days: int = 7,
    train_days: int | None = None,
    test_days: int = 7,
    delay_days: int = features.LABEL_DELAY_DAYS,
    n_folds: int = 4,
    allow_none: bool = False,
) -> tuple[Split, list[Split]]:
    """The final split and its validation folds (most recent first); at least one fold
    unless ``allow_none``. A fold whose training or validation rows lack frauds or
    genuine transactions (e.g. days missing from the data) is left out."""
    final = split(frame, burn_in_days, train_days, test_days, delay_days)
    earliest = frame["event_date"].min() + timedelta(days=burn_in_days)
    windows = validation_windows(final.window, earliest, n_folds, train_days, test_days, delay_days)
    folds = [f for f in (apply(frame, w) for w in windows) if _usable(f)]
    if not folds and not allow_none:
        raise SplitError(
            f"no validation fold fits before the training window {final.window.train_start}.."
            f"{final.window.train_end}: simulate or load more days"
        )
    return final, folds


def _usable(fold: Split) -> bool:
    """Both classes in the fold's training rows and in its validation rows."""
    return all(len(p) and p[features.LABEL].nunique() == 2 for p in (fold.train, fold.test))


def settings_split(
    frame: pd.DataFrame, settings: TrainingSettings, allow_none: bool = False
) -> tuple[Split, list[Split]]:
    """:func:`with_validation` with the windows of ``settings``."""
    return with_validation(
        frame,
        settings.burn_in_days,
        settings.train_days,
        settings.test_days,
        settings.delay_days,
        settings.validation_folds,
        allow_none=allow_none,
    )
