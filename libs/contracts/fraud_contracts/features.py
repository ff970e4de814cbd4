"""The model's feature contract: the one definition shared by dbt, training and serving.

A transaction's features are computed **point in time**: only events strictly earlier
than the transaction (``event_time < t``) and only fraud labels *reported* before it
(``reported_at < t``) contribute. Windows are half-open, ``[t - w, t)``.

- request features: ``amount``, ``is_international``, ``is_weekend`` (Saturday/Sunday,
  UTC), ``is_night`` (hour <= 6 UTC, i.e. 00:00-06:59, the Handbook's definition);
- per user and per terminal (``merchant_id``), for each of 1 h, 24 h, 7 d and 30 d: the
  number of earlier transactions and their mean amount (``0.0`` when there are none);
- ``amount_to_user_avg_30d``: ``amount / user_avg_amount_30d``, ``1.0`` without history;
- terminal risk over 1, 7 and 30 days with the label delay ``D`` (the Handbook's
  protocol): of the terminal's transactions in ``[t - D - w, t - D)``, the share whose
  fraud label was reported before ``t`` (``0.0`` when there are none).

The dbt models (``phase3-transforms/dbt_project``) implement this in SQL, the feature
writer stores the per-user and per-terminal aggregates in Redis (as of a snapshot time
``as_of``), and the scoring API rebuilds the vector from those records and the request.
:func:`reference_features` is the executable definition the tests hold both against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

#: 2: night is hour <= 6 (was hour < 6)
FEATURE_VERSION: Final = 2

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

REQUEST_FEATURES: Final = ("amount", "is_international", "is_weekend", "is_night")
USER_FEATURES: Final = tuple(
    f"user_{stat}_{w}" for w in WINDOWS for stat in ("tx_count", "avg_amount")
)
TERMINAL_ACTIVITY_FEATURES: Final = tuple(
    f"terminal_{stat}_{w}" for w in WINDOWS for stat in ("tx_count", "avg_amount")
)
TERMINAL_RISK_FEATURES: Final = tuple(f"terminal_risk_{w}" for w in RISK_WINDOWS)
TERMINAL_FEATURES: Final = TERMINAL_ACTIVITY_FEATURES + TERMINAL_RISK_FEATURES
DERIVED_FEATURES: Final = ("amount_to_user_avg_30d",)

#: The model's input, in order.
FEATURE_NAMES: Final[tuple[str, ...]] = (
    REQUEST_FEATURES + USER_FEATURES + DERIVED_FEATURES + TERMINAL_FEATURES
)
#: Value of every feature when there is no history (unknown user or terminal).
DEFAULTS: Final[dict[str, float]] = {
    name: (1.0 if name == "amount_to_user_avg_30d" else 0.0) for name in FEATURE_NAMES
}

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
    return amount / user_avg_amount_30d if user_avg_amount_30d > 0 else 1.0


@dataclass(frozen=True)
class UserFeatures:
    """A user's activity aggregates as of ``as_of`` (Redis key ``user_features:{user_id}``)."""

    user_id: str
    as_of: dt.datetime
    values: Mapping[str, float] = field(default_factory=dict)

    KEY_PREFIX = "user_features:"

    def to_redis(self) -> str:
        return _dump(self.user_id, self.as_of, self.values, USER_FEATURES)

    @classmethod
    def from_redis(cls, raw: str | bytes) -> UserFeatures:
        ident, as_of, values = _load(raw, USER_FEATURES)
        return cls(ident, as_of, values)


@dataclass(frozen=True)
class TerminalFeatures:
    """A terminal's activity and risk as of ``as_of`` (key ``terminal_features:{merchant_id}``)."""

    merchant_id: str
    as_of: dt.datetime
    values: Mapping[str, float] = field(default_factory=dict)

    KEY_PREFIX = "terminal_features:"

    def to_redis(self) -> str:
        return _dump(self.merchant_id, self.as_of, self.values, TERMINAL_FEATURES)

    @classmethod
    def from_redis(cls, raw: str | bytes) -> TerminalFeatures:
        ident, as_of, values = _load(raw, TERMINAL_FEATURES)
        return cls(ident, as_of, values)


def _dump(ident: str, as_of: dt.datetime, values: Mapping[str, float], names: Sequence[str]) -> str:
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"feature record for {ident} lacks {missing}")
    record: dict[str, str | float] = {
        "id": ident,
        "as_of": as_of.isoformat(),
        "fingerprint": fingerprint(),
    }
    record.update({n: float(values[n]) for n in names})
    return json.dumps(record, separators=(",", ":"))


def _load(raw: str | bytes, names: Sequence[str]) -> tuple[str, dt.datetime, dict[str, float]]:
    record = json.loads(raw)
    if record.get("fingerprint") != fingerprint():
        raise ValueError(f"feature record has fingerprint {record.get('fingerprint')!r}")
    return (
        str(record["id"]),
        dt.datetime.fromisoformat(record["as_of"]),
        {n: float(record[n]) for n in names},
    )


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
    out["amount"] = float(tx.amount)
    out["is_international"] = float(tx.is_international)
    out.update(calendar_features(tx.event_time))
    if user is not None:
        out.update({n: float(user.values[n]) for n in USER_FEATURES})
    if terminal is not None:
        out.update({n: float(terminal.values[n]) for n in TERMINAL_FEATURES})
    out["amount_to_user_avg_30d"] = amount_ratio(out["amount"], out["user_avg_amount_30d"])
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


def _risk(events: Iterable[Event], t_ms: int) -> dict[str, float]:
    end = t_ms - LABEL_DELAY_MS
    out: dict[str, float] = {}
    for suffix, width in RISK_WINDOWS.items():
        window = [e for e in events if end - width <= e.time_ms < end]
        known = [e.reported_fraud_at_ms for e in window if e.reported_fraud_at_ms is not None]
        frauds = sum(1 for reported in known if reported < t_ms)
        out[f"terminal_risk_{suffix}"] = frauds / len(window) if window else 0.0
    return out


def reference_features(
    tx: TransactionContext,
    user_history: Iterable[Event],
    terminal_history: Iterable[Event],
) -> dict[str, float]:
    """The definition, computed naively from raw events (tests compare SQL and serving to it).

    Histories may contain the transaction itself and later events: only earlier ones count.
    """
    t_ms = to_ms(tx.event_time)
    terminal_events = list(terminal_history)
    user = UserFeatures("u", tx.event_time, _activity(user_history, t_ms, "user"))
    terminal_values = _activity(terminal_events, t_ms, "terminal") | _risk(terminal_events, t_ms)
    terminal = TerminalFeatures("m", tx.event_time, terminal_values)
    return build_features(tx, user, terminal)


def describe() -> dict[str, Any]:
    """The contract as data (logged with every model)."""
    return {
        "version": FEATURE_VERSION,
        "fingerprint": fingerprint(),
        "names": list(FEATURE_NAMES),
        "defaults": DEFAULTS,
        "windows_ms": WINDOWS,
        "risk_windows_ms": RISK_WINDOWS,
        "label_delay_days": LABEL_DELAY_DAYS,
        "label": LABEL,
    }
