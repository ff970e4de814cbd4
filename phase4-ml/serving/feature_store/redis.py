"""The Redis backend of the online feature store.

Writes (the feature writer, a batch job) go through redis-py: ``SET key value EX ttl`` in
pipelines of ``chunk`` commands without a transaction. Reads (the scoring API, per
request) are one ``MGET`` of the user's and the terminal's keys on
:class:`~serving.feature_store.redis_lite.LiteRedis`: one pipelined connection per
process, with a short timeout, whose commands of one event-loop pass leave in one socket
write. Redis errors and timeouts become :class:`FeatureStoreError` (reason: the redis-py
exception's class name).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis
from redis.exceptions import RedisError

from serving.feature_store.base import (
    FeatureStore,
    FeatureStoreError,
    KeyLayout,
    Record,
    StoredFeatures,
)
from serving.feature_store.records import decode_terminal, decode_user, encode
from serving.feature_store.redis_lite import LiteRedis
from serving.settings import ServingSettings


class RedisFeatureStore(FeatureStore):
    """User and terminal records in one Redis database (see the module docstring)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        password: str | None = None,
        db: int = 0,
        key_prefix: str = "",
        ttl_seconds: int = 86_400,
        read_timeout: float = 0.05,
        write_timeout: float = 30.0,
        chunk: int = 5_000,
    ) -> None:
        self.host, self.port, self.password, self.db = host, port, password, db
        self.keys = KeyLayout(key_prefix)
        self.ttl_seconds = ttl_seconds
        self.write_timeout = write_timeout
        self.chunk = chunk
        self.reader = LiteRedis(
            host,
            port,
            password=password,
            db=db,
            timeout=read_timeout,
            connect_timeout=max(read_timeout, 0.5),
        )

    @classmethod
    def from_settings(cls, settings: ServingSettings, *, chunk: int = 5_000) -> RedisFeatureStore:
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        return cls(
            settings.redis_host,
            settings.redis_port,
            password=password,
            db=settings.redis_db,
            key_prefix=settings.redis_key_prefix,
            ttl_seconds=settings.feature_ttl_seconds,
            read_timeout=settings.redis_timeout_seconds,
            chunk=chunk,
        )

    # ------------------------------------------------------------------ writes
    def write(self, records: Iterable[Record]) -> int:
        n = pending = 0
        with redis.Redis(
            host=self.host,
            port=self.port,
            db=self.db,
            password=self.password,
            socket_timeout=self.write_timeout,
        ) as client:
            pipe = client.pipeline(transaction=False)
            for record in records:
                pipe.set(self.keys.of(record), encode(record), ex=self.ttl_seconds)
                pending += 1
                if pending >= self.chunk:
                    pipe.execute()
                    n, pending = n + pending, 0
            if pending:
                pipe.execute()
                n += pending
        return n

    # ------------------------------------------------------------------ reads
    async def read(self, user_id: str, merchant_id: str) -> StoredFeatures:
        try:
            raw_user, raw_terminal = await self.reader.mget(self.keys.pair(user_id, merchant_id))
        except (RedisError, OSError) as err:
            raise FeatureStoreError(type(err).__name__, str(err)) from err
        return StoredFeatures(decode_user(raw_user), decode_terminal(raw_terminal), "redis")

    async def read_many(self, pairs: Sequence[tuple[str, str]]) -> list[StoredFeatures]:
        if not pairs:
            return []
        keys = [
            key for user_id, merchant_id in pairs for key in self.keys.pair(user_id, merchant_id)
        ]
        try:
            raws = await self.reader.mget(keys)
        except (RedisError, OSError) as err:
            raise FeatureStoreError(type(err).__name__, str(err)) from err
        return [
            StoredFeatures(decode_user(raws[i]), decode_terminal(raws[i + 1]), "redis")
            for i in range(0, len(raws), 2)
        ]

    async def ping(self) -> bool:
        try:
            return await self.reader.ping()
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.reader.aclose()
