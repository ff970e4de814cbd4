"""Feature writer: gold rows -> feature-store records the API reads back unchanged."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
import redis

from fraud_common.settings import PlatformSettings
from fraud_contracts import features
from serving.feature_store import KeyLayout, RedisFeatureStore, StoredFeatures
from serving.feature_store.records import encode
from serving.feature_writer import records, select_sql, tables
from serving.settings import ServingSettings

#: values in a stored user record (model inputs + the amount statistics)
N_USER = len(features.USER_RECORD)
AS_OF = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def _rows(n: int, columns: tuple[str, ...], prefix: str) -> list[tuple[object, ...]]:
    return [
        (f"{prefix}{i:05d}", AS_OF, *[float(i + j) for j in range(len(columns))]) for i in range(n)
    ]


@pytest.mark.unit
def test_select_reads_every_contract_column() -> None:
    users, terminals = tables(ServingSettings())
    sql = select_sql(users, ServingSettings())
    assert sql.startswith("SELECT user_id, as_of, ")
    assert all(c in sql for c in features.USER_RECORD)
    assert "delta.gold.mart_user_risk_profiles" in sql
    assert all(c in select_sql(terminals, ServingSettings()) for c in features.TERMINAL_FEATURES)


@pytest.mark.unit
def test_records_round_trip_through_the_contract() -> None:
    users, terminals = tables(ServingSettings())
    keys = KeyLayout("p:")
    record = next(records(users, _rows(1, features.USER_RECORD, "U")))
    assert keys.of(record) == f"p:{features.UserFeatures.KEY_PREFIX}U00000"
    back = features.UserFeatures.from_redis(encode(record))
    assert back.as_of == AS_OF
    assert [back.values[c] for c in features.USER_RECORD] == [float(j) for j in range(N_USER)]
    record = next(records(terminals, _rows(1, features.TERMINAL_FEATURES, "M")))
    assert keys.of(record) == f"p:{features.TerminalFeatures.KEY_PREFIX}M00000"
    assert keys.pair("U00000", "M00000") == (
        f"p:{features.UserFeatures.KEY_PREFIX}U00000",
        f"p:{features.TerminalFeatures.KEY_PREFIX}M00000",
    )
    assert features.TerminalFeatures.from_redis(encode(record)).values["terminal_risk_30d"] == 10.0


@pytest.fixture
def shared_redis(
    settings: PlatformSettings,
) -> Iterator[tuple[redis.Redis, RedisFeatureStore, str]]:
    password = settings.redis_password.get_secret_value()
    client = redis.Redis(host=settings.redis_host, port=settings.redis_port, password=password)
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    store = RedisFeatureStore(
        settings.redis_host,
        settings.redis_port,
        password=password,
        key_prefix=prefix,
        ttl_seconds=86_400,
        read_timeout=2.0,
    )
    try:
        yield client, store, prefix
    finally:
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.mark.integration
def test_writer_round_trip_against_the_stack_redis(
    shared_redis: tuple[redis.Redis, RedisFeatureStore, str],
) -> None:
    client, store, prefix = shared_redis
    users, terminals = tables(ServingSettings())
    n = store.write(records(users, _rows(12_000, features.USER_RECORD, "U")))
    n += store.write(records(terminals, _rows(300, features.TERMINAL_FEATURES, "M")))
    assert n == 12_300
    assert len(list(client.scan_iter(f"{prefix}*", count=5000))) == 12_300
    ttl = client.ttl(f"{prefix}user_features:U00042")
    assert 86_000 < ttl <= 86_400
    raw = client.get(f"{prefix}user_features:U11999")
    assert raw is not None
    record = features.UserFeatures.from_redis(raw)
    assert record.values["user_tx_count_1h"] == 11_999.0
    # rewriting replaces whole values: never a mix of two snapshots
    store.write(records(users, [("U00042", AS_OF, *[1.0] * N_USER)]))
    raw = client.get(f"{prefix}user_features:U00042")
    assert raw is not None
    assert set(features.UserFeatures.from_redis(raw).values.values()) == {1.0}

    # the API's read of the same store: the values of both records, in contract order
    async def read() -> tuple[object, object, list[object]]:
        try:
            one = await store.read("U00042", "M00007")
            unknown = await store.read("U99999", "M99999")
            many = await store.read_many([("U00042", "M00007"), ("U11999", "nobody")])
            return one, unknown, list(many)
        finally:
            await store.close()

    one, unknown, many = asyncio.run(read())
    assert one == StoredFeatures((1.0,) * N_USER, tuple(float(7 + j) for j in range(11)), "redis")
    assert unknown == StoredFeatures(None, None, "redis")  # a miss, not a failure
    assert many[0] == one
    assert many[1] == StoredFeatures(tuple(float(11_999 + j) for j in range(N_USER)), None, "redis")
