"""serving.coalescing + serving.http_protocol: one socket write per response (per loop
pass); nothing lost or reordered."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from fraud_testing.serving import ApiThread
from serving.coalescing import CoalescingTransport

pytestmark = pytest.mark.unit


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.closing = False
        self.reading = True

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing or self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)

    def abort(self) -> None:
        self.closed = True


async def _one_pass() -> None:
    await asyncio.sleep(0)


def test_writes_of_one_loop_pass_become_one_write() -> None:
    async def scenario() -> FakeTransport:
        raw = FakeTransport()
        t = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"{}")
        assert raw.writes == []  # nothing sent before the end of the pass
        assert t.get_write_buffer_size() == 40
        await _one_pass()
        t.write(b"next")
        await _one_pass()
        return raw

    raw = asyncio.run(scenario())
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", b"next"]


def test_close_sends_what_is_pending_first() -> None:
    async def scenario() -> FakeTransport:
        raw = FakeTransport()
        t = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"a")
        t.write(bytearray(b"b"))
        t.close()
        await _one_pass()  # the scheduled flush finds nothing left
        return raw

    raw = asyncio.run(scenario())
    assert raw.writes == [b"ab"]
    assert raw.closed


def test_other_calls_reach_the_transport() -> None:
    async def scenario() -> FakeTransport:
        raw = FakeTransport()
        t = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.pause_reading()
        assert not raw.reading
        t.resume_reading()
        assert t.get_extra_info("peername") == ("127.0.0.1", 1)
        t.abort()  # not defined on the proxy: forwarded
        assert t.is_closing()
        return raw

    assert asyncio.run(scenario()).closed


async def _echo_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = (await receive())["body"]
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _read_response(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = int(next(v for k, v in _headers(head) if k == b"content-length"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return rest[:length], rest[length:]


def _headers(head: bytes) -> list[tuple[bytes, bytes]]:
    lines = head.split(b"\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, _, v in (ln.partition(b":") for ln in lines)]


def test_pipelined_requests_on_one_connection_are_answered_in_order() -> None:
    with ApiThread(_echo_app) as server, socket.create_connection(("127.0.0.1", server.port)) as s:
        bodies = [f"request-{i}".encode() * (1 + i * 500) for i in range(20)]
        s.sendall(
            b"".join(
                b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (len(b), b)
                for b in bodies
            )
        )
        buf = b""
        for expected in bodies:
            got, buf = _read_response(s, buf)
            assert got == expected
