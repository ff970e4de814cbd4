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

For a 30-day backfill the defaults give burn-in days 0-6 (7 days: the 1 h, 24 h and 7 d
windows are filled; the 30-day windows only fill on longer histories), train days 7-21
(15 days), delay day 22, test days 23-29 (7 days). The Handbook itself trains on 7 days
with a 7-day delay: pass ``train_days=7, delay_days=7`` for its exact protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from fraud_contracts import features


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
) -> Split:
    """Plan the windows from the data's own first and last day, then apply them."""
    if frame.empty:
        raise SplitError("no data")
    days = frame["event_date"]
    window = plan(days.min(), days.max(), burn_in_days, train_days, test_days)
    return apply(frame, window)
