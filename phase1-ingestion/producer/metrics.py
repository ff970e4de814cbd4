"""Prometheus metrics of the producer (served on ``PRODUCER_METRICS_PORT``).

The per-message delivery path is hot (one delivery report per record), so
acknowledgements and delivery latencies are aggregated in plain Python
(:class:`DeliveryStats`) and exported by a custom collector at scrape time instead of
calling ``prometheus_client`` metric objects once per message.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator

from prometheus_client import REGISTRY, Gauge
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

DLQ_RECORDS = PromCounter(
    "fraud_producer_dlq_records_total", "Records routed to the DLQ, by reason", ["reason"]
)
#: the producer's DLQ reasons; each series exists from the start at 0, so the first record
#: of a reason shows in increase()/rate() (a series born at 1 shows no increase)
DLQ_REASONS = ("schema_validation", "quality", "not_avro", "delivery_failed")
for _reason in DLQ_REASONS:
    DLQ_RECORDS.labels(reason=_reason)
DELIVERY_ERRORS = PromCounter(
    "fraud_producer_delivery_errors_total",
    "Records the broker finally did not acknowledge",
    ["topic"],
)
CONFIGURED_TPS = Gauge("fraud_producer_configured_tps", "Configured transactions per second")
ACHIEVED_TPS = Gauge(
    "fraud_producer_achieved_tps", "Transactions acknowledged per second over the last interval"
)
PENDING_LABELS = Gauge(
    "fraud_producer_pending_labels", "Fraud labels waiting for their reporting delay"
)


class DeliveryStats:
    """Acknowledged records by topic and a delivery-latency histogram, cheap to update."""

    def __init__(self) -> None:
        self.acked: Counter[str] = Counter()
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0

    def ack(self, topic: str, latency: float | None) -> None:
        self.acked[topic] += 1
        if latency is not None:
            self.buckets[bisect_left(LATENCY_BUCKETS, latency)] += 1
            self.latency_sum += latency


class DeliveryCollector(Collector):
    """Exports the live :class:`DeliveryStats` objects at scrape time."""

    def __init__(self) -> None:
        self.sources: list[DeliveryStats] = []

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        records = CounterMetricFamily(
            "fraud_producer_records", "Records acknowledged by Kafka, by topic", labels=["topic"]
        )
        latency = HistogramMetricFamily(
            "fraud_producer_delivery_latency_seconds",
            "Time from produce() to the broker's acknowledgement",
        )
        acked: Counter[str] = Counter()
        buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        total = 0.0
        for stats in self.sources:
            acked.update(stats.acked)
            buckets = [a + b for a, b in zip(buckets, stats.buckets, strict=True)]
            total += stats.latency_sum
        for topic, n in sorted(acked.items()):
            records.add_metric([topic], n)
        cumulative, running = [], 0
        for bound, n in zip([*map(str, LATENCY_BUCKETS), "+Inf"], buckets, strict=True):
            running += n
            cumulative.append((bound, running))
        latency.add_metric([], cumulative, total)
        yield records
        yield latency


DELIVERY = DeliveryCollector()
REGISTRY.register(DELIVERY)
