"""Fault injection against private engines (never the shared stack's Redis/Postgres).

- Redis killed: /predict keeps answering 200 with feature_source=fallback, the breaker
  opens, and after Redis is back (same port) it closes and features come from Redis again.
- Postgres stopped under continuous load until the API spills (``/ready``), has answered
  ``OUTAGE_MIN_ANSWERED`` requests without it and ``OUTAGE_MIN_SECONDS`` have passed (ten
  failed retries of the log at 1 s; ``OUTAGE_SECONDS``, default 60, bounds the wait):
  afterwards every prediction answered is in ``predictions`` exactly once.
- The prediction log stores what the API answered, top reasons included; a spill file
  written before ``top_reasons`` existed still replays (empty reasons), beside a new one;
  a table created by the first release's DDL is upgraded in place.
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
    StreamHeartbeat,
    card_history,
    free_port,
    seed_cache,
    train_model,
)
from serving.feature_store import RedisFeatureStore
from serving.main import create_app
from serving.prediction_log import DDL
from serving.service import ScoringService
from serving.settings import ServingSettings

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "60"))
OUTAGE_MIN_SECONDS = float(os.environ.get("OUTAGE_MIN_SECONDS", "10"))
OUTAGE_MIN_ANSWERED = int(os.environ.get("OUTAGE_MIN_ANSWERED", "500"))


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


def serving_settings(
    engines: tuple[RedisProcess, PostgresProcess], tmp_path: Path, **overrides: Any
) -> ServingSettings:
    """Settings against the private engines, a seeded model cache, and one user's history
    in the online state."""
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
        **overrides,
    )
    now = features.to_ms(dt.datetime.now(dt.UTC))
    history = card_history("U000001", "M00001", now, [20.0, 35.5, 41.0])
    RedisFeatureStore.from_settings(settings).writer().write(history, [], now)
    return settings


@pytest.fixture
def api(engines: tuple[RedisProcess, PostgresProcess], tmp_path: Path) -> Iterator[ApiThread]:
    settings = serving_settings(
        engines,
        tmp_path,
        breaker_fail_max=3,
        breaker_reset_seconds=1.0,
        log_retry_seconds=1.0,
    )
    heartbeat = StreamHeartbeat(RedisFeatureStore.from_settings(settings).writer())
    with heartbeat, ApiThread(create_app(ScoringService(settings))) as server:
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
    assert resp["feature_source"] in {"redis", "stale"}  # read from Redis again
    # the stream's heartbeat (written every second) makes the answers fresh again
    deadline = time.monotonic() + 10
    while resp["feature_source"] != "redis" and time.monotonic() < deadline:
        time.sleep(0.5)
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
    stopped = time.monotonic()
    while True:  # until the outage has been lived through, not for a fixed time
        time.sleep(0.5)
        ready = requests.get(f"{api.url}/ready", timeout=5).json()
        during = len(answered) - down_at
        lasted = time.monotonic() - stopped
        if lasted >= OUTAGE_SECONDS or (
            ready["prediction_log_spilling"]
            and during >= OUTAGE_MIN_ANSWERED
            and lasted >= OUTAGE_MIN_SECONDS
        ):
            break
    pg.start()
    time.sleep(3)
    stop.set()
    for w in workers:
        w.join()
    assert during >= OUTAGE_MIN_ANSWERED, "the API must keep answering while Postgres is down"
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
        return (tid, "U1", "M1", 1.0, 0.5, "low", "1", "redis", [0.0] * 24, 1.0, None, now, [])

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
    reasons = [
        {"feature": "amount", "value": 42.5, "contribution": 0.412345},
        {"feature": "terminal_risk_7d", "value": 0.30000001192092896, "contribution": 1e-06},
        {"feature": "is_night", "value": 1.0, "contribution": 5e-300},
    ]
    rows = [
        (f"{uuid.uuid4()}\t\\\n", "U\u00e9\u20ac1", "M 1", 42.5, 1 / 3, "high", "7", "redis",
         vector, 0.001, None, t, reasons),
        (str(uuid.uuid4()), "U2", "M2", 1e-9, 0.0, "low", "7", "fallback",
         [0.0] * 24, 12.75, t.replace(tzinfo=None) - dt.timedelta(days=9000), t, []),
        (str(uuid.uuid4()), "U3", "M3", 7.0, 1.0, "medium", "7", "redis",
         [1.5] * 24, 3.0, new_york.isoformat(), t.isoformat(),
         ({"feature": "q\"uote\\\u00e9", "value": -1.5, "contribution": 0.5},)),
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
                " model_version, feature_source, features, latency_ms, event_time, predicted_at,"
                " top_reasons FROM predictions WHERE transaction_id = ANY(%s)",
                ([r[0] for r in rows],),
            ).fetchall()
        }
    assert len(stored) == len(rows)
    for row in rows:
        got = stored[row[0]]
        assert got[:10] == row[:10]
        assert got[12] == list(row[12])  # jsonb: the same dicts, floats exactly
        for sent, back in zip(row[10:12], got[10:12], strict=True):
            if sent is None:
                assert back is None
                continue
            when = dt.datetime.fromisoformat(sent) if isinstance(sent, str) else sent
            assert back == (when if when.tzinfo else when.replace(tzinfo=dt.UTC))


def _logged(pg: PostgresProcess, ids: list[str], db: str = "predictions") -> dict[str, Any]:
    with psycopg.connect(pg.dsn(db)) as conn:
        rows = conn.execute(
            "SELECT transaction_id, top_reasons FROM predictions WHERE transaction_id = ANY(%s)",
            (ids,),
        ).fetchall()
    assert len(rows) == len({r[0] for r in rows})
    return {r[0]: r[1] for r in rows}


def test_logged_top_reasons_are_the_answered_ones(
    engines: tuple[RedisProcess, PostgresProcess], tmp_path: Path
) -> None:
    """Each prediction's row holds the top reasons the API answered with, dict for dict
    (one-by-one and batch requests; reasons from tier low so every answer has some)."""
    _, pg = engines
    settings = serving_settings(engines, tmp_path, reasons_min_tier="low")
    night = {"event_time": "2026-03-07T02:30:00Z", "is_international": True}
    singles = [tx() | {"amount": a} | (night if a > 500 else {}) for a in (3.0, 120.0, 900.0)]
    batch = [tx("U000002") | {"amount": a} | night for a in (15.0, 2500.0)]
    answers: dict[str, list[Any]] = {}
    with ApiThread(create_app(ScoringService(settings))) as server:
        for body in singles:
            res = requests.post(f"{server.url}/predict", json=body, timeout=5)
            assert res.status_code == 200, res.text
            answers[body["transaction_id"]] = res.json()["top_reasons"]
        res = requests.post(f"{server.url}/predict/batch", json={"transactions": batch}, timeout=5)
        assert res.status_code == 200, res.text
        for body, answer in zip(batch, res.json()["predictions"], strict=True):
            answers[body["transaction_id"]] = answer["top_reasons"]
    # leaving the server stopped the log: everything queued is written
    assert sum(1 for reasons in answers.values() if reasons) >= 4, answers
    assert _logged(pg, list(answers)) == answers


#: the first release's table (no top_reasons): what an existing database still has
OLD_DDL = DDL.replace(",\n    top_reasons jsonb NOT NULL DEFAULT '[]'", "")
assert OLD_DDL != DDL


def _row(tid: str, reasons: list[dict[str, Any]] | None = None) -> tuple[Any, ...]:
    now = dt.datetime.now(dt.UTC)
    head = (tid, "U1", "M1", 250.0, 0.9, "high", "3", "redis", [1.0] * 24, 2.0, None, now)
    return head if reasons is None else (*head, reasons)


REASONS = [
    {"feature": "amount", "value": 250.0, "contribution": 0.61},
    {"feature": "terminal_risk_7d", "value": 0.5, "contribution": 0.2},
]


def test_a_table_of_the_first_release_is_upgraded_in_place(
    engines: tuple[RedisProcess, PostgresProcess], tmp_path: Path
) -> None:
    """A ``predictions`` table created by the old DDL, with rows, gets ``top_reasons``
    (old rows: ``[]``) at the log's first write; new rows carry their reasons."""
    import asyncio

    from serving.prediction_log import PredictionLog

    _, pg = engines
    db = f"predictions_v1_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    old_id, new_id = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(pg.dsn(db)) as conn:
        conn.execute(OLD_DDL)
        conn.execute(
            "INSERT INTO predictions VALUES (%s, 'U1', 'M1', 1.0, 0.1, 'low', '1', 'redis',"
            " %s, 1.0, NULL, now())",
            (old_id, [0.0] * 24),
        )
    settings = ServingSettings(
        postgres_port=pg.port,
        predictions_db=db,
        predictions_db_password=pg.password,
        spill_dir=tmp_path / "spill",
    )

    async def scenario() -> bool:
        plog = PredictionLog(settings)
        await plog.start()
        plog.submit(_row(new_id, REASONS))
        await plog.stop()
        return plog.spilling

    assert asyncio.run(scenario()) is False
    assert _logged(pg, [old_id, new_id], db) == {old_id: [], new_id: REASONS}
    with psycopg.connect(pg.dsn(db)) as conn:
        column = conn.execute(
            "SELECT data_type, is_nullable, column_default FROM information_schema.columns"
            " WHERE table_name = 'predictions' AND column_name = 'top_reasons'"
        ).fetchone()
    assert column == ("jsonb", "NO", "'[]'::jsonb")
    # a second process finds the column there: nothing to do, rows still go in
    again = str(uuid.uuid4())

    async def second() -> None:
        plog = PredictionLog(settings)
        await plog.start()
        plog.submit(_row(again, REASONS[:1]))
        await plog.stop()

    asyncio.run(second())
    assert _logged(pg, [again], db) == {again: REASONS[:1]}


