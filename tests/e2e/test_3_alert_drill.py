"""Alert drill on the demo's platform (issue 14): faults injected the way they happen in
operation must raise their alerts where an operator sees them, in time, and resolve.

It runs on the session's demo platform (tests/e2e/conftest.py) after test_2_layers.py,
which stopped the live producer: this module starts it again as uniform load at the demo's
rate, and leaves it running. Every budget is computed from the configuration Prometheus and
Alertmanager run with: the rule's ``for:`` as Prometheus loaded it (``/api/v1/rules``;
the test session shortens RedisBreakerOpen's committed 2m to 20s,
``fraud_testing.stack.SESSION_RULE_FOR``, and promtool checks the committed value),
``scrape_interval`` and ``evaluation_interval`` (prometheus.yml), ``group_wait``
(alertmanager.yml); the figures below are for the session's values.

- **Redis breaker**: with live traffic flowing (producer -> ``transactions.raw`` -> live
  scorer -> ``/predict``), Redis is stopped through the stack (``stop(["redis"])``).
  ``RedisBreakerOpen`` must be active in Alertmanager's API within its ``for:`` rounded up
  to whole evaluation intervals (Prometheus fires at the first evaluation at which the
  alert has been pending that long) + 2 scrape intervals + 1 evaluation interval +
  ``ALLOWANCE`` of the stop (30 + 30 + 15 + 10 = 85 s; Alertmanager lists an alert as soon
  as Prometheus sends it, ``group_wait`` delays only the notifications). The budget
  counted the 20-s ``for:`` unrounded until a CI run measured 77.2 s against 75. Redis is
  started again, and the alert must be resolved
  (Alertmanager's API no longer lists it) within the breaker's reset timeout (the next
  lookup after it is the trial that closes it) + 2 scrapes + 1 evaluation +
  ``ALLOWANCE`` of Redis being ready (5 + 30 + 15 + 10 = 60 s). Redis is running again at
  the end whatever happened (started through supervisord as configured:
  :func:`start_redis`).
- **DLQ**, inside the breaker's ``for:`` window (the drills are independent; this keeps
  the wall time to the breaker's): the producer's own malformed-record machinery,
  ``fraud-producer --malformed-fraction 1 --malformed-target raw --max-records 5``, sends
  a malformed variant (bad value, wrong type or not Avro) beside each of 5 live
  transactions, unvalidated, to ``transactions.raw``. The running bronze writer rejects
  them to ``transactions.dlq`` (``fraud_bronze_dlq_records_total`` rises by as many), and
  ``DeadLetterRecords{job="bronze-writer"}`` must be active in Alertmanager's API within
  its ``for:`` (none: 0) + 2 scrapes + 1 evaluation + one micro-batch (the trigger
  interval + ``MICRO_BATCH_SECONDS`` of batch run time) + ``ALLOWANCE`` of the records
  being acknowledged (0 + 30 + 15 + 10 + 20 + 10 = 85 s); the alert-log webhook must
  have received it within that + Alertmanager's ``group_interval`` (+ 300 = 385 s), not
  ``group_wait``: Prometheus re-sends a resolved alert for 15 minutes, which keeps its
  Alertmanager group alive, and a new firing in a live group waits for the group's next
  ``group_interval`` tick (a CI run measured 4 min 45 s between the firing and the
  notification, an earlier DeadLetterRecords resolved 10 minutes before).

- **Feature stream**: the streaming feature job stopped under live traffic: the API's
  answers say ``feature_source="stale"`` within the staleness bound
  (``SERVING_STREAM_STALE_SECONDS`` + the heartbeat read interval + ``ALLOWANCE``), and
  started again the job catches up by itself: every transaction appended meanwhile is in
  the online state and the answers are fresh again. (FeatureStoreStale's firing is
  promtool's to check: its one-minute threshold is in the expression.)

Before injecting, both alerts must be inactive (a left-over firing is waited out), an
earlier DeadLetterRecords notification must have been followed by its resolution (else
Alertmanager would not notify the new firing: same alert, already notified as firing;
on a re-run within minutes this waits up to the 5-minute window + ``group_interval``),
and Prometheus must have scraped the running bronze writer's DLQ counter
(``increase()`` cannot see an increment of a series it never saw before). The drill's
malformed records stay in ``transactions.raw`` and ``transactions.dlq`` (stage
``streaming``), like any rejected record of the platform (test_2_layers.py leaves them out
of its counts).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis
import requests
from confluent_kafka import Consumer, TopicPartition

from fraud_common.settings import PlatformSettings
from fraud_contracts import online, quality
from fraud_contracts.avro import AvroError, decode
from fraud_contracts.registry import CachedSchemaLookup, SchemaRegistry
from fraud_infra.stack import Stack
from fraud_testing.alerts import (
    alert_rule,
    loaded_rule_for_seconds,
    logged_alerts,
    prometheus_intervals,
    route_timing,
    wait_for_alert,
)
from fraud_testing.conditions import scraped, wait_until
from fraud_testing.demo import Demo
from fraud_testing.prometheus import instant_query
from serving.settings import ServingSettings
from spark_jobs.settings import StreamingSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

DLQ_ALERT = "DeadLetterRecords"
BREAKER_ALERT = "RedisBreakerOpen"
BRONZE_JOB = {"job": "bronze-writer"}
#: Prometheus sending to Alertmanager, Alertmanager's processing, the 1 s polling
ALLOWANCE = 10.0
#: run time of one bronze micro-batch under live traffic (DLQ publish + Delta commit)
MICRO_BATCH_SECONDS = 20.0
#: the range of DeadLetterRecords' increase(): how long a left-over firing can last
DLQ_WINDOW_SECONDS = 300.0
#: malformed records the drill sends (one beside each of this many live transactions)
MALFORMED = 5
#: waits go this much past their budget, so a late alert is reported with its time
OVERRUN = 60.0
API = "http://127.0.0.1:8000"
API_METRICS = f"{API}/metrics"
SCORER_METRICS = "http://127.0.0.1:8003/metrics"
BRONZE_METRICS = "http://127.0.0.1:8002/metrics"
DLQ_SERIES = 'fraud_bronze_dlq_records_total{job="bronze-writer",stream="transactions"}'


@pytest.fixture(scope="module")
def live_platform(demo: Demo) -> Stack:
    """The demo's platform with its live producer running (test_2_layers stopped it).

    A stack loaded now, with the demo's settings in the environment (DEMO_ENV), but the
    producer as uniform load at the demo's rate (``PRODUCER_TRAFFIC=uniform``): the drills
    need traffic every second (a breaker closes on the next lookup), which the history's
    rates (a transaction every few seconds) do not promise. Nothing else is restarted."""
    os.environ["PRODUCER_TRAFFIC"] = "uniform"
    stack = Stack.load()
    stack.up(["producer"])
    return stack


def say(message: str) -> None:
    print(f"alert drill: {message}", flush=True)


def redis_running(stack: Stack) -> bool:
    info = stack.process_info("redis")
    return bool(info and info["statename"] == "RUNNING")


def start_redis(stack: Stack) -> None:
    """Start Redis again as supervisord has it configured, and wait until it is ready.

    Not ``stack.up(["redis"])``: ``up`` first rewrites supervisord's configuration from this
    process's environment and stops every service whose configuration differs, without
    starting it again (e.g. the producer ``make demo`` started with its own PRODUCER_TPS),
    which would end the live traffic the breaker needs to close.
    """
    if not redis_running(stack):
        stack.rpc().supervisor.startProcess("redis", False)
    stack.wait_ready(stack.services["redis"])


def dlq_baseline_scraped(stack: Stack) -> bool:
    """Prometheus holds a sample of the running bronze writer's DLQ counter."""
    info = stack.process_info("bronze-writer")
    assert info and info["statename"] == "RUNNING", "the bronze writer is not running"
    scraped = instant_query(f"timestamp({DLQ_SERIES})")
    return any(ts >= info["start"] for _, ts in scraped)


