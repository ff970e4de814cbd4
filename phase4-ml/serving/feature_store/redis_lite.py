"""A minimal asyncio Redis client for the scoring hot path: pipelined ``MGET`` on one socket.

redis-py's asyncio client spends more CPU per command (connection-pool checkout and
release, ``asyncio.timeout`` scopes, a generic command packer and a stream-reader
parser) than the rest of a prediction. The API only needs ``MGET`` (and ``PING``) with a
short timeout, so this client keeps **one** connection per worker process and pipelines
on it: a call queues its command and waits for a future that the protocol's
``data_received`` resolves in order (RESP2 replies come back in command order). Commands
queued during one event-loop iteration go out in a single socket write
(:class:`serving.coalescing.CoalescingTransport`, so a lone command waits for nothing):
under load the concurrent requests' ``MGET``s share one system call and Redis answers
them in one read. Concurrent requests
therefore share the socket without a pool or locks.

Failure semantics are redis-py's, with its exception classes (so the circuit breaker and
the callers' ``except RedisError`` are unchanged): a connection that cannot be made raises
:class:`redis.exceptions.ConnectionError`; a reply not back within ``timeout`` raises
:class:`redis.exceptions.TimeoutError` and drops the connection (later replies could no
longer be matched to their callers), failing the other calls in flight with
``ConnectionError``; the next call reconnects (``AUTH`` and ``SELECT`` as configured).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from serving.coalescing import CoalescingTransport

Reply = Any


class _IncompleteError(Exception):
    pass


def _parse(buf: bytearray, pos: int) -> tuple[Reply, int]:
    """One RESP2 reply starting at ``pos``: (value, next position); _IncompleteError if cut."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _IncompleteError
    kind = buf[pos]
    if kind == 36:  # $ bulk string
        n = int(buf[pos + 1 : end])
        if n < 0:
            return None, end + 2
        stop = end + 2 + n
        if len(buf) < stop + 2:
            raise _IncompleteError
        return bytes(buf[end + 2 : stop]), stop + 2
    if kind == 42:  # * array
        n = int(buf[pos + 1 : end])
        if n < 0:
            return None, end + 2
        pos = end + 2
        items = []
        for _ in range(n):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    line = bytes(buf[pos + 1 : end])
    if kind == 43:  # + simple string
        return line, end + 2
    if kind == 58:  # : integer
        return int(line), end + 2
    if kind == 45:  # - error
        return ResponseError(line.decode(errors="replace")), end + 2
    raise RedisConnectionError(f"unexpected RESP reply type {chr(kind)!r}")


def _command(*args: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: CoalescingTransport | None = None
        self.waiters: deque[asyncio.Future[Reply]] = deque()
        self.buf = bytearray()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # commands of one loop pass go out in one write (uvloop's is not a Transport subclass)
        raw = cast(asyncio.Transport, transport)
        self.transport = CoalescingTransport(raw, asyncio.get_running_loop())

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        try:
            while pos < len(buf):
                value, pos = _parse(buf, pos)
                if not self.waiters:
                    raise RedisConnectionError("reply without a request")
                waiter = self.waiters.popleft()
                if not waiter.done():
                    waiter.set_result(value)
        except _IncompleteError:
            pass
        except (RedisConnectionError, ValueError) as err:
            self.fail(RedisConnectionError(f"bad reply from Redis: {err}"))
            return
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def fail(self, err: Exception) -> None:
        self.lost = True
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(err)
        if self.transport is not None:
            self.transport.abort()


class LiteRedis:
    """``MGET``/``PING`` over one pipelined connection (see the module docstring)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        password: str | None = None,
        db: int = 0,
        timeout: float = 0.05,
        connect_timeout: float | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.password, self.db = password, db
        self.timeout = timeout
        self.connect_timeout = connect_timeout or timeout
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def _connection(self) -> _Protocol:
        proto = self._proto
        if proto is not None and not proto.lost:
            return proto
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        proto: _Protocol | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, proto = await loop.create_connection(_Protocol, self.host, self.port)
                setup = []
                if self.password:
                    setup.append(self._send(proto, _command("AUTH", self.password)))
                if self.db:
                    setup.append(self._send(proto, _command("SELECT", str(self.db))))
                for reply in await asyncio.gather(*setup, return_exceptions=True):
                    if isinstance(reply, RedisConnectionError):
                        raise reply
                    if isinstance(reply, ResponseError):
                        proto.fail(RedisConnectionError(str(reply)))
                        raise RedisConnectionError(f"Redis refused the connection: {reply}")
        except BaseException as err:
            if proto is not None:
                proto.fail(RedisConnectionError("connection setup failed"))
            if isinstance(err, TimeoutError):
                raise RedisTimeoutError("timeout connecting to Redis") from err
            if isinstance(err, OSError):
                raise RedisConnectionError(f"cannot connect to Redis: {err}") from err
            raise
        self._proto = proto
        return proto

    @staticmethod
    def _send(proto: _Protocol, data: bytes) -> asyncio.Future[Reply]:
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        proto.waiters.append(fut)
        assert proto.transport is not None
        proto.transport.write(data)  # sent at the end of this loop pass, with the others
        return fut

    async def execute(self, data: bytes) -> Reply:
        proto = await self._connection()
        fut = self._send(proto, data)
        timer = asyncio.get_running_loop().call_later(self.timeout, self._expire, proto, fut)
        try:
            reply = await fut
        finally:
            timer.cancel()
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    @staticmethod
    def _expire(proto: _Protocol, fut: asyncio.Future[Reply]) -> None:
        if not fut.done():
            fut.set_exception(RedisTimeoutError("timeout reading from Redis"))
            proto.fail(RedisConnectionError("connection dropped after a timeout"))

    async def mget(self, keys: list[str] | tuple[str, ...]) -> list[bytes | None]:
        reply: list[bytes | None] = await self.execute(_command("MGET", *keys))
        return reply

    async def ping(self) -> bool:
        return bool(await self.execute(_command("PING")) == b"PONG")

    async def aclose(self) -> None:
        if self._proto is not None:
            self._proto.fail(RedisConnectionError("client closed"))
            self._proto = None
