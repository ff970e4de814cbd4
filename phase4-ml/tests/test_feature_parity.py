"""Online/offline parity: for 1,000 users the vector the API builds from Redis equals the
one training builds from gold for the same moment.

Against the lakehouse of 30 simulated days (transforms.testing): the feature writer's
records of the gold profiles go into the feature store (Redis, under a key prefix of this
test), then for 1,000 users the API's own path (FeatureClient.lookup +
ScoringService._vector) builds the vector of a
transaction at the profiles' ``as_of``. Training's vectors come from
``gold.mart_fraud_features`` rows, which the phase 3 e2e tests prove equal to
``features.reference_features`` over bronze; so the oracle here is that same reference
computation at ``as_of`` over bronze, made with the same request fields.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections import defaultdict

import numpy as np
import pytest
import redis
import trino

from fraud_common.settings import PlatformSettings
from fraud_contracts import features
from fraud_contracts.features import Event, TransactionContext, reference_features, to_ms
from fraud_testing.lakehouse import Lakehouse
from serving.feature_client import FeatureClient
from serving.feature_store import RedisFeatureStore, StoredFeatures
from serving.feature_writer import records, select_sql, tables
from serving.schemas import PredictRequest
from serving.service import ScoringService
from serving.settings import ServingSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

USERS = 1_000


def rows(settings: PlatformSettings, sql: str) -> list[tuple[object, ...]]:
    conn = trino.dbapi.connect(
        host=settings.trino_host, port=settings.trino_port, user="pytest", catalog="delta"
    )
    cur = conn.cursor()
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def test_api_vectors_from_redis_equal_the_training_definition(
    lakehouse: Lakehouse, settings: PlatformSettings
) -> None:
    prefix = f"pytest:{uuid.uuid4().hex[:8]}:"
    serving = ServingSettings(
        redis_host=settings.redis_host,
        redis_port=settings.redis_port,
        redis_password=settings.redis_password,
        redis_key_prefix=prefix,
        redis_timeout_seconds=2.0,
        feature_ttl_seconds=600,
        trino_host=settings.trino_host,
        trino_port=settings.trino_port,
        log_enabled=False,
        mlflow_tracking_uri="",
    )
    store = RedisFeatureStore.from_settings(serving)
    try:
        for table in tables(serving):
            written = store.write(records(table, rows(settings, select_sql(table, serving))))
            assert written > 0

        history = rows(
            settings,
            "SELECT t.user_id, t.merchant_id, t.amount, t.event_time, min(l.reported_at) "
            "FROM delta.bronze.transactions t LEFT JOIN delta.bronze.fraud_labels l "
            "ON l.transaction_id = t.transaction_id AND l.is_fraud "
            "GROUP BY t.transaction_id, t.user_id, t.merchant_id, t.amount, t.event_time",
        )
        by_user: dict[str, list[Event]] = defaultdict(list)
        by_terminal: dict[str, list[Event]] = defaultdict(list)
        for user_id, merchant_id, amount, event_time, reported in history:
            assert isinstance(event_time, dt.datetime)
            event = Event(
                to_ms(event_time),
                float(amount),  # type: ignore[arg-type]
                to_ms(reported) if isinstance(reported, dt.datetime) else None,
            )
            by_user[str(user_id)].append(event)
            by_terminal[str(merchant_id)].append(event)

        ((as_of,),) = rows(settings, "SELECT max(as_of) FROM delta.gold.mart_user_risk_profiles")
        assert isinstance(as_of, dt.datetime)
        rng = random.Random(11)
        users = rng.sample(sorted(by_user), USERS)
        terminals = sorted(by_terminal)
        requests = [
            PredictRequest(
                transaction_id=str(uuid.UUID(int=rng.getrandbits(128))),
                user_id=user,
                merchant_id=rng.choice(terminals),
                amount=round(rng.uniform(1, 400), 2),
                is_international=rng.random() < 0.1,
                event_time=as_of,
            )
            for user in users
        ]
        feature_client = FeatureClient(serving, store)

        async def lookups() -> list[StoredFeatures]:
            try:
                return [await feature_client.lookup(r.user_id, r.merchant_id) for r in requests]
            finally:
                await feature_client.close()

        found = asyncio.run(lookups())
        api = np.array(
            [ScoringService._vector(r, f, as_of) for r, f in zip(requests, found, strict=True)]
        )
        offline = np.array(
            [
                features.to_array(
                    reference_features(
                        TransactionContext(r.amount, r.is_international, as_of),
                        by_user[r.user_id],
                        by_terminal[r.merchant_id],
                    )
                )
                for r in requests
            ]
        )
        assert all(f.source == "redis" and f.user is not None for f in found)
        assert api.shape == offline.shape == (USERS, len(features.FEATURE_NAMES))
        diff = np.argwhere(~np.isclose(api, offline, rtol=1e-9, atol=1e-9))
        assert diff.size == 0, [
            (requests[i].user_id, features.FEATURE_NAMES[j], api[i, j], offline[i, j])
            for i, j in diff[:5]
        ]
        assert (api[:, features.FEATURE_NAMES.index("user_tx_count_30d")] > 0).mean() > 0.5
    finally:
        client = redis.Redis(
            host=serving.redis_host,
            port=serving.redis_port,
            password=settings.redis_password.get_secret_value(),
        )
        keys = list(client.scan_iter(match=f"{prefix}*", count=10_000))
        for i in range(0, len(keys), 10_000):
            client.delete(*keys[i : i + 10_000])
