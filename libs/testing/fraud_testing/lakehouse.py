"""The lakehouse fixture of the phase 3 and 4 tests: history in bronze, silver and gold.

``lakehouse`` lands 38 simulated days in bronze with the launcher's backfill (the
producer and the bronze writer, exactly as ``make demo`` does; once per stack: a second
session, or a demo on the same stack, reuses them) and builds silver and gold with
``dbt build`` once per test session.

``bronze_writer`` is the platform's streaming bronze writer (service ``bronze-writer``),
started after the backfill (whose landing shares its checkpoint) by the first test that
needs it running and left running for the session: the bad-data drill lands through it,
and the demo finds it running. One JVM for the session instead of one per flow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from fraud_common.settings import PlatformSettings
from fraud_infra.backfill import Backfill, ensure_backfill
from fraud_infra.stack import Stack
from fraud_testing.stack import group_running
from transforms.dbt import run_dbt

#: as make demo's (DEMO_DAYS): the 30-day windows, the label delay and a week of full windows
BACKFILL_DAYS = 38
BACKFILL_SEED = 42
#: a small share of malformed records, as the demo sends (they go to the DLQ, not bronze)
BACKFILL_MALFORMED = 0.001


def build(settings: PlatformSettings, *args: str) -> None:
    """``dbt seed`` then ``dbt build`` (extra arguments go to the build)."""
    run_dbt(["seed"], settings)
    run_dbt(["build", *args], settings)


@dataclass(frozen=True)
class Lakehouse:
    backfill: Backfill
    build_seconds: float


@pytest.fixture(scope="session")
def lakehouse(platform_env: dict[str, str], settings: PlatformSettings) -> Lakehouse:
    """38 simulated days in bronze, silver and gold (``dbt build`` passed)."""
    env = {k: v for k, v in platform_env.items() if k.isupper()}
    backfill, _ = ensure_backfill(
        settings, env, days=BACKFILL_DAYS, seed=BACKFILL_SEED, malformed=BACKFILL_MALFORMED
    )
    started = time.monotonic()
    build(settings)
    return Lakehouse(backfill, round(time.monotonic() - started, 1))


@pytest.fixture(scope="session")
def bronze_writer(native_stack: Stack, lakehouse: Lakehouse) -> Iterator[Stack]:
    """The streaming bronze writer running over the lakehouse's topics (stopped at the end
    of the session if this fixture started it)."""
    with group_running(native_stack, "bronze-writer", "the bronze writer") as stack:
        yield stack
