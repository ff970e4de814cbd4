"""Writes of one event-loop pass sent as one: :class:`CoalescingTransport`.

A protocol that answers several small messages per loop pass (uvicorn's status line and
headers, then the body; the scoring API's Redis client, one ``MGET`` per concurrent
request) would make one ``send()`` system call per message, and the peer would usually
wake up and read once per segment. This proxy collects the ``write`` calls of one pass
and writes them together at the end of the pass (``loop.call_soon``): nothing waits for
a later pass, and the bytes keep their order. Used by :mod:`serving.http_protocol` and
:mod:`serving.feature_store.redis_lite`.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """A transport proxy whose ``write`` calls in one loop pass become one write."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    @property
    def wrapped(self) -> asyncio.Transport:
        """The transport the writes go to."""
        return self._transport

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self._transport.is_closing():
            return  # the peer is gone (or aborted): a direct write would be dropped as well
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    # the calls uvicorn makes per request, forwarded without __getattr__'s lookup
    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:  # abort, set_protocol, ...
        return getattr(self._transport, name)
