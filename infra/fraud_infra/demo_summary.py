"""What ``make demo`` prints at the end: counts per layer, the model, two scored requests.

Everything is read through the platform's contracts: Kafka end offsets and the DLQ
headers, the bronze/silver/gold tables in Trino, the online feature state's cards and
terminals in Redis, the ``predictions`` table, the model registry's ``production``
alias, and the scoring API.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
import requests
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from fraud_common.settings import PlatformSettings
from fraud_common.trino import TrinoError, execute
from fraud_contracts import dlq, online
from fraud_contracts.names import (
    ALIAS_PRODUCTION,
    MART_FRAUD_FEATURES,
    MODEL_NAME,
    PREDICTIONS_TABLE,
)
from fraud_infra.stack import Stack

API_URL = "http://127.0.0.1:8000"
#: (service, what to log in with) for the UIs of the native stack
LOGINS = {
    "airflow-api-server": "AIRFLOW_ADMIN_USER / AIRFLOW_ADMIN_PASSWORD in .env",
    "mlflow": "no login",
    "trino": "any user name, no password",
    "prometheus": "no login",
    "alertmanager": "no login",
    "alert-log": "no login (the alerts Alertmanager sent, as JSON)",
    "fraud-api": "no login",
    "bronze-writer": "Spark UI, no login",
    "superset": "SUPERSET_ADMIN_USER / SUPERSET_ADMIN_PASSWORD in .env "
    "(start it: .venv/bin/fraud-stack up superset)",
}


@dataclass
class Report:
    layers: list[tuple[str, str, int]] = field(default_factory=list)
    dlq_reasons: Counter[str] = field(default_factory=Counter)
    predictions_by_version: dict[str, int] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)
    examples: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    urls: list[tuple[str, str, str]] = field(default_factory=list)


def topic_sizes(settings: PlatformSettings) -> dict[str, int]:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "fraud-demo-summary"}
    )
    try:
        metadata = consumer.list_topics(timeout=10).topics
        sizes = {}
        for topic in (
            settings.kafka_topic_raw,
            settings.kafka_topic_labels,
            settings.kafka_topic_dlq,
        ):
            total = 0
            for p in metadata[topic].partitions if topic in metadata else ():
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                total += high - low
            sizes[topic] = total
        return sizes
    finally:
        consumer.close()


def dlq_reasons(settings: PlatformSettings, expected: int) -> Counter[str]:
    """Every DLQ record's reason codes (the contract's ``dlq.reason`` header)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": "fraud-demo-summary",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    reasons: Counter[str] = Counter()
    seen = 0
    try:
        metadata = consumer.list_topics(settings.kafka_topic_dlq, timeout=10)
        partitions = metadata.topics[settings.kafka_topic_dlq].partitions
        consumer.assign([TopicPartition(settings.kafka_topic_dlq, p, 0) for p in partitions])
        idle = 0
        while seen < expected and idle < 10:
            batch = consumer.consume(1000, timeout=1.0)
            idle = 0 if batch else idle + 1
            for msg in batch:
                if msg.error() is None:
                    seen += 1
                    reasons.update(dlq.reasons(dlq.parse(msg.headers())))
    finally:
        consumer.close()
    return reasons


def trino_count(settings: PlatformSettings, table: str) -> int:
    try:
        rows = execute(settings, f"SELECT count(*) FROM {settings.trino_catalog}.{table}")  # noqa: S608
    except TrinoError:
        return 0
    return int(rows[0][0])


def redis_keys(settings: PlatformSettings) -> dict[str, int]:
    client = redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        password=settings.redis_password.get_secret_value(),
        socket_timeout=10,
    )
    try:
        return {
            prefix: sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=5000))
            for prefix in (online.USER_EVENTS, online.TERMINAL_EVENTS)
        }
    finally:
        client.close()


def predictions(settings: PlatformSettings, env: dict[str, str]) -> dict[str, int]:
    """Rows of the prediction log per model version ({} before the API created it)."""
    dsn = settings.postgres_dsn(
        "predictions", user="predictions", password=env["PREDICTIONS_DB_PASSWORD"]
    )
    sql = f"SELECT model_version, count(*) FROM {PREDICTIONS_TABLE} GROUP BY 1 ORDER BY 1"  # noqa: S608
    with psycopg.connect(dsn) as conn:
        try:
            return {str(v): int(n) for v, n in conn.execute(sql).fetchall()}
        except psycopg.errors.UndefinedTable:
            return {}


def production_model(mlflow_url: str) -> dict[str, str]:
    """The version holding the production alias and its tags ({} when none does)."""
    resp = requests.get(
        f"{mlflow_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": MODEL_NAME, "alias": ALIAS_PRODUCTION},
        timeout=10,
    )
    if resp.status_code == 404 or (resp.status_code == 400 and "not found" in resp.text.lower()):
        return {}
    resp.raise_for_status()
    version = resp.json()["model_version"]
    tags = {t["key"]: t["value"] for t in version.get("tags", [])}
    return {"version": str(version["version"]), **tags}


