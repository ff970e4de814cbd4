"""Round-trips through each engine of the native stack.

These tests talk to the real engines; each fails (not skips) when its engine is down.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
import redis

from fraud_common.s3 import s3_client
from fraud_common.settings import PlatformSettings

pytestmark = pytest.mark.integration


def test_object_round_trips_through_s3(settings: PlatformSettings) -> None:
    client = s3_client(settings)
    key = f"tests/roundtrip/{uuid.uuid4()}.bin"
    body = uuid.uuid4().bytes * 1000
    client.put_object(Bucket=settings.s3_bucket, Key=key, Body=body)
    try:
        got = client.get_object(Bucket=settings.s3_bucket, Key=key)["Body"].read()
        listed = client.list_objects_v2(Bucket=settings.s3_bucket, Prefix=key)
        assert got == body
        assert [o["Key"] for o in listed["Contents"]] == [key]
    finally:
        client.delete_object(Bucket=settings.s3_bucket, Key=key)


def test_key_round_trips_through_redis(settings: PlatformSettings) -> None:
    client = redis.Redis(
        host=settings.redis_host,
        port=settings.redis_port,
        password=settings.redis_password.get_secret_value(),
        socket_timeout=2,
    )
    key, value = f"test:roundtrip:{uuid.uuid4()}", uuid.uuid4().hex
    client.set(key, value, ex=60)
    assert client.get(key) == value.encode()
    assert 0 < client.ttl(key) <= 60
    client.delete(key)


def test_redis_refuses_clients_without_the_password(settings: PlatformSettings) -> None:
    client = redis.Redis(host=settings.redis_host, port=settings.redis_port, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        client.get("anything")


def test_row_round_trips_through_postgres(
    settings: PlatformSettings, platform_env: dict[str, str]
) -> None:
    dsn = settings.postgres_dsn(
        "predictions", user="predictions", password=platform_env["PREDICTIONS_DB_PASSWORD"]
    )
    marker = str(uuid.uuid4())
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE roundtrip (id text PRIMARY KEY, n int)")
        conn.execute("INSERT INTO roundtrip VALUES (%s, %s)", (marker, 42))
        row = conn.execute("SELECT n FROM roundtrip WHERE id = %s", (marker,)).fetchone()
    assert row == (42,)


@pytest.mark.parametrize("component", ["registry", "airflow", "mlflow", "predictions", "superset"])
def test_each_component_has_its_own_role_and_database(
    settings: PlatformSettings, platform_env: dict[str, str], component: str
) -> None:
    password = platform_env[f"{component.upper()}_DB_PASSWORD"]
    with psycopg.connect(
        settings.postgres_dsn(component, user=component, password=password)
    ) as conn:
        who = conn.execute("SELECT current_user, current_database()").fetchone()
    assert who == (component, component)
    # another component's role cannot open this database
    other = "predictions" if component != "predictions" else "mlflow"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            settings.postgres_dsn(
                component, user=other, password=platform_env[f"{other.upper()}_DB_PASSWORD"]
            )
        )
