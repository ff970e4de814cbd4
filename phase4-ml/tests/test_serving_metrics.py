"""The scoring API's metrics: the hot path's batched counter increments
(serving.metrics.HotCounters) and the gauges describing the loaded model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from serving.metrics import HotCounters
from serving.predictor import LoadedModel, ModelCache, ModelInfo
from serving.service import ScoringService
from serving.settings import ServingSettings

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


def test_model_gauges_describe_the_loaded_model(tmp_path: Path) -> None:
    """fraud_model_version and fraud_model_created_timestamp_seconds (the ModelStale
    alert's input: when the served version was registered) follow the loaded model, and
    read 0 while none is loaded."""
    settings = ServingSettings(
        log_enabled=False, mlflow_tracking_uri="", model_cache_dir=tmp_path / "models"
    )
    service = ScoringService(settings, registry=None, feature_client=cast(Any, object()))
    info = ModelInfo("fraud_classifier", "7", "production", "run", None, created_at=1.7e9)
    service.predictor.model = LoadedModel(info, cast(Any, None), "mlflow", loaded_at=0.0)
    service._export_version()
    assert REGISTRY.get_sample_value("fraud_model_version") == 7.0
    assert REGISTRY.get_sample_value("fraud_model_created_timestamp_seconds") == 1.7e9
    service.predictor.model = None
    service._export_version()
    assert REGISTRY.get_sample_value("fraud_model_version") == 0.0
    assert REGISTRY.get_sample_value("fraud_model_created_timestamp_seconds") == 0.0


def test_model_cache_keeps_the_registration_time(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path, "fraud_classifier")
    info = ModelInfo("fraud_classifier", "3", "production", "run", "fp", created_at=1.7e9)
    cache.store(info, lambda d: (d / "model.onnx").write_bytes(b""))
    current = cache.current()
    assert current is not None and current[0] == info
    # a pointer written before the field existed: the time is unknown, not an error
    pointer = tmp_path / "fraud_classifier" / "current.json"
    meta = json.loads(pointer.read_text())
    del meta["info"]["created_at"]
    pointer.write_text(json.dumps(meta))
    current = cache.current()
    assert current is not None and current[0].created_at is None
