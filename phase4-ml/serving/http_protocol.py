"""uvicorn's httptools protocol with one socket write per response.

uvicorn writes a response in (at least) two ``transport.write`` calls: the status line and
headers on ``http.response.start``, the body on ``http.response.body``, i.e. two
``send()`` calls and, on the client, usually two wake-ups and reads.
:class:`serving.coalescing.CoalescingTransport` gathers the writes a connection makes
during one event-loop pass and sends them with one ``write`` at the end of the pass: the
response leaves in the same pass, in one segment, and the client reads it once. The
comparison with uvicorn's own protocol is ``bench/scoring_load.py --cpu-only --cpu-rate
3000 [--http httptools]`` (``SERVING_HTTP_PROTOCOL=httptools`` switches a running API).

Selected with ``http="serving.http_protocol:HttpToolsProtocol"`` in uvicorn's options
(``serving.main.SERVER_OPTIONS``); everything else is uvicorn's protocol unchanged.
"""

from __future__ import annotations

import asyncio
from typing import cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol

from serving.coalescing import CoalescingTransport


class HttpToolsProtocol(_HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, only alike)
        coalescing = CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(cast(asyncio.Transport, coalescing))
