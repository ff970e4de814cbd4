"""The model's feature contract: the one definition shared by dbt, training and serving.

A transaction's features are computed **point in time**: only events strictly earlier
than the transaction (``event_time < t``) and only fraud labels *reported* before it
(``reported_at < t``) contribute. Windows are half-open, ``[t - w, t)``.

- request features: ``amount``, ``is_international``, ``is_weekend`` (Saturday/Sunday,
  UTC), ``is_night`` (hour <= 6 UTC, i.e. 00:00-06:59, the Handbook's definition);
- per user and per terminal (``merchant_id``), for each of 1 h, 24 h, 7 d and 30 d: the
  number of earlier transactions and their mean amount (``0.0`` when there are none);
- ``amount_to_user_avg_30d``: ``amount / user_avg_amount_30d``, ``1.0`` without history;
- ``amount_zscore_30d``: ``(amount - user_avg_amount_30d) / user_std_amount_30d``, the
  amount against the card's 30-day spending (population standard deviation), ``0.0`` with
  fewer than :data:`ZSCORE_MIN_COUNT` earlier transactions or a deviation under
  :data:`ZSCORE_MIN_STD`;
- ``amount_to_user_median_30d``: ``amount / user_median_amount_30d`` (the median of the
  card's 30-day amounts, the mean of the middle two for an even count), ``1.0`` without
  history. A compromised card's fraudulent amounts inflate its mean and spread but hardly
  its median (docs/model-quality.md);
- terminal risk over 1, 7 and 30 days with the label delay ``D`` (the Handbook's
  protocol): of the terminal's transactions in ``[t - D - w, t - D)``, the share whose
  fraud label was reported before ``t`` (``0.0`` when there are none).

The dbt models (``phase3-transforms/dbt_project``) implement this in SQL for gold and
training; the scoring API computes the per-user and per-terminal records with
:func:`reference_records` from the card's and terminal's events in the online state
(:mod:`fraud_contracts.online`, written by the streaming feature job) and builds the
vector from them and the request (:func:`build_features`; a user's record also holds the
two statistics the amount features divide by, :data:`USER_STATS`, which are not model
inputs themselves). :func:`reference_features` is the executable definition the tests
hold SQL and serving against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

#: 2: night is hour <= 6 (was hour < 6); 3: amount_zscore_30d, amount_to_user_median_30d
FEATURE_VERSION: Final = 3

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS

#: Activity windows for users and terminals: name suffix -> width in milliseconds.
WINDOWS: Final[dict[str, int]] = {
    "1h": HOUR_MS,
    "24h": DAY_MS,
    "7d": 7 * DAY_MS,
    "30d": 30 * DAY_MS,
}
#: Terminal-risk windows (before the label delay): name suffix -> width in milliseconds.
RISK_WINDOWS: Final[dict[str, int]] = {"1d": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS}
#: Label delay D of the terminal-risk features (and of the training split), in days: the
#: platform's label latency (the producer reports labels one day after the transaction,
#: PRODUCER_LABEL_DELAY_SECONDS). The Handbook assumes 7; with 7 on this data the best
#: model reaches AUC 0.862 (Handbook: 0.867), with 1 it reaches 0.96 (README, phase 4).
LABEL_DELAY_DAYS: Final = 1
LABEL_DELAY_MS: Final = LABEL_DELAY_DAYS * DAY_MS
#: Night is hour < NIGHT_END_HOUR in UTC: hours 0-6, the Handbook's ``hour <= 6``.
NIGHT_END_HOUR: Final = 7
#: amount_zscore_30d needs this many earlier transactions in 30 days ...
ZSCORE_MIN_COUNT: Final = 2
#: ... and a standard deviation of at least this much (a cent), else it is 0.0
ZSCORE_MIN_STD: Final = 0.01

REQUEST_FEATURES: Final = ("amount", "is_international", "is_weekend", "is_night")
USER_FEATURES: Final = tuple(
    f"user_{stat}_{w}" for w in WINDOWS for stat in ("tx_count", "avg_amount")
)
TERMINAL_ACTIVITY_FEATURES: Final = tuple(
    f"terminal_{stat}_{w}" for w in WINDOWS for stat in ("tx_count", "avg_amount")
)
TERMINAL_RISK_FEATURES: Final = tuple(f"terminal_risk_{w}" for w in RISK_WINDOWS)
TERMINAL_FEATURES: Final = TERMINAL_ACTIVITY_FEATURES + TERMINAL_RISK_FEATURES
#: The user's 30-day amount statistics the derived features divide by: stored with the
#: user's record (and in silver), not model inputs.
USER_STATS: Final = ("user_std_amount_30d", "user_median_amount_30d")
#: What a user's stored record holds, in order.
USER_RECORD: Final = USER_FEATURES + USER_STATS
DERIVED_FEATURES: Final = (
    "amount_to_user_avg_30d",
    "amount_zscore_30d",
    "amount_to_user_median_30d",
)

#: The model's input, in order.
FEATURE_NAMES: Final[tuple[str, ...]] = (
    REQUEST_FEATURES + USER_FEATURES + DERIVED_FEATURES + TERMINAL_FEATURES
)
#: Value of every feature when there is no history (unknown user or terminal).
_RATIOS: Final = frozenset({"amount_to_user_avg_30d", "amount_to_user_median_30d"})
DEFAULTS: Final[dict[str, float]] = {
    name: (1.0 if name in _RATIOS else 0.0) for name in FEATURE_NAMES
}
#: A user's stored statistics without history.
USER_STATS_DEFAULTS: Final[dict[str, float]] = dict.fromkeys(USER_STATS, 0.0)

#: Label column of the training table (gold.mart_fraud_features).
LABEL: Final = "is_fraud"


def fingerprint() -> str:
    """A short hash of everything that defines a vector; models record the one they used."""
    spec = {
        "version": FEATURE_VERSION,
        "names": FEATURE_NAMES,
        "defaults": DEFAULTS,
        "windows": WINDOWS,
        "risk_windows": RISK_WINDOWS,
        "label_delay_ms": LABEL_DELAY_MS,
        "night_end_hour": NIGHT_END_HOUR,
        "user_stats": USER_STATS,
        "zscore_min": [ZSCORE_MIN_COUNT, ZSCORE_MIN_STD],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_ms(t: dt.datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive values are taken as UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return (t - _EPOCH) // dt.timedelta(milliseconds=1)


def calendar_features(event_time: dt.datetime) -> dict[str, float]:
    t = event_time.astimezone(dt.UTC) if event_time.tzinfo else event_time
    return {
        "is_weekend": float(t.weekday() >= 5),
        "is_night": float(t.hour < NIGHT_END_HOUR),
    }


def amount_ratio(amount: float, user_avg_amount_30d: float) -> float:
    """``amount`` over a positive user statistic (mean or median), ``1.0`` without one."""
    return amount / user_avg_amount_30d if user_avg_amount_30d > 0 else 1.0


def amount_zscore(amount: float, count: float, mean: float, std: float) -> float:
    """``(amount - mean) / std`` of the user's 30-day amounts, ``0.0`` when too few or flat."""
    if count < ZSCORE_MIN_COUNT or not std >= ZSCORE_MIN_STD:
        return 0.0
    return (amount - mean) / std


