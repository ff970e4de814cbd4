"""uvicorn's httptools protocol with one socket write per response.

uvicorn writes a response in (at least) two ``transport.write`` calls: the status line and
headers on ``http.response.start``, the body on ``http.response.body``, i.e. two
``send()`` calls and, on the client, usually two wake-ups and reads.
:class:`CoalescingTransport` gathers the writes a connection makes during one event-loop
pass and sends them with one ``write`` at the end of the pass (``loop.call_soon``): the
response leaves in the same pass, in one segment. Measured at 3,000 requests/s
(``bench/scoring_load.py --cpu-only --cpu-rate 3000``): the API's CPU per request is
unchanged, vegeta's drops from ~148 to ~130 µs and the median latency from ~5.3 to
~2.2 ms on the shared two cores.

Selected with ``http="serving.http_protocol:HttpToolsProtocol"`` in uvicorn's options
(``serving.main.SERVER_OPTIONS``); everything else is uvicorn's protocol unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol


class CoalescingTransport:
    """A transport proxy whose ``write`` calls in one loop pass become one write."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

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
            return  # the peer is gone; uvicorn's own write would be dropped as well
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


class HttpToolsProtocol(_HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, only alike)
        coalescing = CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(cast(asyncio.Transport, coalescing))
