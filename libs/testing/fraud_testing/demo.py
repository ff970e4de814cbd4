"""The e2e layer's one platform: ``make demo`` as the test session runs it.

:func:`run_demo` runs ``fraud-demo`` as a user does, with :data:`DEMO_ENV` (a 5-s label
delay, a fast live monitor) in the environment; tests/e2e/conftest.py's session fixture
``demo`` runs it once and every e2e module uses the platform it leaves running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DEMO_DAYS = 38
DEMO_TPS = 50
#: the environment of the demo and of every service it starts
DEMO_ENV = {
    "PRODUCER_TPS": str(DEMO_TPS),  # what `fraud-demo --tps` sets for the live producer
    # the session's history (the lakehouse's) ends one label delay before yesterday ended:
    # the live producer catches up those 24-48 hours at the history's own rates (at up to
    # DEMO_TPS), the live traffic the e2e checks measure
    "PRODUCER_MAX_CATCHUP_HOURS": "48",
    # ... so the skew and drift monitors measure the served vectors of those hours (their
    # windows are in event time)
    "MONITOR_SKEW_WINDOW_HOURS": "48",
    # every 10 s a pass asks Trino for gold's vectors of the sample: a small one keeps the
    # CPU for the drills' timing (test_2_layers measures the skew of every live vector)
    "MONITOR_SKEW_SAMPLE": "300",
    "MONITOR_DRIFT_WINDOW_HOURS": "48",
    "PRODUCER_LABEL_DELAY_SECONDS": "5",
    # the live monitor counts predictions once their labels had time to arrive
    "MONITOR_MIN_AGE_SECONDS": "20",
    "MONITOR_INTERVAL_SECONDS": "10",
    # ... and compares the served vectors with gold's as soon as gold holds them
    "MONITOR_SKEW_MIN_AGE_SECONDS": "0",
}
#: what the demo starts beyond the engines and the bronze writer, stopped after the session
LIVE_SERVICES = ["model-monitor", "live-scorer", "fraud-api", "producer"]


def venv_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def run_demo() -> subprocess.CompletedProcess[str]:
    """``fraud-demo --days 38 --tps 50`` in this process's environment."""
    return subprocess.run(
        [venv_bin("fraud-demo"), "--days", str(DEMO_DAYS), "--tps", str(DEMO_TPS)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )


@dataclass(frozen=True)
class Demo:
    """The demo's run: its output, and when it started and went live."""

    output: subprocess.CompletedProcess[str]
    #: wall-clock start (the prediction log's rows of this session are after it)
    started_at: float
    #: monotonic time the live producer and the scorer ran from
    live_from: float
