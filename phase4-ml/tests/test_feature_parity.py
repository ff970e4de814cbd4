"""Online/offline parity: for 1,000 transactions of the history, the vector the API builds
from the online state equals the vector training reads from gold for the same transaction.

Against the session's lakehouse (38 simulated days in bronze, silver and gold): the test
stack's streaming feature job (service ``feature-stream``) has applied the backfill's
topics to the online state. For 1,000 rows of ``gold.mart_fraud_features``, the API's own
path (FeatureClient.lookup at the transaction's event time + ScoringService._vector)
builds the vector from the online state; it must equal the row's features, which the
phase 3 e2e tests prove equal to ``features.reference_features`` over bronze. The online
state holds every event, not an aggregate, so this holds for any transaction whose
lookback lies within the state's retention (fraud_contracts.online).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import numpy as np
import pytest
import redis

from fraud_common.settings import PlatformSettings
from fraud_common.trino import execute
from fraud_contracts import features, online
from fraud_contracts.names import MART_FRAUD_FEATURES
from fraud_testing.lakehouse import Lakehouse
from serving.feature_client import FeatureClient
from serving.feature_store import RedisFeatureStore, StoredFeatures
from serving.schemas import PredictRequest
from serving.service import ScoringService
from serving.settings import ServingSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

ROWS = 1_000
#: of which at least this many must be within the online state's retention
MIN_ROWS = 500


def caught_up(settings: PlatformSettings) -> bool:
    """The streaming job's heartbeat says it has no backlog."""
    client = redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        password=settings.redis_password.get_secret_value(),
    )
    raw = client.get(online.STATUS_KEY)
    if raw is None:
        return False
    status = online.StreamStatus.from_redis(raw)
    return status.backlog == 0 and time.time() - status.updated_ms / 1000 < 10


def test_api_vectors_from_the_online_state_equal_the_gold_training_rows(
    lakehouse: Lakehouse, settings: PlatformSettings
) -> None:
    deadline = time.monotonic() + 300
    while not caught_up(settings):
        assert time.monotonic() < deadline, "the streaming feature job did not catch up"
        time.sleep(2)
    catalog = settings.trino_catalog
    slack = online.RETENTION_MS - online.LOOKBACK_MS
    # candidates: within the slack of their card's and terminal's newest event in bronze
    newest_in = (
        f"SELECT {{0}}, max(event_time) AS newest FROM {catalog}.bronze.transactions GROUP BY {{0}}"
    )
    within = f"interval '{slack // 1000}' second"
    candidates = execute(
        settings,
        "SELECT g.transaction_id, g.user_id, g.merchant_id, g.amount, g.is_international, "
        "CAST(to_unixtime(g.event_time) * 1000 AS bigint), "
        + ", ".join(f"g.{c}" for c in features.FEATURE_NAMES)
        + f" FROM {catalog}.gold.{MART_FRAUD_FEATURES} g "
        f"JOIN ({newest_in.format('user_id')}) u ON u.user_id = g.user_id "
        f"JOIN ({newest_in.format('merchant_id')}) m ON m.merchant_id = g.merchant_id "
        f"WHERE g.event_time >= u.newest - {within} AND g.event_time >= m.newest - {within} "
        f"ORDER BY xxhash64(to_utf8(g.transaction_id)) LIMIT {ROWS}",
    )
    # the online state keeps, per card and per terminal, the retention before the newest
    # event written to it: a transaction more than (retention - lookback) older than that
    # has a lookback the state no longer holds (the 38-day history's first week, the
    # bad-data drill's 45-day-old transaction, cards that live traffic touched since)
    client = redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        password=settings.redis_password.get_secret_value(),
    )

    def newest(key: str) -> float:
        got = client.zrange(key, -1, -1, withscores=True)
        return float(got[0][1]) if got else float("inf")

    def held(row: list[Any]) -> bool:
        t = int(row[5])
        user, terminal = online.user_keys(row[1])[0], online.terminal_keys(row[2])[0]
        return t >= newest(user) - slack and t >= newest(terminal) - slack

    rows = [row for row in candidates if held(row)]
    client.close()
    assert len(rows) >= MIN_ROWS, f"only {len(rows)} of {len(candidates)} gold rows in the state"
    serving = ServingSettings(
        redis_host=settings.redis_host,
        redis_port=settings.redis_port,
        redis_password=settings.redis_password,
        redis_timeout_seconds=2.0,
        log_enabled=False,
        mlflow_tracking_uri="",
    )
    requests = [
        PredictRequest(
            transaction_id=str(r[0]),
            user_id=str(r[1]),
            merchant_id=str(r[2]),
            amount=float(r[3]),
            is_international=bool(r[4]),
            event_time=dt.datetime.fromtimestamp(int(r[5]) / 1000, tz=dt.UTC),
        )
        for r in rows
    ]
    feature_client = FeatureClient(serving, RedisFeatureStore.from_settings(serving))

    async def lookups() -> list[StoredFeatures]:
        try:
            assert await feature_client.watch_stream(), "the stream's heartbeat is not fresh"
            return [
                await feature_client.lookup(r.user_id, r.merchant_id, r.event_time)  # type: ignore[arg-type]
                for r in requests
            ]
        finally:
            await feature_client.close()

    found = asyncio.run(lookups())
    now = dt.datetime.now(dt.UTC)
    api = np.array(
        [ScoringService._vector(r, f, now) for r, f in zip(requests, found, strict=True)]
    )
    gold = np.array([[float(v) for v in r[6:]] for r in rows])
    assert all(f.source == "redis" for f in found)
    assert api.shape == gold.shape == (len(rows), len(features.FEATURE_NAMES))
    diff = np.argwhere(~np.isclose(api, gold, rtol=1e-9, atol=1e-9))
    assert diff.size == 0, [
        (requests[i].transaction_id, features.FEATURE_NAMES[j], api[i, j], gold[i, j])
        for i, j in diff[:10]
    ]
    assert (api[:, features.FEATURE_NAMES.index("user_tx_count_30d")] > 0).mean() > 0.5
    assert (api[:, features.FEATURE_NAMES.index("terminal_risk_30d")] > 0).any()