@dataclass(frozen=True)
class UserFeatures:
    """A user's activity aggregates as of ``as_of``: every name of :data:`USER_RECORD`."""

    user_id: str
    as_of: dt.datetime
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TerminalFeatures:
    """A terminal's activity and risk as of ``as_of``: every name of
    :data:`TERMINAL_FEATURES`."""

    merchant_id: str
    as_of: dt.datetime
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TransactionContext:
    """The request-time part of a vector: what the transaction itself says."""

    amount: float
    is_international: bool
    event_time: dt.datetime


def build_features(
    tx: TransactionContext,
    user: UserFeatures | None,
    terminal: TerminalFeatures | None,
) -> dict[str, float]:
    """Features of ``tx`` from its stored user/terminal aggregates (defaults when absent)."""
    out = dict(DEFAULTS)
    amount = out["amount"] = float(tx.amount)
    out["is_international"] = float(tx.is_international)
    out.update(calendar_features(tx.event_time))
    stats = dict(USER_STATS_DEFAULTS)
    if user is not None:
        out.update({n: float(user.values[n]) for n in USER_FEATURES})
        stats = {n: float(user.values[n]) for n in USER_STATS}
    if terminal is not None:
        out.update({n: float(terminal.values[n]) for n in TERMINAL_FEATURES})
    mean = out["user_avg_amount_30d"]
    out["amount_to_user_avg_30d"] = amount_ratio(amount, mean)
    out["amount_zscore_30d"] = amount_zscore(
        amount, out["user_tx_count_30d"], mean, stats["user_std_amount_30d"]
    )
    out["amount_to_user_median_30d"] = amount_ratio(amount, stats["user_median_amount_30d"])
    return out


