"""Prometheus metrics of the scoring API, with the original project's names.

uvicorn may run several worker processes: when ``PROMETHEUS_MULTIPROC_DIR`` is set (the
``fraud-api`` launcher sets it for ``--workers`` > 1) every worker writes its samples to
that directory and ``GET /metrics`` aggregates them, so a scrape sees the whole API.
"""

from __future__ import annotations

import os
from bisect import bisect_left

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

if _dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_dir, exist_ok=True)  # before any metric writes its file there

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)

PREDICTIONS = Counter("fraud_predictions_total", "Predictions made, by risk tier", ["risk_tier"])
LATENCY = Histogram(
    "fraud_prediction_latency_seconds",
    "Time to score one transaction (features + model), per prediction",
    buckets=LATENCY_BUCKETS,
)
MODEL_VERSION = Gauge(
    "fraud_model_version",
    "Registry version of the loaded model (0 when none is loaded)",
    multiprocess_mode="max",
)
MODEL_CREATED = Gauge(
    "fraud_model_created_timestamp_seconds",
    "Unix time the loaded model version was registered (0 when none is loaded or unknown)",
    multiprocess_mode="max",
)
CACHE_HITS = Counter(
    "fraud_redis_cache_hits_total",
    "Lookups whose card (kind=user) or terminal had events in the online state",
    ["kind"],
)
CACHE_MISSES = Counter(
    "fraud_redis_cache_misses_total",
    "Lookups whose card or terminal had no event in the lookback (no history)",
    ["kind"],
)
CACHE_ERRORS = Counter(
    "fraud_redis_cache_errors_total",
    "Lookups that failed or were skipped by the open breaker (fallback used)",
    ["reason"],
)
FALLBACKS = Counter(
    "fraud_feature_fallback_total", "Predictions scored with default features (Redis unavailable)"
)
STALE = Counter(
    "fraud_feature_stale_total",
    "Predictions scored while the streaming feature job lagged or was down (stale state)",
)
STREAM_FRESH = Gauge(
    "fraud_feature_stream_fresh",
    "1 while the streaming feature job's heartbeat says the online state is current",
    multiprocess_mode="min",
)
BREAKER_STATE = Gauge(
    "fraud_redis_breaker_open",
    "1 while the Redis circuit breaker is open or half-open",
    multiprocess_mode="max",
)
REQUEST_ERRORS = Counter(
    "fraud_request_errors_total", "Requests answered with an error status", ["endpoint", "status"]
)
LOG_BACKLOG = Gauge(
    "fraud_prediction_log_backlog",
    "Predictions not yet in Postgres (queued in memory or spilled to disk)",
    ["where"],
    multiprocess_mode="livesum",
)
LOG_WRITTEN = Counter("fraud_prediction_log_rows_total", "Rows written to Postgres", ["path"])
LOG_SPILLED = Counter(
    "fraud_prediction_log_spilled_total", "Rows written to the spill file while Postgres was down"
)


class _PendingObservations:
    """Observations of one histogram not yet written: a count per bucket and their sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, histogram: Histogram) -> None:
        self.bounds: list[float] = list(histogram._upper_bounds)
        self.counts = [0] * len(self.bounds)
        self.total = 0.0


class HotCounters:
    """The per-prediction counter increments and latency observations, summed in memory
    and added to the Prometheus children by :meth:`flush` (the service flushes every
    ``FLUSH_SECONDS`` and before each scrape of this process).

    In multiprocess mode every ``inc`` takes the value's lock, checks the pid and
    writes the mmap file; a prediction makes three or four of them, and a histogram
    observation two more. Here it is a dict update (a bucket search for an
    observation); a scrape lags at most ``FLUSH_SECONDS`` behind another worker.

    Histograms are flushed into the same per-bucket values and sum that
    ``Histogram.observe`` writes (``_buckets``/``_sum`` of prometheus_client's
    ``Histogram``); the unit test holds the exposition equal to direct observations.
    """

    FLUSH_SECONDS = 0.25

    def __init__(self) -> None:
        self._pending: dict[Counter, float] = {}
        self._observed: dict[Histogram, _PendingObservations] = {}

    def inc(self, child: Counter, amount: float = 1.0) -> None:
        pending = self._pending
        pending[child] = pending.get(child, 0.0) + amount

    def observe(self, histogram: Histogram, amount: float) -> None:
        pending = self._observed.get(histogram)
        if pending is None:
            pending = self._observed[histogram] = _PendingObservations(histogram)
        # Histogram.observe counts ``amount`` in the first bucket whose bound is >= it
        pending.counts[bisect_left(pending.bounds, amount)] += 1
        pending.total += amount

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for child, amount in pending.items():
            child.inc(amount)
        observed, self._observed = self._observed, {}
        for histogram, obs in observed.items():
            histogram._sum.inc(obs.total)
            for bucket, count in zip(histogram._buckets, obs.counts, strict=True):
                if count:
                    bucket.inc(count)


HOT = HotCounters()


def render() -> tuple[bytes, str]:
    """The exposition text (aggregated over workers in multiprocess mode)."""
    HOT.flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
