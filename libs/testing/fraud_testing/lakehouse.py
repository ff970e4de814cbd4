"""The lakehouse fixture of the phase 3 and 4 tests: history in bronze, silver and gold.

``lakehouse`` lands 30 simulated days in bronze with the launcher's backfill (the
producer and the bronze writer, exactly as ``make demo`` does; once per stack: a second
session, or a demo on the same stack, reuses them) and builds silver and gold with
``dbt build`` once per test session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from fraud_common.settings import PlatformSettings
from fraud_infra.backfill import Backfill, ensure_backfill
from transforms.dbt import run_dbt

BACKFILL_DAYS = 30
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
    """30 simulated days in bronze, silver and gold (``dbt build`` passed)."""
    env = {k: v for k, v in platform_env.items() if k.isupper()}
    backfill, _ = ensure_backfill(
        settings, env, days=BACKFILL_DAYS, seed=BACKFILL_SEED, malformed=BACKFILL_MALFORMED
    )
    started = time.monotonic()
    build(settings)
    return Lakehouse(backfill, round(time.monotonic() - started, 1))
