"""The hot path's batched counter increments (serving.metrics.HotCounters)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

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


def test_hot_histogram_observations_equal_direct_ones() -> None:
    buckets = (0.0005, 0.001, 0.002, 0.005, 0.01)
    direct_registry, hot_registry = CollectorRegistry(), CollectorRegistry()
    direct = Histogram("lat_seconds", "test", buckets=buckets, registry=direct_registry)
    buffered = Histogram("lat_seconds", "test", buckets=buckets, registry=hot_registry)
    hot = HotCounters()
    # values on, between and beyond the bounds (a value equal to a bound is in that bucket)
    values = [0.0, 0.0005, 0.0007, 0.001, 0.0049, 0.005, 0.01, 0.2, 3.0, 0.0001]
    for v in values:
        direct.observe(v)
        hot.observe(buffered, v)

    def samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
        return [
            (s.name, s.labels, s.value)
            for m in registry.collect()
            for s in m.samples
            if not s.name.endswith("_created")
        ]

    assert samples(hot_registry) != samples(direct_registry)  # nothing before the flush
    hot.flush()
    assert samples(hot_registry) == samples(direct_registry)
    hot.flush()  # nothing twice
    assert samples(hot_registry) == samples(direct_registry)
