"""Pytest fixtures of the lakehouse (phases 1 -> 3), shared by the phase 3 and 4 tests.

``lakehouse`` lands 30 simulated days in bronze (once per stack: a second session
reuses them) and builds silver and gold with ``dbt build`` once per test session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from fraud_infra.settings import PlatformSettings
from transforms.lakehouse import Backfill, build, ensure_backfill

BACKFILL_DAYS = 30
BACKFILL_SEED = 42


@dataclass(frozen=True)
class Lakehouse:
    backfill: Backfill
    build_seconds: float


@pytest.fixture(scope="session")
def lakehouse(platform_env: dict[str, str], settings: PlatformSettings) -> Lakehouse:
    """30 simulated days in bronze, silver and gold (``dbt build`` passed)."""
    env = {k: v for k, v in platform_env.items() if k.isupper()}
    backfill = ensure_backfill(settings, env, days=BACKFILL_DAYS, seed=BACKFILL_SEED)
    started = time.monotonic()
    build(settings)
    return Lakehouse(backfill, round(time.monotonic() - started, 1))
