"""Prometheus metrics of the producer (served on ``PRODUCER_METRICS_PORT``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS = Counter(
    "fraud_producer_records_total", "Records acknowledged by Kafka, by topic", ["topic"]
)
DLQ_RECORDS = Counter(
    "fraud_producer_dlq_records_total", "Records routed to the DLQ, by reason", ["reason"]
)
DELIVERY_ERRORS = Counter(
    "fraud_producer_delivery_errors_total",
    "Records the broker finally did not acknowledge",
    ["topic"],
)
DELIVERY_LATENCY = Histogram(
    "fraud_producer_delivery_latency_seconds",
    "Time from produce() to the broker's acknowledgement",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONFIGURED_TPS = Gauge("fraud_producer_configured_tps", "Configured transactions per second")
ACHIEVED_TPS = Gauge(
    "fraud_producer_achieved_tps", "Transactions acknowledged per second over the last interval"
)
PENDING_LABELS = Gauge(
    "fraud_producer_pending_labels", "Fraud labels waiting for their reporting delay"
)
