"""The scoring path's feature vector, built without per-request dict work.

:func:`features.build_features` + :func:`features.to_array` are the contract (dicts keyed
by name, easy to read and shared with training); rebuilding two dicts of 26 entries per
request is a large share of a request's budget. This module computes **the same vector**
from precomputed positions: the feature store hands over each record as a tuple of floats
in the contract's order (:mod:`serving.feature_store.records`), and the vector is the
defaults with the request, user and terminal parts written at fixed indices.
``tests/test_serving_vectors.py`` holds it equal (exactly, float for float) to the
contract functions on many random inputs.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from fraud_contracts import features
from serving.feature_store import Values

NAMES: Final = features.FEATURE_NAMES
N_FEATURES: Final = len(NAMES)
DEFAULT_VECTOR: Final[tuple[float, ...]] = tuple(float(features.DEFAULTS[n]) for n in NAMES)

_POS: Final = {name: i for i, name in enumerate(NAMES)}
_AMOUNT: Final = _POS["amount"]
_INTL: Final = _POS["is_international"]
_WEEKEND: Final = _POS["is_weekend"]
_NIGHT: Final = _POS["is_night"]
_RATIO: Final = _POS["amount_to_user_avg_30d"]
_ZSCORE: Final = _POS["amount_zscore_30d"]
_MEDIAN_RATIO: Final = _POS["amount_to_user_median_30d"]
_USER_POS: Final = tuple(_POS[n] for n in features.USER_FEATURES)
_TERMINAL_POS: Final = tuple(_POS[n] for n in features.TERMINAL_FEATURES)
#: indices inside a user record (features.USER_RECORD): the model inputs come first,
#: then the statistics the amount features divide by
_N_USER: Final = len(features.USER_FEATURES)
_USER_COUNT30: Final = features.USER_RECORD.index("user_tx_count_30d")
_USER_AVG30: Final = features.USER_RECORD.index("user_avg_amount_30d")
_USER_STD30: Final = features.USER_RECORD.index("user_std_amount_30d")
_USER_MEDIAN30: Final = features.USER_RECORD.index("user_median_amount_30d")


def vector(
    amount: float,
    is_international: bool,
    event_time: dt.datetime,
    user: Values | None,
    terminal: Values | None,
) -> list[float]:
    """``features.to_array(features.build_features(...))`` from parsed records."""
    out = list(DEFAULT_VECTOR)
    amount = float(amount)
    out[_AMOUNT] = amount
    out[_INTL] = float(is_international)
    t = event_time.astimezone(dt.UTC) if event_time.tzinfo else event_time
    out[_WEEKEND] = float(t.weekday() >= 5)
    out[_NIGHT] = float(t.hour < features.NIGHT_END_HOUR)
    if user is not None:
        if len(user) != len(features.USER_RECORD):
            raise ValueError(f"user record has {len(user)} values")
        for pos, value in zip(_USER_POS, user[:_N_USER], strict=True):
            out[pos] = value
        out[_RATIO] = features.amount_ratio(amount, user[_USER_AVG30])
        out[_ZSCORE] = features.amount_zscore(
            amount, user[_USER_COUNT30], user[_USER_AVG30], user[_USER_STD30]
        )
        out[_MEDIAN_RATIO] = features.amount_ratio(amount, user[_USER_MEDIAN30])
    if terminal is not None:
        for pos, value in zip(_TERMINAL_POS, terminal, strict=True):
            out[pos] = value
    return out
