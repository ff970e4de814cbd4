"""The data-quality rules of the transaction contract: what a valid transaction is.

The Avro schema says what a record looks like; these rules say what Avro cannot: a
record that breaks one is not a transaction the platform accepts. Each rule has a name
(the DLQ reason) and a description. :func:`transaction_problems` is the executable
definition in Python: the producer checks what it sends with it (and its malformed-record
generator breaks it on purpose), and the online feature stream counts only transactions
that pass it. The streaming bronze writer applies the same rules as Spark column
expressions (``spark_jobs.quality_checks``: same names, same bounds, taken from here), and
its tests hold the two to the same verdicts.

Time rules compare with the moment the record was *ingested* (its Kafka timestamp), so a
replay judges a record exactly as the first pass did; late events (old but sane event
times) pass.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, Final

#: ISO 4217 codes a transaction may be in (the schema's documented set)
CURRENCIES: Final[tuple[str, ...]] = ("USD", "EUR", "GBP")
#: the smallest amount a payment can have (one cent) and the largest the platform accepts:
#: far above any card payment, far below where sums over a 30-day window would lose
#: precision or overflow a double
MIN_AMOUNT: Final = 0.01
MAX_AMOUNT: Final = 1e9
#: an event time may be at most this far after the record's ingestion (clock skew)
FUTURE_TOLERANCE_MS: Final = 5 * 60 * 1000
#: event times before this are impossible for this platform
MIN_EVENT_TIME: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MIN_EVENT_TIME_MS: Final = int(MIN_EVENT_TIME.timestamp() * 1000)

#: rule name -> what breaks it, in the order rules are reported
TRANSACTION_RULES: Final[dict[str, str]] = {
    "transaction_id_empty": "transaction_id is missing or blank: the row cannot be "
    "deduplicated or labelled.",
    "user_id_empty": "user_id is missing or blank: no customer to attribute.",
    "amount_not_positive_finite": "amount is missing, NaN, infinite, zero or negative.",
    "amount_out_of_range": "amount is positive and finite but below the minimum (0.01) or "
    "above the maximum (1e9): e.g. the double's limits, which would overflow sums.",
    "currency_unknown": f"currency is missing or not in the allowed set ({', '.join(CURRENCIES)}).",
    "event_time_missing": "event_time is missing.",
    "event_time_too_old": "event_time is before the sane lower bound (2000-01-01).",
    "event_time_in_future": "event_time is later than ingestion plus the tolerance (5 min).",
}
#: the rules a fraud label must pass (its event_time is its transaction's)
LABEL_RULES: Final[tuple[str, ...]] = (
    "transaction_id_empty",
    "user_id_empty",
    "event_time_missing",
    "event_time_too_old",
    "event_time_in_future",
)


def _blank(value: Any) -> bool:
    """Missing or only spaces (Spark's ``trim`` removes spaces, as this does)."""
    return not isinstance(value, str) or not value.strip(" ")


def _time_problems(event_time: Any, ingested_ms: int, tolerance_ms: int) -> list[str]:
    if event_time is None:
        return ["event_time_missing"]
    if not isinstance(event_time, int) or isinstance(event_time, bool):
        return ["event_time_missing"]
    if event_time < MIN_EVENT_TIME_MS:
        return ["event_time_too_old"]
    if event_time > ingested_ms + tolerance_ms:
        return ["event_time_in_future"]
    return []


def transaction_problems(
    record: Mapping[str, Any], ingested_ms: int, tolerance_ms: int = FUTURE_TOLERANCE_MS
) -> list[str]:
    """Names of the rules a decoded transaction breaks, in :data:`TRANSACTION_RULES` order
    (empty: a valid transaction). ``ingested_ms``: when it reached Kafka."""
    problems = []
    if _blank(record.get("transaction_id")):
        problems.append("transaction_id_empty")
    if _blank(record.get("user_id")):
        problems.append("user_id_empty")
    amount = record.get("amount")
    if (
        not isinstance(amount, int | float)
        or isinstance(amount, bool)
        or not math.isfinite(amount)
        or amount <= 0
    ):
        problems.append("amount_not_positive_finite")
    elif not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        problems.append("amount_out_of_range")
    if record.get("currency") not in CURRENCIES:
        problems.append("currency_unknown")
    problems += _time_problems(record.get("event_time"), ingested_ms, tolerance_ms)
    return problems


def label_problems(
    record: Mapping[str, Any], ingested_ms: int, tolerance_ms: int = FUTURE_TOLERANCE_MS
) -> list[str]:
    """Names of the :data:`LABEL_RULES` a decoded fraud label breaks (empty: valid)."""
    problems = []
    if _blank(record.get("transaction_id")):
        problems.append("transaction_id_empty")
    if _blank(record.get("user_id")):
        problems.append("user_id_empty")
    problems += _time_problems(record.get("event_time"), ingested_ms, tolerance_ms)
    return problems
