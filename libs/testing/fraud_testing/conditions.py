"""Waiting on a condition of the running platform, and reading a service's metrics.

The e2e tests and drills wait on conditions, never on fixed sleeps: :func:`wait_until`
polls a check until it holds (failing with what it waited for), and :func:`scraped` reads
one metric from a service's Prometheus endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests


def wait_until(
    what: str, check: Callable[[], bool], timeout: float = 300, poll: float = 1.0
) -> float:
    """Seconds until ``check()`` is true; fails naming ``what`` after ``timeout``."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, f"timed out ({timeout:.0f} s) waiting for {what}"
        time.sleep(poll)
    return time.monotonic() - began


def scraped(url: str, name: str, **labels: str) -> float:
    """The sum of a metric's series (those with ``labels``) in a Prometheus exposition."""
    total = 0.0
    for line in requests.get(url, timeout=5).text.splitlines():
        if not line.startswith((name + "{", name + " ")):
            continue
        series, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total
