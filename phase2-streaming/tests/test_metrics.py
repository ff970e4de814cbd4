"""Progress-report parsing for the lag and duplicate metrics (no engine)."""

from __future__ import annotations

import pytest

from spark_jobs.metrics import (
    PARTITION_LAG,
    declare_stream,
    dropped_duplicates,
    offsets_behind,
    partition_lag,
    record_progress,
)

pytestmark = pytest.mark.unit


def test_offsets_behind_sums_latest_minus_end_over_partitions() -> None:
    progress = {
        "sources": [
            {
                "endOffset": {"t": {"0": 10, "1": 5}},
                "latestOffset": {"t": {"0": 15, "1": 5}},
            }
        ]
    }
    assert offsets_behind(progress) == 5
    assert offsets_behind({"sources": [{"endOffset": None, "latestOffset": None}]}) is None


def test_dropped_duplicates_reads_the_dedup_operator_metric() -> None:
    progress = {"stateOperators": [{"customMetrics": {"numDroppedDuplicateRows": 7}}]}
    assert dropped_duplicates(progress) == 7
    assert dropped_duplicates({}) == 0


def test_partition_lag_is_latest_minus_processed_end_offset_per_partition() -> None:
    progress = {
        "sources": [
            {
                "endOffset": {"transactions.raw": {"0": 10, "1": 5, "2": 9}},
                "latestOffset": {"transactions.raw": {"0": 15, "1": 5, "2": 7}},
            },
            {"endOffset": None, "latestOffset": None},
        ]
    }
    assert partition_lag(progress) == {
        ("transactions.raw", "0"): 5,
        ("transactions.raw", "1"): 0,
        ("transactions.raw", "2"): 0,  # never negative (a stale latestOffset)
    }
    record_progress("transactions", progress)
    assert PARTITION_LAG.labels("transactions.raw", "0")._value.get() == 5
    assert PARTITION_LAG.labels("transactions.raw", "1")._value.get() == 0
    assert partition_lag({}) == {}


def test_declared_stream_has_its_dlq_series_at_zero_before_any_batch() -> None:
    from prometheus_client import REGISTRY

    from spark_jobs.quality_checks import TRANSACTION_RULES

    declare_stream("declared-stream", (r.name for r in TRANSACTION_RULES))
    for rule in TRANSACTION_RULES:
        value = REGISTRY.get_sample_value(
            "fraud_bronze_dlq_rows_total", {"stream": "declared-stream", "rule": rule.name}
        )
        assert value == 0, rule.name
    assert (
        REGISTRY.get_sample_value("fraud_bronze_dlq_records_total", {"stream": "declared-stream"})
        == 0
    )
