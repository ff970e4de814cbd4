"""The Redis backend of the online feature store.

Reads (the scoring API, per request) are one Lua script per transaction
(:class:`~serving.feature_store.events.EventReader`) on
:class:`~serving.feature_store.redis_lite.LiteRedis`: one pipelined connection per
process, with a short timeout, whose commands of one event-loop pass leave in one socket
write. The values are computed in Redis from the events, by the contract's definition
(:data:`~serving.feature_store.events.READ`). Redis errors and timeouts become
:class:`FeatureStoreError` (reason: the redis-py exception's class name). Writes are the
streaming job's (:class:`~serving.feature_store.events.EventWriter`, redis-py);
:meth:`RedisFeatureStore.writer` opens one on the same database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import redis
from redis.exceptions import RedisError

from fraud_contracts import features, online
from fraud_contracts.features import to_ms
from serving import metrics
from serving.feature_store.base import FeatureStore, FeatureStoreError, Lookup, StoredFeatures
from serving.feature_store.events import EventReader, EventWriter
from serving.feature_store.redis_lite import LiteRedis, _command
from serving.settings import ServingSettings

#: a card (terminal) with events in the last 30 days is a hit; without, a miss: no history
_USER_30D = features.USER_RECORD.index("user_tx_count_30d")
_TERMINAL_30D = features.TERMINAL_FEATURES.index("terminal_tx_count_30d")
_HIT_USER, _HIT_TERMINAL = (metrics.CACHE_HITS.labels(k) for k in ("user", "terminal"))
_MISS_USER, _MISS_TERMINAL = (metrics.CACHE_MISSES.labels(k) for k in ("user", "terminal"))


class RedisFeatureStore(FeatureStore):
    """The online state in one Redis database (see the module docstring)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        password: str | None = None,
        db: int = 0,
        key_prefix: str = "",
        read_timeout: float = 0.05,
    ) -> None:
        self.host, self.port, self.password, self.db = host, port, password, db
        self.key_prefix = key_prefix
        self.reader = LiteRedis(
            host,
            port,
            password=password,
            db=db,
            timeout=read_timeout,
            connect_timeout=max(read_timeout, 0.5),
        )
        self.events = EventReader(self.reader, key_prefix)

    @classmethod
    def from_settings(cls, settings: ServingSettings) -> RedisFeatureStore:
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        return cls(
            settings.redis_host,
            settings.redis_port,
            password=password,
            db=settings.redis_db,
            key_prefix=settings.redis_key_prefix,
            read_timeout=settings.redis_timeout_seconds,
        )

    def writer(self) -> EventWriter:
        """An event writer on the same database and key prefix (synchronous)."""
        client = redis.Redis(
            host=self.host, port=self.port, db=self.db, password=self.password, socket_timeout=30
        )
        return EventWriter(client, self.key_prefix)

    async def read(self, user_id: str, merchant_id: str, at: dt.datetime) -> StoredFeatures:
        user, terminal = await self.events.read(user_id, merchant_id, to_ms(at))
        metrics.HOT.inc(_HIT_USER if user[_USER_30D] else _MISS_USER)
        metrics.HOT.inc(_HIT_TERMINAL if terminal[_TERMINAL_30D] else _MISS_TERMINAL)
        return StoredFeatures(user, terminal, "redis")

    async def read_many(self, lookups: Sequence[Lookup]) -> list[StoredFeatures]:
        return list(await asyncio.gather(*(self.read(u, m, at) for u, m, at in lookups)))

    async def stream_status(self) -> online.StreamStatus | None:
        try:
            raw = await self.reader.execute(_command("GET", self.key_prefix + online.STATUS_KEY))
        except (RedisError, OSError) as err:
            raise FeatureStoreError(type(err).__name__, str(err)) from err
        return online.StreamStatus.from_redis(raw) if raw is not None else None

    async def ping(self) -> bool:
        try:
            return await self.reader.ping()
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.reader.aclose()
