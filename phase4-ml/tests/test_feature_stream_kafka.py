"""The streaming feature job against the stack's Kafka and registry and a private Redis.

Topics of its own (``fresh_topics``): simulated transactions and their fraud labels, with
bad records of every kind among them, are on Kafka before the job starts (history) and
while it runs (live). Asserted:

- the online state holds every valid transaction exactly once, on its card and its
  terminal, and every fraud report on its terminal; each bad record is counted by reason
  and skipped, and the job goes on;
- a live record is readable within the freshness bound (the job's delay histogram);
- a wiped Redis is noticed and rebuilt from the topics, equal to before;
- what the scoring API's store reads for transactions equals the contract's definition
  over the produced records (point in time, the transaction itself excluded).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY

from fraud_common.settings import PlatformSettings
from fraud_contracts import features, online
from fraud_contracts.features import Event, TransactionContext, to_ms
from fraud_simulator.simulator import Simulator
from fraud_testing.serving import RedisProcess
from fraud_testing.wire import Sender
from serving.feature_store import RedisFeatureStore
from serving.feature_stream import MARKER_KEY, FeatureStream, FeatureStreamSettings

pytestmark = pytest.mark.integration

#: a live record must be readable this soon after it was appended (the SLO's p99 bound)
FRESHNESS_BOUND_SECONDS = 5.0


def skipped(topic: str, reason: str) -> float:
    labels = {"topic": topic, "reason": reason}
    return REGISTRY.get_sample_value("fraud_feature_stream_skipped_total", labels) or 0.0


def wait(what: str, check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_the_job_keeps_the_online_state_exact_fresh_and_rebuildable(
    fresh_topics: PlatformSettings, private_redis: RedisProcess
) -> None:
    send = Sender(fresh_topics)
    sim = Simulator(23)
    now = dt.datetime.now(dt.UTC)
    valid: list[dict[str, Any]] = []
    reports: dict[str, int] = {}

    def produce(batch: list[Any]) -> None:
        for item in batch:
            tx = dict(item.transaction)
            send.transaction(tx)
            valid.append(tx)
            if item.label is not None:
                send.fraud_label(item.label)
                reports.setdefault(tx["transaction_id"], int(item.label["reported_at"]))

    # history, with bad records of every kind among it
    for hour in range(48, 0, -1):
        produce(sim.live_batch(now - dt.timedelta(hours=hour), 40, dt.timedelta(hours=1)))
    bad_before = skipped("raw", "undecodable"), skipped("raw", "not_a_transaction")
    send.raw(b"not avro at all")
    any_label = send.label.encode(
        {
            "transaction_id": str(uuid.uuid4()),
            "user_id": "U000001",
            "is_fraud": True,
            "scenario": "card_testing",
            "event_time": to_ms(now) - 1000,
            "reported_at": to_ms(now),
        }
    )
    send.raw(any_label)  # a valid record of the other registered schema
    bad_tx = dict(valid[0], transaction_id=str(uuid.uuid4()), amount=float("nan"))
    send.transaction(bad_tx)
    send.transaction(valid[1])  # a duplicate landing
    send.flush()

    settings = FeatureStreamSettings(
        kafka_bootstrap_servers=fresh_topics.kafka_bootstrap_servers,
        schema_registry_url=fresh_topics.schema_registry_url,
        topic_raw=fresh_topics.kafka_topic_raw,
        topic_labels=fresh_topics.kafka_topic_labels,
        redis_port=private_redis.port,
        redis_password=private_redis.password,  # type: ignore[arg-type]
        group_id=f"test-feature-stream-{uuid.uuid4().hex[:8]}",
        metrics_port=0,
    )
    job = FeatureStream(settings)
    runner = threading.Thread(target=job.run, daemon=True)
    runner.start()
    client = redis.Redis(port=private_redis.port, password=private_redis.password)

    def state() -> dict[str, set[bytes]]:
        out: dict[str, set[bytes]] = {}
        for key in client.scan_iter(match=online.USER_EVENTS + "*", count=1000):
            out[key.decode()] = {m.split(b":", 1)[1] for m in client.zrange(key, 0, -1)}
        return out

    def expected_state() -> dict[str, set[bytes]]:
        out: dict[str, set[bytes]] = {}
        for tx in valid:
            key = online.user_keys(tx["user_id"])[0]
            out.setdefault(key, set()).add(tx["transaction_id"].encode())
        return out

    try:
        wait("the history in the online state", lambda: state() == expected_state())
        assert skipped("raw", "undecodable") - bad_before[0] == 1
        assert skipped("raw", "not_a_transaction") - bad_before[1] == 1
        assert skipped("raw", "amount_not_positive_finite") >= 1
        wait(
            "every fraud report on its terminal",
            lambda: sum(
                client.hlen(key) for key in client.scan_iter(match=online.TERMINAL_FRAUDS + "*")
            )
            == len(reports),
            timeout=30,
        )

        # live: each record readable within the bound
        fresh_before = (
            REGISTRY.get_sample_value(
                "fraud_feature_stream_delay_seconds_bucket", {"le": str(FRESHNESS_BOUND_SECONDS)}
            )
            or 0.0
        )
        count_before = REGISTRY.get_sample_value("fraud_feature_stream_delay_seconds_count") or 0.0
        produce(sim.live_batch(dt.datetime.now(dt.UTC), 200))
        send.flush()
        wait("the live records in the online state", lambda: state() == expected_state(), 30)
        observed = (
            REGISTRY.get_sample_value("fraud_feature_stream_delay_seconds_count") or 0.0
        ) - count_before
        within = (
            REGISTRY.get_sample_value(
                "fraud_feature_stream_delay_seconds_bucket", {"le": str(FRESHNESS_BOUND_SECONDS)}
            )
            or 0.0
        ) - fresh_before
        assert observed >= 200 and within == observed, (within, observed)

        # a wiped Redis is rebuilt from the topics
        before = state()
        client.flushall()
        wait("the rebuild after a wipe", lambda: state() == before, 60)
        status = online.StreamStatus.from_redis(client.get(online.STATUS_KEY) or b"{}")
        assert status.applied_through_ms > 0

        # a state of an older layout (marker "<ms>", members without the amount) is
        # deleted and rebuilt, never read as it is
        def members() -> dict[bytes, set[bytes]]:
            keys = client.scan_iter(match=online.USER_EVENTS + "*", count=1000)
            return {key: set(client.zrange(key, 0, -1)) for key in keys}

        current = members()
        some_key = next(iter(current))
        client.zadd(some_key, {b"an-id-in-the-old-layout": 1.0})
        client.set(MARKER_KEY, b"1765000000000")
        wait("the rebuild of an outdated layout", lambda: members() == current, 60)
        assert (client.get(MARKER_KEY) or b"").startswith(f"{online.LAYOUT_VERSION}:".encode())
    finally:
        job.running = False
        runner.join(30)

    # what the API reads equals the contract's definition over the produced records
    store = RedisFeatureStore(
        port=private_redis.port, password=private_redis.password, read_timeout=2.0
    )
    first: dict[str, dict[str, Any]] = {}
    for tx in valid:
        first.setdefault(tx["transaction_id"], tx)
    sample = list(first.values())[::25]

    async def reads() -> list[Any]:
        out = []
        for tx in sample:
            at = dt.datetime.fromtimestamp(tx["event_time"] / 1000, tz=dt.UTC)
            out.append(await store.read(tx["user_id"], tx["merchant_id"], at))
        await store.close()
        return out

    for tx, found in zip(sample, asyncio.run(reads()), strict=True):
        at = dt.datetime.fromtimestamp(tx["event_time"] / 1000, tz=dt.UTC)
        user = [
            Event(x["event_time"], x["amount"])
            for x in first.values()
            if x["user_id"] == tx["user_id"]
        ]
        terminal = [
            Event(x["event_time"], x["amount"], reports.get(x["transaction_id"]))
            for x in first.values()
            if x["merchant_id"] == tx["merchant_id"]
        ]
        u, m = features.reference_records(TransactionContext(1.0, False, at), user, terminal)
        user_values = [u.values[n] for n in features.USER_RECORD]
        terminal_values = [m.values[n] for n in features.TERMINAL_FEATURES]
        assert list(found.user or ()) == pytest.approx(user_values, rel=1e-9, abs=1e-9)
        assert list(found.terminal or ()) == pytest.approx(terminal_values, rel=1e-9, abs=1e-9)
