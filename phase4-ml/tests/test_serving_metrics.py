"""The hot path's batched counter increments (serving.metrics.HotCounters)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter

from serving.metrics import HotCounters

pytestmark = pytest.mark.unit


def test_hot_counters_reach_prometheus_only_on_flush() -> None:
    registry = CollectorRegistry()
    counter = Counter("hot_test_total", "test", ["tier"], registry=registry)
    low, high = counter.labels("low"), counter.labels("high")
    hot = HotCounters()
    for _ in range(5):
        hot.inc(low)
    hot.inc(high, 2.0)

    def value(tier: str) -> float | None:
        return registry.get_sample_value("hot_test_total", {"tier": tier})

    assert value("low") == 0.0 and value("high") == 0.0
    hot.flush()
    assert value("low") == 5.0 and value("high") == 2.0
    hot.flush()  # nothing pending: nothing added twice
    assert value("low") == 5.0 and value("high") == 2.0