def dlq_notification_pending_resolution() -> bool:
    """The alert log's latest DeadLetterRecords notification of the bronze writer is a
    firing one: Alertmanager has not notified its resolution yet (it does at the group's
    next ``group_interval`` flush). Until it has, a new firing of the same alert is not
    notified at all: Alertmanager's notification log holds it as already sent."""
    latest = [a for a in logged_alerts(DLQ_ALERT) if a["labels"].get("job") == "bronze-writer"]
    return bool(latest) and latest[0]["status"] == "firing"


def inject_malformed(env: dict[str, str], topic: str) -> int:
    """``fraud-producer`` in live mode: MALFORMED live transactions, and beside each a
    malformed variant sent unvalidated to the raw topic; returns the variants acked."""
    with tempfile.TemporaryDirectory() as tmp:
        counts_file = Path(tmp) / "counts.json"
        proc = subprocess.run(
            [
                str(Path(sys.executable).with_name("fraud-producer")),
                "--mode=live",
                "--traffic=uniform",
                "--tps=50",
                f"--max-records={MALFORMED}",
                "--malformed-fraction=1",
                "--malformed-target=raw",
                f"--seed={time.time_ns() % 2**31}",  # fresh variant ids on every run
                "--metrics-port=0",
                f"--counts-file={counts_file}",
            ],
            env={**env, "PRODUCER_METRICS_PORT": "0"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        counts = json.loads(counts_file.read_text())
    return int(counts["acked"].get(topic, 0)) - MALFORMED


def test_dlq_and_redis_breaker_alerts_fire_in_time_and_the_breaker_alert_resolves(
    live_platform: Stack, settings: PlatformSettings
) -> None:
    stack = live_platform
    began = time.monotonic()
    prom = prometheus_intervals()
    detection = 2 * prom.scrape + prom.evaluation + ALLOWANCE
    breaker_for = loaded_rule_for_seconds(BREAKER_ALERT)
    breaker_budget = math.ceil(breaker_for / prom.evaluation) * prom.evaluation + detection
    # the services' settings, from the environment and .env as the services read them
    serving = ServingSettings()  # type: ignore[call-arg,unused-ignore]
    streaming = StreamingSettings()  # type: ignore[call-arg,unused-ignore]
    resolve_budget = serving.breaker_reset_seconds + detection
    dlq_budget = (
        loaded_rule_for_seconds(DLQ_ALERT)
        + detection
        + streaming.trigger_seconds
        + MICRO_BATCH_SECONDS
    )
    dlq_labels = {"alertname": DLQ_ALERT, **alert_rule(DLQ_ALERT).get("labels", {}), **BRONZE_JOB}
    dlq_routing = route_timing(dlq_labels)

    # ------------------------------------------------------------ preconditions
    start_redis(stack)
    wait_for_alert(BREAKER_ALERT, active=False, timeout=resolve_budget + OVERRUN)
    wait_for_alert(
        DLQ_ALERT,
        active=False,
        labels=BRONZE_JOB,
        timeout=DLQ_WINDOW_SECONDS + detection + OVERRUN,
    )
    wait_until(
        "Alertmanager to notify the resolution of an earlier DeadLetterRecords",
        lambda: not dlq_notification_pending_resolution(),
        timeout=DLQ_WINDOW_SECONDS + detection + dlq_routing.group_interval + OVERRUN,
    )
    # a group kept alive by the resolved earlier firing flushes on its group_interval tick
    webhook_budget = dlq_budget + max(dlq_routing.group_wait, dlq_routing.group_interval)
    wait_until(
        "Prometheus to scrape the bronze writer's DLQ counter",
        lambda: dlq_baseline_scraped(stack),
        timeout=2 * prom.scrape + ALLOWANCE,
    )
    scored = scraped(SCORER_METRICS, "fraud_live_scorer_scored_total")
    wait_until(
        "live traffic (the live scorer's count to grow)",
        lambda: scraped(SCORER_METRICS, "fraud_live_scorer_scored_total") > scored,
        timeout=60,
    )
    say(f"preconditions met after {time.monotonic() - began:.0f} s")

    try:
        # -------------------------------------------------------- Redis goes away
        stack.stop(["redis"])
        redis_stopped = time.monotonic()
        breaker_at_api = wait_until(
            "the API's breaker to open",
            lambda: scraped(API_METRICS, "fraud_redis_breaker_open") > 0,
            timeout=30,
        )
        say(f"Redis stopped; the API's breaker open {breaker_at_api:.1f} s later")

        # -------------------------------------------------------- DLQ drill
        rejected_before = scraped(BRONZE_METRICS, "fraud_bronze_dlq_records_total")
        injected_wall = time.time()
        sent = inject_malformed(stack.env, settings.kafka_topic_raw)
        injected = time.monotonic()
        assert sent == MALFORMED
        say(f"{sent} malformed records acked on {settings.kafka_topic_raw}")
        # the gateway's stand-in goes on past them (a NaN amount once stalled it: the
        # breaker then had no traffic to close on)
        scored = scraped(SCORER_METRICS, "fraud_live_scorer_scored_total")
        wait_until(
            "the live scorer to go on scoring past the malformed records",
            lambda: scraped(SCORER_METRICS, "fraud_live_scorer_scored_total") > scored + 50,
            timeout=30,
        )
        dlq_active = wait_for_alert(
            DLQ_ALERT, active=True, labels=BRONZE_JOB, timeout=dlq_budget + OVERRUN
        )
        rejected = scraped(BRONZE_METRICS, "fraud_bronze_dlq_records_total") - rejected_before
        say(
            f"{DLQ_ALERT} active in Alertmanager after {dlq_active:.1f} s "
            f"(budget {dlq_budget:.0f} s); the bronze writer DLQ'd {rejected:.0f}"
        )
        assert rejected >= sent, f"the bronze writer sent {rejected} records to the DLQ"
        assert dlq_active <= dlq_budget, (
            f"{DLQ_ALERT} active after {dlq_active:.0f} s, budget {dlq_budget:.0f} s"
        )

        def notified() -> bool:
            return any(
                a["labels"].get("job") == "bronze-writer"
                and dt.datetime.fromisoformat(a["received_at"]).timestamp() >= injected_wall
                for a in logged_alerts(DLQ_ALERT, status="firing")
            )

        wait_until(
            "the alert log to receive DeadLetterRecords",
            notified,
            timeout=webhook_budget + OVERRUN - (time.monotonic() - injected),
        )
        dlq_logged = time.monotonic() - injected
        say(
            f"{DLQ_ALERT} in the alert log after {dlq_logged:.1f} s (budget {webhook_budget:.0f} s)"
        )
        assert dlq_logged <= webhook_budget, (
            f"{DLQ_ALERT} in the alert log after {dlq_logged:.0f} s, budget {webhook_budget:.0f} s"
        )

        # -------------------------------------------------------- breaker alert
        wait_for_alert(
            BREAKER_ALERT,
            active=True,
            timeout=breaker_budget + OVERRUN - (time.monotonic() - redis_stopped),
        )
        breaker_active = time.monotonic() - redis_stopped
        say(
            f"{BREAKER_ALERT} active {breaker_active:.1f} s after the stop "
            f"(budget {breaker_budget:.0f} s)"
        )
        assert breaker_active <= breaker_budget, (
            f"{BREAKER_ALERT} active after {breaker_active:.0f} s, budget {breaker_budget:.0f} s"
        )

        # -------------------------------------------------------- Redis is back
        start_redis(stack)
        resolved = wait_for_alert(BREAKER_ALERT, active=False, timeout=resolve_budget + OVERRUN)
        say(
            f"{BREAKER_ALERT} resolved {resolved:.1f} s after Redis was back "
            f"(budget {resolve_budget:.0f} s)"
        )
        assert resolved <= resolve_budget, (
            f"{BREAKER_ALERT} resolved after {resolved:.0f} s, budget {resolve_budget:.0f} s"
        )
        assert scraped(API_METRICS, "fraud_redis_breaker_open") == 0
    finally:
        start_redis(stack)  # the tests after this one need it

    say(f"total {time.monotonic() - began:.0f} s")


def predict_source(user_id: str = "U000001", merchant_id: str = "M00001") -> str:
    """``feature_source`` of a /predict answer now."""
    body = {
        "transaction_id": f"drill-{time.time_ns()}",
        "user_id": user_id,
        "amount": 25.0,
        "merchant_id": merchant_id,
        "is_international": False,
    }
    answer = requests.post(f"{API}/predict", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["feature_source"])


def end_offsets(settings: PlatformSettings) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "d"})
    try:
        topic = settings.kafka_topic_raw
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in parts
        }
    finally:
        consumer.close()


