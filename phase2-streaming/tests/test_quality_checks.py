"""Each quality rule on its own, on small in-memory DataFrames (no engine of the stack)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as st

from fraud_contracts import quality
from spark_jobs.quality_checks import (
    AMOUNT_NOT_POSITIVE_FINITE,
    AMOUNT_OUT_OF_RANGE,
    CURRENCY_UNKNOWN,
    DLQ_REASONS,
    EVENT_TIME_IN_FUTURE,
    EVENT_TIME_MISSING,
    EVENT_TIME_TOO_OLD,
    LABEL_RULES,
    TRANSACTION_ID_EMPTY,
    TRANSACTION_RULES,
    USER_ID_EMPTY,
    QualityConfig,
    Rule,
    with_dlq_reasons,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = QualityConfig(future_tolerance_seconds=300)
SCHEMA = st.StructType(
    [
        st.StructField("transaction_id", st.StringType()),
        st.StructField("user_id", st.StringType()),
        st.StructField("amount", st.DoubleType()),
        st.StructField("currency", st.StringType()),
        st.StructField("event_time", st.TimestampType()),
        st.StructField("ingested_at", st.TimestampType()),
        st.StructField("decode_error", st.StringType()),
    ]
)
GOOD: dict[str, Any] = {
    "transaction_id": "6f1c0b9e-2a8e-4b7e-9a51-0c6f1e2d3a4b",
    "user_id": "U000123",
    "amount": 42.5,
    "currency": "EUR",
    "event_time": NOW - timedelta(seconds=3),
    "ingested_at": NOW,
    "decode_error": None,
}


def frame(spark: SparkSession, *changes: dict[str, Any]) -> DataFrame:
    rows = [{**GOOD, **change} for change in changes]
    return spark.createDataFrame([tuple(r[f.name] for f in SCHEMA) for r in rows], SCHEMA)


def breaks(spark: SparkSession, rule: Rule, *changes: dict[str, Any]) -> list[bool]:
    df = frame(spark, *changes).select(rule.fails(CONFIG).alias("fails"))
    return [bool(r["fails"]) for r in df.collect()]


def test_rule_names_are_unique_and_documented() -> None:
    names = [r.name for r in TRANSACTION_RULES]
    assert len(names) == len(set(names))
    assert all(r.description for r in TRANSACTION_RULES)
    assert set(LABEL_RULES) <= set(TRANSACTION_RULES)
    assert EVENT_TIME_IN_FUTURE in LABEL_RULES  # a label's time is its transaction's


def test_transaction_id_empty(spark: SparkSession) -> None:
    got = breaks(
        spark,
        TRANSACTION_ID_EMPTY,
        {},
        {"transaction_id": ""},
        {"transaction_id": "   "},
        {"transaction_id": None},
    )
    assert got == [False, True, True, True]


def test_user_id_empty(spark: SparkSession) -> None:
    got = breaks(spark, USER_ID_EMPTY, {}, {"user_id": ""}, {"user_id": " "}, {"user_id": None})
    assert got == [False, True, True, True]


def test_amount_positive_and_finite(spark: SparkSession) -> None:
    values = [0.01, 1e9, 0.0, -0.01, float("nan"), float("inf"), float("-inf"), None]
    got = breaks(spark, AMOUNT_NOT_POSITIVE_FINITE, *({"amount": v} for v in values))
    assert got == [False, False, True, True, True, True, True, True]


def test_amount_within_the_accepted_range(spark: SparkSession) -> None:
    tiny, huge = 5e-324, 1.7976931348623157e308  # the double's limits, finite and > 0
    values = [0.01, 1e9, 0.0099, 1e9 + 1, tiny, huge, 0.0, -5.0, float("nan"), None]
    got = breaks(spark, AMOUNT_OUT_OF_RANGE, *({"amount": v} for v in values))
    # zero, negative, NaN and missing amounts are amount_not_positive_finite's alone
    assert got == [False, False, True, True, True, True, False, False, False, False]


def test_currency_in_allowed_set(spark: SparkSession) -> None:
    values = ["USD", "EUR", "GBP", "XYZ", "usd", "", None]
    got = breaks(spark, CURRENCY_UNKNOWN, *({"currency": v} for v in values))
    assert got == [False, False, False, True, True, True, True]


def test_event_time_present(spark: SparkSession) -> None:
    assert breaks(spark, EVENT_TIME_MISSING, {}, {"event_time": None}) == [False, True]


def test_event_time_lower_bound(spark: SparkSession) -> None:
    bound = CONFIG.min_event_time
    got = breaks(
        spark,
        EVENT_TIME_TOO_OLD,
        {"event_time": bound},
        {"event_time": bound - timedelta(milliseconds=1)},
        {"event_time": datetime(1970, 1, 1, tzinfo=UTC)},
        {"event_time": None},
    )
    assert got == [False, True, True, False]  # a missing time is event_time_missing's


def test_event_time_future_tolerance(spark: SparkSession) -> None:
    edge = NOW + timedelta(seconds=300)
    got = breaks(
        spark,
        EVENT_TIME_IN_FUTURE,
        {"event_time": edge},
        {"event_time": edge + timedelta(seconds=1)},
        {"event_time": datetime(2100, 1, 1, tzinfo=UTC)},
        {"event_time": NOW - timedelta(days=400)},  # late events are accepted
        {"event_time": None},
    )
    assert got == [False, True, True, False, False]


def test_reasons_list_every_broken_rule_and_decode_errors_alone(spark: SparkSession) -> None:
    df = frame(
        spark,
        {},
        {"user_id": "", "currency": "XYZ"},
        {"amount": -1.0},
        {
            "decode_error": "not_avro",
            "transaction_id": None,
            "user_id": None,
            "amount": None,
            "currency": None,
            "event_time": None,
        },
    )
    rows = with_dlq_reasons(df, TRANSACTION_RULES, CONFIG).select(DLQ_REASONS).collect()
    assert [sorted(r[0]) for r in rows] == [
        [],
        ["currency_unknown", "user_id_empty"],
        ["amount_not_positive_finite"],
        ["not_avro"],
    ]


def test_the_spark_rules_are_the_contracts_with_the_same_verdicts(spark: SparkSession) -> None:
    """The Spark form of every rule gives, row for row, the names the contract's Python
    definition (fraud_contracts.quality) gives: the two cannot drift apart."""
    assert [r.name for r in TRANSACTION_RULES] == list(quality.TRANSACTION_RULES)
    assert [r.name for r in LABEL_RULES] == list(quality.LABEL_RULES)
    assert QualityConfig() == QualityConfig(
        allowed_currencies=quality.CURRENCIES,
        min_event_time=quality.MIN_EVENT_TIME,
        future_tolerance_seconds=quality.FUTURE_TOLERANCE_MS / 1000,
        min_amount=quality.MIN_AMOUNT,
        max_amount=quality.MAX_AMOUNT,
    )
    edge = NOW + timedelta(milliseconds=quality.FUTURE_TOLERANCE_MS)
    changes: list[dict[str, Any]] = [
        {},
        {"transaction_id": ""},
        {"transaction_id": "  ", "user_id": None},
        {"user_id": " "},
        {"amount": 0.0},
        {"amount": -3.5, "currency": "usd"},
        {"amount": float("nan")},
        {"amount": float("inf")},
        {"amount": quality.MIN_AMOUNT},
        {"amount": quality.MIN_AMOUNT / 2},
        {"amount": quality.MAX_AMOUNT},
        {"amount": quality.MAX_AMOUNT * 2},
        {"amount": None},
        *({"currency": c} for c in (*quality.CURRENCIES, "XYZ", "", None)),
        {"event_time": None},
        {"event_time": quality.MIN_EVENT_TIME},
        {"event_time": quality.MIN_EVENT_TIME - timedelta(milliseconds=1)},
        {"event_time": edge},
        {"event_time": edge + timedelta(milliseconds=1)},
        {"event_time": NOW - timedelta(days=400)},
    ]
    df = with_dlq_reasons(frame(spark, *changes), TRANSACTION_RULES, CONFIG)
    spark_verdicts = [list(r[DLQ_REASONS]) for r in df.select(DLQ_REASONS).collect()]

    def ms(t: datetime | None) -> int | None:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return None if t is None else (t - epoch) // timedelta(milliseconds=1)

    python_verdicts = []
    for change in changes:
        row = {**GOOD, **change}
        record = {**row, "event_time": ms(row["event_time"])}
        python_verdicts.append(quality.transaction_problems(record, ms(row["ingested_at"]) or 0))
    assert spark_verdicts == python_verdicts