def test_spill_files_of_before_and_after_the_change_replay_once(
    engines: tuple[RedisProcess, PostgresProcess], tmp_path: Path
) -> None:
    """A spill file left by a process of the old code (rows without reasons) and one
    spilled by the current code (Postgres unreachable, reasons in the rows) are both
    replayed by the next process: old rows get ``[]``, new ones their reasons, a row in
    both files is stored once."""
    import asyncio

    import orjson

    from serving.prediction_log import PredictionLog

    _, pg = engines
    spill = tmp_path / "spill"
    spill.mkdir()
    old_ids = [str(uuid.uuid4()) for _ in range(3)]
    new_ids = [str(uuid.uuid4()) for _ in range(3)]
    # the old code wrote orjson.dumps(row) of 12-column rows, one a line
    old_file = spill / "spill-1-0badc0de.jsonl"
    old_file.write_bytes(b"".join(orjson.dumps(_row(t)) + b"\n" for t in old_ids))
    os.utime(old_file, (time.time() - 60, time.time() - 60))  # older: replayed first

    down = ServingSettings(
        postgres_port=free_port(),  # nothing listens: every write spills
        predictions_db_password=pg.password,
        spill_dir=spill,
        log_flush_seconds=0.05,
    )

    async def spill_new() -> bool:
        plog = PredictionLog(down)
        await plog.start()
        for t in new_ids:
            plog.submit(_row(t, REASONS))
        plog.submit(_row(old_ids[0], REASONS))  # also in the old file: stored once
        await plog.stop()
        return plog.spilling

    assert asyncio.run(spill_new()) is True
    files = sorted(spill.glob("spill-*.jsonl"))
    assert len(files) == 2, files
    new_lines = [orjson.loads(line) for f in files if f != old_file for line in f.open("rb")]
    assert [len(values) for values in new_lines] == [13] * 4  # the new format has reasons

    up = ServingSettings(
        postgres_port=pg.port,
        predictions_db_password=pg.password,
        spill_dir=spill,
        log_retry_seconds=0.2,
        log_flush_seconds=0.05,
    )

    async def replay() -> bool:
        plog = PredictionLog(up)
        await plog.start()
        deadline = time.monotonic() + 30
        while plog.spilling and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await plog.stop()
        return plog.spilling

    assert asyncio.run(replay()) is False
    assert not list(spill.glob("spill-*.jsonl"))
    expected = {t: [] for t in old_ids} | {t: REASONS for t in new_ids}
    assert _logged(pg, old_ids + new_ids) == expected
