"""The e2e layer's one platform: ``make demo``, run once per test session.

Every module here runs against the platform the demo leaves running (live producer,
streaming bronze writer, scoring API, live scorer, live model monitor), in the order of
their names, which is the order they need:

1. ``test_1_demo``        the demo's own checks, while the live traffic flows;
2. ``test_2_layers``      the live producer stopped, every layer counted: nothing lost or
                          duplicated from Kafka to gold and to the prediction log;
3. ``test_3_alert_drill`` the live producer started again (as the demo configured it),
                          faults injected into the live platform (Redis stopped, malformed
                          records); it leaves the platform as it found it;
4. ``test_4_dashboards``  every Grafana panel query has data in Prometheus;
5. ``test_5_superset``    Superset in a browser over the demo's data.

The demo's settings (:data:`fraud_testing.demo.DEMO_ENV`) are put in this process's
environment, so that every later ``fraud-stack up`` renders the same configuration and
restarts nothing the demo started. At the end of the session the live services are
stopped (the rest goes with the native stack).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from fraud_infra.stack import Stack
from fraud_testing.demo import DEMO_ENV, LIVE_SERVICES, Demo, run_demo
from fraud_testing.lakehouse import Lakehouse


@pytest.fixture(scope="session")
def demo(native_stack: Stack, lakehouse: Lakehouse, bronze_writer: Stack) -> Iterator[Demo]:
    """``fraud-demo`` over the session's lakehouse (its backfill is reused) and the session's
    bronze writer (already running: the demo leaves it as it is); the platform it leaves
    running is every e2e module's."""
    os.environ.update(DEMO_ENV)
    started_at = time.time()
    try:
        first = run_demo()
        # its step-by-step output (each step's time) beside the services' logs
        (native_stack.state / "logs" / "fraud-demo.log").write_text(first.stdout + first.stderr)
        if first.returncode != 0:
            pytest.fail(f"make demo failed:\n{first.stdout}{first.stderr}", pytrace=False)
        yield Demo(first, started_at, time.monotonic())
    finally:
        native_stack.stop(LIVE_SERVICES)
