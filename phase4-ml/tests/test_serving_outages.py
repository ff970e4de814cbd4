"""Fault injection against private engines (never the shared stack's Redis/Postgres).

- Redis killed: /predict keeps answering 200 with feature_source=fallback, the breaker
  opens, and after Redis is back (same port) it closes and features come from Redis again.
- Postgres stopped for ``OUTAGE_SECONDS`` (default 60) under continuous load: afterwards
  every prediction answered is in ``predictions`` exactly once.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from fraud_contracts import features
from fraud_testing.serving import (
    ApiThread,
    PostgresProcess,
    RedisProcess,
    seed_cache,
    train_model,
)
from serving.feature_store import RedisFeatureStore
from serving.main import create_app
from serving.service import ScoringService
from serving.settings import ServingSettings

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "60"))


def tx(user: str = "U000001", merchant: str = "M00001") -> dict[str, Any]:
    return {
        "transaction_id": str(uuid.uuid4()),
        "user_id": user,
        "amount": 120.0,
        "merchant_id": merchant,
        "is_international": False,
    }


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[RedisProcess, PostgresProcess]]:
    r, pg = RedisProcess(), PostgresProcess()
    r.start()
    pg.start()
    try:
        yield r, pg
    finally:
        r.stop()
        pg.cleanup()


@pytest.fixture
def api(engines: tuple[RedisProcess, PostgresProcess], tmp_path: Path) -> Iterator[ApiThread]:
    r, pg = engines
    seed_cache(tmp_path / "models", train_model("hist_gradient_boosting"))
    settings = ServingSettings(
        redis_port=r.port,
        redis_password=r.password,
        postgres_port=pg.port,
        predictions_db_password=pg.password,
        mlflow_tracking_uri="",
        model_cache_dir=tmp_path / "models",
        spill_dir=tmp_path / "spill",
        breaker_fail_max=3,
        breaker_reset_seconds=1.0,
        log_retry_seconds=1.0,
    )
    now = dt.datetime.now(dt.UTC)
    values = {n: 1.0 for n in features.USER_FEATURES}
    RedisFeatureStore.from_settings(settings).write([features.UserFeatures("U000001", now, values)])
    with ApiThread(create_app(ScoringService(settings))) as server:
        yield server


def test_redis_outage_falls_back_and_breaker_recovers(
    api: ApiThread, engines: tuple[RedisProcess, PostgresProcess]
) -> None:
    r, _ = engines
    first = requests.post(f"{api.url}/predict", json=tx(), timeout=5).json()
    assert first["feature_source"] == "redis"

    r.stop()
    sources = []
    for _ in range(20):
        resp = requests.post(f"{api.url}/predict", json=tx(), timeout=5)
        assert resp.status_code == 200
        sources.append(resp.json()["feature_source"])
    assert set(sources) == {"fallback"}
    assert requests.get(f"{api.url}/ready", timeout=5).json()["redis_breaker"] == "open"
    metrics = requests.get(f"{api.url}/metrics", timeout=5).text
    assert 'fraud_redis_cache_errors_total{reason="breaker_open"}' in metrics

    r.start()  # same port, same password (data is gone: a miss, not a fallback)
    time.sleep(1.5)  # reset timeout: the next call is the half-open trial
    resp = requests.post(f"{api.url}/predict", json=tx(), timeout=5).json()
    assert resp["feature_source"] == "redis"
    assert requests.get(f"{api.url}/ready", timeout=5).json()["redis_breaker"] == "closed"


def test_postgres_outage_loses_and_duplicates_nothing(
    api: ApiThread, engines: tuple[RedisProcess, PostgresProcess]
) -> None:
    _, pg = engines
    answered: list[str] = []
    stop = threading.Event()

    def load() -> None:
        session = requests.Session()
        while not stop.is_set():
            body = tx()
            resp = session.post(f"{api.url}/predict", json=body, timeout=5)
            assert resp.status_code == 200
            answered.append(body["transaction_id"])

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(3)
    pg.stop()
    down_at = len(answered)
    time.sleep(OUTAGE_SECONDS)
    during = len(answered) - down_at
    ready = requests.get(f"{api.url}/ready", timeout=5).json()
    pg.start()
    time.sleep(3)
    stop.set()
    for w in workers:
        w.join()
    assert during > 100, "the API must keep answering while Postgres is down"
    assert ready["prediction_log_spilling"] is True

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        backlog = requests.get(f"{api.url}/ready", timeout=5).json()["prediction_log_backlog"]
        if backlog == 0:
            break
        time.sleep(0.5)
    time.sleep(1)
    with psycopg.connect(pg.dsn("predictions")) as conn:
        rows = conn.execute(
            "SELECT transaction_id FROM predictions WHERE transaction_id = ANY(%s)", (answered,)
        ).fetchall()
    stored = [row[0] for row in rows]
    assert len(stored) == len(set(stored))  # exactly once (the primary key, but check)
    assert set(stored) == set(answered), f"{len(set(answered) - set(stored))} missing"


def test_shutdown_during_a_write_keeps_every_row(
    engines: tuple[RedisProcess, PostgresProcess], tmp_path: Path
) -> None:
    """Stopping the log while its writer is inside a (slow) COPY loses nothing: the batch
    it had taken from the queue is finished, and what was queued after it is written."""
    import asyncio

    from serving.prediction_log import PredictionLog

    _, pg = engines
    settings = ServingSettings(
        postgres_port=pg.port,
        predictions_db_password=pg.password,
        spill_dir=tmp_path / "spill",
        log_flush_seconds=0.05,
    )
    ids = [str(uuid.uuid4()) for _ in range(3_000)]

    def row(tid: str) -> tuple[Any, ...]:
        now = dt.datetime.now(dt.UTC)
        return (tid, "U1", "M1", 1.0, 0.5, "low", "1", "redis", [0.0] * 24, 1.0, None, now)

    async def scenario() -> bool:
        plog = PredictionLog(settings)
        real_insert = plog._insert
        in_flight = asyncio.Event()

        async def slow_insert(rows: Any) -> None:
            if rows:
                in_flight.set()
                await asyncio.sleep(0.5)  # a busy Postgres
            await real_insert(rows)

        plog._insert = slow_insert  # type: ignore[method-assign]
        await plog.start()
        for tid in ids[:2_000]:
            plog.submit(row(tid))
        await asyncio.wait_for(in_flight.wait(), timeout=30)
        for tid in ids[2_000:]:
            plog.submit(row(tid))
        await plog.stop()  # while the first batch is in its COPY
        return plog.spilling

    spilled = asyncio.run(scenario())
    assert spilled is False
    with psycopg.connect(pg.dsn("predictions")) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM predictions WHERE transaction_id = ANY(%s)", (ids,)
        ).fetchone()
    assert stored is not None and stored[0] == len(ids)


def test_every_column_round_trips_through_the_binary_copy(
    engines: tuple[RedisProcess, PostgresProcess], tmp_path: Path
) -> None:
    """What the log writes is what was predicted, value for value: text that the text
    format would have to escape, NULL and naive/aware/replayed (string) timestamps, float8
    values and vectors exactly (binary, no decimal round trip), and a spilled row
    replayed later."""
    import asyncio

    from serving.prediction_log import PredictionLog

    _, pg = engines
    settings = ServingSettings(
        postgres_port=pg.port,
        predictions_db_password=pg.password,
        spill_dir=tmp_path / "spill",
    )
    t = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    vector = [0.1, -2.5e-300, 1e300, 0.0, 1 / 3] + [float(i) for i in range(19)]
    new_york = (t - dt.timedelta(hours=5)).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    rows = [
        (f"{uuid.uuid4()}\t\\\n", "U\u00e9\u20ac1", "M 1", 42.5, 1 / 3, "high", "7", "redis",
         vector, 0.001, None, t),
        (str(uuid.uuid4()), "U2", "M2", 1e-9, 0.0, "low", "7", "fallback",
         [0.0] * 24, 12.75, t.replace(tzinfo=None) - dt.timedelta(days=9000), t),
        (str(uuid.uuid4()), "U3", "M3", 7.0, 1.0, "medium", "7", "redis",
         [1.5] * 24, 3.0, new_york.isoformat(), t.isoformat()),
    ]  # fmt: skip

    async def scenario() -> None:
        plog = PredictionLog(settings)
        await plog.start()
        for row in rows:
            plog.submit(row)
        await plog.stop()

    asyncio.run(scenario())
    with psycopg.connect(pg.dsn("predictions")) as conn:
        stored = {
            r[0]: r
            for r in conn.execute(
                "SELECT transaction_id, user_id, merchant_id, amount, probability, risk_tier,"
                " model_version, feature_source, features, latency_ms, event_time, predicted_at"
                " FROM predictions WHERE transaction_id = ANY(%s)",
                ([r[0] for r in rows],),
            ).fetchall()
        }
    assert len(stored) == len(rows)
    for row in rows:
        got = stored[row[0]]
        assert got[:10] == row[:10]
        for sent, back in zip(row[10:], got[10:], strict=True):
            if sent is None:
                assert back is None
                continue
            when = dt.datetime.fromisoformat(sent) if isinstance(sent, str) else sent
            assert back == (when if when.tzinfo else when.replace(tzinfo=dt.UTC))
