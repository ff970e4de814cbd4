"""The HTTP floor of the scoring benchmark: an empty ASGI app on the same uvicorn.

    .venv/bin/python bench/scoring_floor.py [--rate 3000] [--seconds 15] [--workers 2]

Serves a constant JSON answer to ``POST /predict`` with the API's uvicorn options
(``serving.main.SERVER_OPTIONS``: uvloop, the API's HTTP protocol, no access log, ...) and
N workers, and drives it with the same vegeta attack as ``scoring_load.py`` (constant
rate, open loop): the latency and CPU per request that remain before any validation,
Redis, model, metrics or logging. ``--http httptools`` swaps in uvicorn's own protocol.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

BODY = b'{"fraud_probability":0.01}'


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await receive()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def serve(port: int, workers: int, http: str | None) -> None:
    """The server process: this module's app with the API's uvicorn options."""
    import uvicorn

    from serving.main import SERVER_OPTIONS

    options = SERVER_OPTIONS | ({"http": http} if http else {})
    uvicorn.run(
        "scoring_floor:app",
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        **options,
    )


def main() -> int:
    from scoring_load import CpuMeter, attack, vegeta

    from fraud_testing.serving import free_port

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=3_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--http", help="uvicorn HTTP protocol instead of the API's (e.g. httptools: uvicorn's)"
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.workers, args.http)
        return 0
    exe = vegeta()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fraud-floor-") as tmp:
        targets = Path(tmp) / "targets.jsonl"
        body = base64.b64encode(b'{"transaction_id":"t"}').decode()
        target = {
            "method": "POST",
            "url": f"http://127.0.0.1:{port}/predict",
            "header": {"Content-Type": ["application/json"]},
            "body": body,
        }
        targets.write_text((json.dumps(target) + "\n") * 1000)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), "--workers", str(args.workers)]
            + (["--http", args.http] if args.http else []),
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(4)
            attack(exe, targets, args.rate, 3)  # warm-up
            meter = CpuMeter({"server": server.pid})
            result = attack(exe, targets, args.rate, args.seconds, meter=meter)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