def example_requests(settings: PlatformSettings) -> list[tuple[str, dict[str, Any]]]:
    """The newest labelled fraud of bronze and the newest genuine transaction before it."""
    catalog = settings.trino_catalog
    out = []
    for fraud in (False, True):
        query = (
            "SELECT t.transaction_id, t.user_id, t.amount, t.merchant_id, t.is_international, "  # noqa: S608
            "to_iso8601(t.event_time), t.currency, t.channel "
            f"FROM {catalog}.bronze.transactions t LEFT JOIN {catalog}.bronze.fraud_labels l "
            "ON l.transaction_id = t.transaction_id AND l.is_fraud "
            "WHERE t.event_date >= current_date - INTERVAL '5' DAY "
            # old enough for its label to have come back (the platform's label delay)
            "AND t.event_time < current_timestamp - INTERVAL '1' DAY "
            "AND t.channel IN ('pos', 'ecom') "
            f"AND l.transaction_id IS {'NOT ' if fraud else ''}NULL "
            "ORDER BY t.event_time DESC LIMIT 1"
        )
        rows = execute(settings, query)
        if not rows:
            continue
        tx_id, user, amount, merchant, intl, event_time, currency, channel = rows[0]
        body = {
            "transaction_id": f"demo-{tx_id}"[:64],
            "user_id": user,
            "amount": amount,
            "merchant_id": merchant,
            "is_international": intl,
            "event_time": event_time,
            "currency": currency,
            "channel": channel,
        }
        out.append(("fraudulent (the simulator's truth)" if fraud else "genuine", body))
    return out


def score(body: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(f"{API_URL}/predict", json=body, timeout=10)
    resp.raise_for_status()
    answer: dict[str, Any] = resp.json()
    return answer


def collect(stack: Stack, settings: PlatformSettings, env: dict[str, str]) -> Report:
    report = Report()
    sizes = topic_sizes(settings)
    report.layers += [
        ("Kafka", settings.kafka_topic_raw, sizes[settings.kafka_topic_raw]),
        ("Kafka", settings.kafka_topic_labels, sizes[settings.kafka_topic_labels]),
        ("Kafka (DLQ)", settings.kafka_topic_dlq, sizes[settings.kafka_topic_dlq]),
        ("bronze", "bronze.transactions", trino_count(settings, "bronze.transactions")),
        ("bronze", "bronze.fraud_labels", trino_count(settings, "bronze.fraud_labels")),
        (
            "silver",
            "silver.int_transactions_enriched",
            trino_count(settings, "silver.int_transactions_enriched"),
        ),
        (
            "gold",
            f"gold.{MART_FRAUD_FEATURES}",
            trino_count(settings, f"gold.{MART_FRAUD_FEATURES}"),
        ),
    ]
    for prefix, n in redis_keys(settings).items():
        report.layers.append(("Redis", f"{prefix}*", n))
    report.predictions_by_version = predictions(settings, env)
    report.layers.append(
        ("Postgres", PREDICTIONS_TABLE, sum(report.predictions_by_version.values()))
    )
    report.dlq_reasons = dlq_reasons(settings, sizes[settings.kafka_topic_dlq])
    report.model = production_model(stack.services["mlflow"].url or "http://127.0.0.1:5000")
    for label, body in example_requests(settings):
        report.examples.append((label, body, score(body)))
    for name, how in LOGINS.items():
        svc = stack.services.get(name)
        if svc is not None and svc.url:
            report.urls.append((name, svc.url, how))
    return report


def _curl(body: dict[str, Any]) -> str:
    return (
        f"curl -s -X POST {API_URL}/predict -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body))}"
    )


def render(console: Console, report: Report) -> None:
    layers = Table(title="Counts per layer", title_justify="left")
    for col in ("layer", "where", "records"):
        layers.add_column(col, justify="right" if col == "records" else "left")
    for layer, where, n in report.layers:
        layers.add_row(layer, where, f"{n:,}")
    console.print(layers)
    if report.dlq_reasons:
        reasons = ", ".join(f"{r} {n:,}" for r, n in report.dlq_reasons.most_common())
        console.print(f"DLQ by reason: {reasons}")
    console.print(
        "predictions by model version: "
        + ", ".join(f"v{v} {n:,}" for v, n in report.predictions_by_version.items())
    )
    m = report.model

    def metric(key: str) -> str:
        return f"{float(m[key]):.3f}" if key in m else "?"

    console.print(
        f"\n[bold]Model in production[/]: {MODEL_NAME} v{m.get('version')} "
        f"({m.get('model_type', '?')}), test window {m.get('test_start')} .. {m.get('test_end')}: "
        f"AUC {metric('test_auc')}, AP {metric('test_average_precision')}, "
        f"Card Precision@100 {metric('test_card_precision_at_100')}"
    )
    handbook = sorted(k for k in m if re.match(r"^reference\.", k))
    for key in handbook:
        console.print(f"  {key.removeprefix('reference.')}: {m[key]}")
    for label, body, answer in report.examples:
        reasons = (
            ", ".join(f"{r['feature']}={r['value']:.3g}" for r in answer.get("top_reasons", [])[:3])
            or "none (the API explains high-risk answers only: SERVING_REASONS_MIN_TIER)"
        )
        console.print(f"\n[bold]A {label} transaction[/]:\n  {_curl(body)}")
        console.print(
            f"  → fraud_probability {answer['fraud_probability']:.3f}, risk_tier "
            f"{answer['risk_tier']}, model v{answer['model_version']}, top reasons: {reasons}"
        )
    urls = Table(title="\nUIs", title_justify="left")
    for col in ("service", "URL", "login"):
        urls.add_column(col)
    for name, url, how in report.urls:
        urls.add_row(name, url, how)
    console.print(urls)