def to_array(features: Mapping[str, Any]) -> list[float]:
    """The model input, ordered by :data:`FEATURE_NAMES`, from a gold row or built features.

    A missing or null feature is an error: gold rows carry defaults already.
    """
    out = []
    for name in FEATURE_NAMES:
        value = features.get(name)
        if value is None:
            raise ValueError(f"feature {name!r} is missing")
        out.append(float(value))
    return out


# ---------------------------------------------------------------- reference definition
@dataclass(frozen=True)
class Event:
    """A past transaction as the reference computation sees it."""

    time_ms: int
    amount: float
    reported_fraud_at_ms: int | None = None  # when its fraud label was reported, if any


def _activity(events: Iterable[Event], t_ms: int, prefix: str) -> dict[str, float]:
    past = [e for e in events if e.time_ms < t_ms]
    out: dict[str, float] = {}
    for suffix, width in WINDOWS.items():
        amounts = [e.amount for e in past if e.time_ms >= t_ms - width]
        out[f"{prefix}_tx_count_{suffix}"] = float(len(amounts))
        out[f"{prefix}_avg_amount_{suffix}"] = math.fsum(amounts) / len(amounts) if amounts else 0.0
    return out


def _amount_stats(events: Iterable[Event], t_ms: int) -> dict[str, float]:
    """Population standard deviation and median of the amounts in ``[t - 30 d, t)``."""
    amounts = [e.amount for e in events if t_ms - WINDOWS["30d"] <= e.time_ms < t_ms]
    if not amounts:
        return dict(USER_STATS_DEFAULTS)
    mean = math.fsum(amounts) / len(amounts)
    return {
        "user_std_amount_30d": math.sqrt(
            math.fsum((a - mean) ** 2 for a in amounts) / len(amounts)
        ),
        "user_median_amount_30d": statistics.median(amounts),
    }


def _risk(events: Iterable[Event], t_ms: int) -> dict[str, float]:
    end = t_ms - LABEL_DELAY_MS
    out: dict[str, float] = {}
    for suffix, width in RISK_WINDOWS.items():
        window = [e for e in events if end - width <= e.time_ms < end]
        known = [e.reported_fraud_at_ms for e in window if e.reported_fraud_at_ms is not None]
        frauds = sum(1 for reported in known if reported < t_ms)
        out[f"terminal_risk_{suffix}"] = frauds / len(window) if window else 0.0
    return out


def reference_records(
    tx: TransactionContext,
    user_history: Iterable[Event],
    terminal_history: Iterable[Event],
) -> tuple[UserFeatures, TerminalFeatures]:
    """The user's and the terminal's stored records as of ``tx.event_time``, from raw events
    (what the profile marts must hold for a snapshot at that time)."""
    t_ms = to_ms(tx.event_time)
    terminal_events = list(terminal_history)
    user_events = list(user_history)
    user_values = _activity(user_events, t_ms, "user") | _amount_stats(user_events, t_ms)
    terminal_values = _activity(terminal_events, t_ms, "terminal") | _risk(terminal_events, t_ms)
    return (
        UserFeatures("u", tx.event_time, user_values),
        TerminalFeatures("m", tx.event_time, terminal_values),
    )


def reference_features(
    tx: TransactionContext,
    user_history: Iterable[Event],
    terminal_history: Iterable[Event],
) -> dict[str, float]:
    """The definition, computed naively from raw events (tests compare SQL and serving to it).

    Histories may contain the transaction itself and later events: only earlier ones count.
    """
    user, terminal = reference_records(tx, user_history, terminal_history)
    return build_features(tx, user, terminal)


def describe() -> dict[str, Any]:
    """The contract as data (logged with every model)."""
    return {
        "version": FEATURE_VERSION,
        "fingerprint": fingerprint(),
        "names": list(FEATURE_NAMES),
        "defaults": DEFAULTS,
        "user_stats": list(USER_STATS),
        "zscore_min_count": ZSCORE_MIN_COUNT,
        "zscore_min_std": ZSCORE_MIN_STD,
        "windows_ms": WINDOWS,
        "risk_windows_ms": RISK_WINDOWS,
        "label_delay_days": LABEL_DELAY_DAYS,
        "label": LABEL,
    }
