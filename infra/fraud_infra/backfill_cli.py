"""Simulated history in the lakehouse, once: the lifecycle's backfill step as a program.

    fraud-backfill [--days 38] [--seed 42] [--malformed-fraction 0.001]

Compose's one-shot ``backfill`` job. Runs :func:`fraud_infra.backfill.ensure_backfill`,
the function ``make demo`` calls for the same step, with the platform's settings from the
environment. Defaults, limits and the variables ``DEMO_DAYS``, ``DEMO_SEED`` and
``DEMO_MALFORMED_FRACTION`` are the demo's (:class:`fraud_infra.demo.DemoSettings`);
options override them. The programs it starts (``fraud-producer``, the bronze writer,
``fraud-dbt``) are taken from ``$VENV/bin``.

Idempotent like the demo's step: a backfill recorded in the object store's manifest is
reused. Exit status 0 once the history is in bronze, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys

import structlog

from fraud_common.logs import configure_logging
from fraud_common.settings import PlatformSettings
from fraud_infra import lifecycle
from fraud_infra.backfill import BackfillError, ensure_backfill
from fraud_infra.demo import DemoSettings

log = structlog.get_logger(__name__)


def main(argv: list[str] | None = None) -> int:
    configure_logging(level=os.environ.get("LOG_LEVEL", "INFO"))
    parser = argparse.ArgumentParser(prog="fraud-backfill", description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, help="days of history (DEMO_DAYS, default 38)")
    parser.add_argument("--seed", type=int, help="simulator seed (DEMO_SEED, default 42)")
    parser.add_argument(
        "--malformed-fraction",
        dest="malformed_fraction",
        type=float,
        help="share of malformed records (DEMO_MALFORMED_FRACTION, default 0.001)",
    )
    args = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    cfg = DemoSettings(**args)
    settings = PlatformSettings()  # type: ignore[call-arg]  # secrets come from the environment
    title = lifecycle.label(lifecycle.BACKFILL, days=cfg.days)
    log.info("step started", step=title, seed=cfg.seed)
    try:
        backfill, reused = ensure_backfill(
            settings,
            dict(os.environ),
            cfg.days,
            cfg.seed,
            cfg.malformed_fraction,
            say=lambda text: log.info("step progress", step=title, note=text),
            # as make demo's: the history ends now and the live producer continues it
            history_end=dt.datetime.now(dt.UTC).replace(microsecond=0),
        )
    except (BackfillError, subprocess.CalledProcessError) as err:
        log.error("step failed", step=title, reason=str(err))
        return 1
    log.info(
        "step done",
        step=title,
        reused=reused,
        transactions=backfill.transactions,
        labels=backfill.labels,
        malformed=backfill.malformed,
        landed_at=backfill.landed_at,
        history_end=backfill.history_end,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
