"""Records of other schemas on ``transactions.raw`` stop none of the platform's consumers.

After `make demo` a fraud label (the platform's other registered schema), sent to the raw
topic by mistake, once stopped live scoring for good: the live scorer died on it, and a
restart met it again (offsets are committed after scoring). On the session's demo
platform, after the other drills, this sends to ``transactions.raw``: a valid fraud label,
a record of a foreign registered schema whose fields share the transaction's names but not
its types, then one valid transaction. Then:

- the live scorer counts the two as ``not_a_transaction`` and scores the transaction (its
  prediction is in the log);
- the streaming feature job skips both with the same reason;
- the bronze writer sends both to the DLQ;
- all three are still running.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import psycopg
import pytest
from fastavro import parse_schema

from fraud_common.settings import PlatformSettings
from fraud_contracts import avro
from fraud_contracts.names import PREDICTIONS_TABLE
from fraud_contracts.registry import SchemaRegistry
from fraud_infra.stack import Stack
from fraud_testing.conditions import scraped, wait_until
from fraud_testing.demo import Demo
from fraud_testing.wire import RETYPED, Sender, sample_transaction

pytestmark = pytest.mark.e2e

SCORER_METRICS = "http://127.0.0.1:8003/metrics"
FEATURE_STREAM_METRICS = "http://127.0.0.1:8006/metrics"
BRONZE_METRICS = "http://127.0.0.1:8002/metrics"


def _running(stack: Stack, name: str) -> bool:
    info = stack.process_info(name)
    return bool(info and info["statename"] == "RUNNING")


@pytest.mark.timeout(300)
def test_records_of_other_schemas_stop_no_consumer(
    demo: Demo, native_stack: Stack, settings: PlatformSettings
) -> None:
    for service in ("live-scorer", "feature-stream", "bronze-writer", "fraud-api"):
        assert _running(native_stack, service), f"{service} is not running before the drill"
    not_tx = {"reason": "not_a_transaction"}
    scorer_before = scraped(SCORER_METRICS, "fraud_live_scorer_rejected_total", **not_tx)
    stream_before = scraped(
        FEATURE_STREAM_METRICS, "fraud_feature_stream_skipped_total", topic="raw", **not_tx
    )
    dlq_before = scraped(BRONZE_METRICS, "fraud_bronze_dlq_records_total")

    now = dt.datetime.now(dt.UTC)
    valid = sample_transaction(
        transaction_id=f"poison-drill-{uuid.uuid4()}", event_time=int(now.timestamp() * 1000)
    )
    label = {
        "transaction_id": valid["transaction_id"],
        "user_id": valid["user_id"],
        "is_fraud": True,
        "scenario": "drill",
        "event_time": valid["event_time"],
        "reported_at": valid["event_time"] + 1,
    }
    foreign_id = SchemaRegistry(settings.schema_registry_url).register(
        "poison-drill-value", json.dumps(RETYPED)
    )
    foreign = {"transaction_id": "x", "user_id": 42, "amount": "57.3", "event_time": "now"}
    sender = Sender(settings)
    sender.raw(sender.label.encode(label), valid["user_id"])
    sender.raw(avro.encode(foreign, parse_schema(RETYPED), foreign_id), "drill")
    sender.transaction(valid)
    sender.flush()

    wait_until(
        "the live scorer to count both records as not a transaction",
        lambda: scraped(SCORER_METRICS, "fraud_live_scorer_rejected_total", **not_tx)
        - scorer_before
        >= 2,
        timeout=60,
    )
    dsn = settings.postgres_dsn(
        "predictions", user="predictions", password=native_stack.env["PREDICTIONS_DB_PASSWORD"]
    )

    def logged() -> bool:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                f"SELECT count(*) FROM {PREDICTIONS_TABLE} WHERE transaction_id = %s",
                (valid["transaction_id"],),
            ).fetchone()
        return bool(row and row[0] == 1)

    wait_until("the transaction after them to be scored and logged", logged, timeout=60)
    wait_until(
        "the feature job to skip both",
        lambda: scraped(
            FEATURE_STREAM_METRICS, "fraud_feature_stream_skipped_total", topic="raw", **not_tx
        )
        - stream_before
        >= 2,
        timeout=60,
    )
    wait_until(
        "the bronze writer to send both to the DLQ",
        lambda: scraped(BRONZE_METRICS, "fraud_bronze_dlq_records_total") - dlq_before >= 2,
        timeout=120,
    )
    for service in ("live-scorer", "feature-stream", "bronze-writer"):
        assert _running(native_stack, service), f"{service} stopped on a record"
