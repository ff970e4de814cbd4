"""Progress-report parsing for the lag and duplicate metrics (no engine)."""

from __future__ import annotations

import pytest

from spark_jobs.metrics import dropped_duplicates, offsets_behind

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
