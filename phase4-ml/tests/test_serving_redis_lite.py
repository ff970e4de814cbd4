"""The API's minimal Redis client against a private redis-server (never the shared one)."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from fraud_testing.serving import RedisProcess
from serving.coalescing import CoalescingTransport
from serving.feature_store.redis_lite import LiteRedis

pytestmark = pytest.mark.e2e


def test_mget_pipelined_auth_and_reconnect(private_redis: RedisProcess) -> None:
    sync = redis.Redis(port=private_redis.port, password=private_redis.password, db=3)
    big = b"x" * 200_000  # a reply that arrives in many chunks
    sync.mset({"a": b"1", "b": b"\xff\x00\r\n", "big": big})

    async def scenario() -> None:
        client = LiteRedis(
            port=private_redis.port, password=private_redis.password, db=3, timeout=2.0
        )
        try:
            assert await client.ping()
            assert await client.mget(["a", "missing", "b"]) == [b"1", None, b"\xff\x00\r\n"]
            results = await asyncio.gather(
                *(client.mget([f"k{i}", "a", "big" if i % 7 == 0 else "b"]) for i in range(500))
            )
            for i, got in enumerate(results):
                assert got == [None, b"1", big if i % 7 == 0 else b"\xff\x00\r\n"]
            private_redis.stop()
            with pytest.raises(RedisError):
                await client.mget(["a"])
            private_redis.start()  # empty again: no persistence
            sync.set("a", b"2")
            assert await client.mget(["a"]) == [b"2"]  # db 3 again after reconnecting
        finally:
            await client.aclose()
        wrong = LiteRedis(port=private_redis.port, password="wrong", timeout=2.0)
        with pytest.raises(RedisConnectionError):
            await wrong.mget(["a"])

    asyncio.run(scenario())


class _CountingTransport:
    """Delegates to the real transport and records each write."""

    def __init__(self, inner: asyncio.Transport) -> None:
        self.inner = inner
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.inner.write(data)

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def abort(self) -> None:
        self.inner.abort()


def test_commands_of_one_loop_pass_share_one_write(private_redis: RedisProcess) -> None:
    sync = redis.Redis(port=private_redis.port, password=private_redis.password)
    sync.mset({f"u{i}": str(i).encode() for i in range(50)})

    async def scenario() -> None:
        client = LiteRedis(port=private_redis.port, password=private_redis.password, timeout=2.0)
        try:
            assert await client.ping()
            proto = client._proto
            assert proto is not None and proto.transport is not None
            assert isinstance(proto.transport, CoalescingTransport)
            # count what reaches the socket, under a coalescing transport like the client's
            counting = _CountingTransport(proto.transport.wrapped)
            proto.transport = CoalescingTransport(
                counting,  # type: ignore[arg-type]
                asyncio.get_running_loop(),
            )
            got = await asyncio.gather(*(client.mget([f"u{i}", "none"]) for i in range(50)))
            assert got == [[str(i).encode(), None] for i in range(50)]
            assert len(counting.writes) == 1  # 50 commands, one system call
            assert await client.mget(["u7"]) == [b"7"]  # a lone command is not held back
            assert len(counting.writes) == 2
        finally:
            await client.aclose()

    asyncio.run(scenario())
