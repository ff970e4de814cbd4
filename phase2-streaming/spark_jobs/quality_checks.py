"""Named data-quality rules applied to every decoded row before it may land in bronze.

Each :class:`Rule` has a name (the DLQ reason), a description, and a Spark column
expression that is **true when the row breaks the rule** (null-safe: a missing value
breaks the rule about it, never the others). A row that breaks any rule goes to the DLQ
with the names of all the rules it breaks; a row that could not be decoded at all has
the decode error (``not_avro``, ``unknown_schema_id``, ``undecodable``) as its only
reason, as rules about its fields would be meaningless.

Time rules compare with ``ingested_at``, the micro-batch's timestamp, which Spark
records in the checkpoint: a replayed batch is judged exactly as the first attempt.
Late events (old but sane event times) pass: bronze keeps the raw history.

The rules, their names and bounds are the contract's (:mod:`fraud_contracts.quality`,
whose ``transaction_problems`` is their Python definition); this module is their Spark
form, held to the same verdicts by tests/test_quality_checks.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf

from fraud_contracts import quality

DLQ_REASONS = "dlq_reasons"


@dataclass(frozen=True)
class QualityConfig:
    """Parameters of the rules (from ``StreamingSettings``)."""

    allowed_currencies: tuple[str, ...] = quality.CURRENCIES
    min_event_time: datetime = quality.MIN_EVENT_TIME
    future_tolerance_seconds: float = quality.FUTURE_TOLERANCE_MS / 1000
    min_amount: float = quality.MIN_AMOUNT
    max_amount: float = quality.MAX_AMOUNT


@dataclass(frozen=True)
class Rule:
    """A named rule; ``fails(config)`` is true for rows that break it."""

    name: str
    description: str
    fails: Callable[[QualityConfig], Column] = field(repr=False)


def _epoch_micros(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _blank(name: str) -> Column:
    col = sf.col(name)
    return col.isNull() | (sf.trim(col) == sf.lit(""))


def _transaction_id_empty(_: QualityConfig) -> Column:
    return _blank("transaction_id")


def _user_id_empty(_: QualityConfig) -> Column:
    return _blank("user_id")


def _amount_not_positive_finite(_: QualityConfig) -> Column:
    amount = sf.col("amount")
    # Spark orders NaN above every number, so NaN > 0 is true: test it explicitly.
    return (
        amount.isNull()
        | sf.isnan(amount)
        | (amount <= sf.lit(0.0))
        | (amount == sf.lit(float("inf")))
    )


def _amount_out_of_range(config: QualityConfig) -> Column:
    amount = sf.col("amount")
    finite_positive = (amount > sf.lit(0.0)) & ~sf.isnan(amount) & (amount != sf.lit(float("inf")))
    out = (amount < sf.lit(config.min_amount)) | (amount > sf.lit(config.max_amount))
    return sf.coalesce(finite_positive & out, sf.lit(False))  # the rule above owns the rest


def _currency_unknown(config: QualityConfig) -> Column:
    currency = sf.col("currency")
    return currency.isNull() | ~currency.isin(list(config.allowed_currencies))


def _event_time_missing(_: QualityConfig) -> Column:
    return sf.col("event_time").isNull()


def _event_time_too_old(config: QualityConfig) -> Column:
    bound = sf.timestamp_micros(sf.lit(_epoch_micros(config.min_event_time)))
    return sf.coalesce(sf.col("event_time") < bound, sf.lit(False))


def _event_time_in_future(config: QualityConfig) -> Column:
    micros = int(config.future_tolerance_seconds * 1_000_000)
    limit = sf.timestamp_micros(sf.unix_micros(sf.col("ingested_at")) + sf.lit(micros))
    return sf.coalesce(sf.col("event_time") > limit, sf.lit(False))


def _rule(name: str, fails: Callable[[QualityConfig], Column]) -> Rule:
    """The contract's rule ``name`` (its description too) in its Spark form ``fails``."""
    return Rule(name, quality.TRANSACTION_RULES[name], fails)


TRANSACTION_ID_EMPTY = _rule("transaction_id_empty", _transaction_id_empty)
USER_ID_EMPTY = _rule("user_id_empty", _user_id_empty)
AMOUNT_NOT_POSITIVE_FINITE = _rule("amount_not_positive_finite", _amount_not_positive_finite)
AMOUNT_OUT_OF_RANGE = _rule("amount_out_of_range", _amount_out_of_range)
CURRENCY_UNKNOWN = _rule("currency_unknown", _currency_unknown)
EVENT_TIME_MISSING = _rule("event_time_missing", _event_time_missing)
EVENT_TIME_TOO_OLD = _rule("event_time_too_old", _event_time_too_old)
EVENT_TIME_IN_FUTURE = _rule("event_time_in_future", _event_time_in_future)

TRANSACTION_RULES: tuple[Rule, ...] = (
    TRANSACTION_ID_EMPTY,
    USER_ID_EMPTY,
    AMOUNT_NOT_POSITIVE_FINITE,
    AMOUNT_OUT_OF_RANGE,
    CURRENCY_UNKNOWN,
    EVENT_TIME_MISSING,
    EVENT_TIME_TOO_OLD,
    EVENT_TIME_IN_FUTURE,
)
#: a label's event_time is its transaction's: one in the future is as impossible (and
#: would make the labels' freshness gauge lie)
LABEL_RULES: tuple[Rule, ...] = (
    TRANSACTION_ID_EMPTY,
    USER_ID_EMPTY,
    EVENT_TIME_MISSING,
    EVENT_TIME_TOO_OLD,
    EVENT_TIME_IN_FUTURE,
)


def failed_rules(rules: Sequence[Rule], config: QualityConfig) -> Column:
    """``array<string>`` of the names of the rules a row breaks (empty: none)."""
    flags = [sf.when(rule.fails(config), sf.lit(rule.name)) for rule in rules]
    return sf.filter(sf.array(*flags), lambda name: name.isNotNull())


def with_dlq_reasons(df: DataFrame, rules: Sequence[Rule], config: QualityConfig) -> DataFrame:
    """Add ``dlq_reasons``: the decode error alone, else the broken rules (empty: valid)."""
    reasons = sf.when(sf.col("decode_error").isNotNull(), sf.array(sf.col("decode_error")))
    return df.withColumn(DLQ_REASONS, reasons.otherwise(failed_rules(rules, config)))


def is_valid() -> Column:
    """True for rows with no DLQ reason."""
    return sf.size(sf.col(DLQ_REASONS)) == sf.lit(0)