def transactions_between(
    settings: PlatformSettings, start: dict[int, int], end: dict[int, int]
) -> list[dict[str, object]]:
    """The valid transactions appended to the raw topic between two sets of end offsets."""
    lookup = CachedSchemaLookup(SchemaRegistry(settings.schema_registry_url))
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "d"})
    topic = settings.kafka_topic_raw
    out: list[dict[str, object]] = []
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in start.items() if end[p] > o])
        pending = {p for p, o in start.items() if end[p] > o}
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                if msg.error() is not None or msg.offset() >= end[msg.partition()]:
                    continue
                if msg.offset() + 1 >= end[msg.partition()]:
                    pending.discard(msg.partition())
                try:
                    record = decode(msg.value() or b"", lookup)[1]
                except AvroError:
                    continue
                if not quality.transaction_problems(record, msg.timestamp()[1]):
                    out.append(record)
    finally:
        consumer.close()
    return out


def test_a_stopped_feature_stream_makes_answers_stale_and_it_catches_up(
    live_platform: Stack, settings: PlatformSettings
) -> None:
    """The streaming feature job down (part 6 of issue 26): the API keeps answering from the
    state as it is and says so; started again, the job catches up by itself."""
    stack = live_platform
    serving = ServingSettings()  # type: ignore[call-arg,unused-ignore]
    stale_budget = serving.stream_stale_seconds + serving.stream_watch_seconds + ALLOWANCE
    wait_until("fresh answers", lambda: predict_source() == "redis", timeout=30)
    before = end_offsets(settings)
    stack.stop(["feature-stream"])
    try:
        took = wait_until("stale answers", lambda: predict_source() == "stale", stale_budget)
        say(f"feature stream stopped; the API answers 'stale' after {took:.1f} s")
        assert scraped(API_METRICS, "fraud_feature_stream_fresh") == 0
        wait_until(
            "live traffic while the job is down",
            lambda: sum(end_offsets(settings).values()) > sum(before.values()) + 100,
            timeout=60,
        )
    finally:
        if (info := stack.process_info("feature-stream")) and info["statename"] != "RUNNING":
            stack.rpc().supervisor.startProcess("feature-stream", False)
        stack.wait_ready(stack.services["feature-stream"])
    during = end_offsets(settings)
    took = wait_until("fresh answers again", lambda: predict_source() == "redis", timeout=60)
    say(f"feature stream back; fresh answers after {took:.1f} s")
    missed = transactions_between(settings, before, during)
    assert len(missed) > 100
    client = redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        password=settings.redis_password.get_secret_value(),
    )
    absent = [
        r["transaction_id"]
        for r in missed
        if not client.hexists(online.user_keys(str(r["user_id"]))[1], str(r["transaction_id"]))
    ]
    assert absent == [], f"{len(absent)} of {len(missed)} transactions missing after catch-up"
