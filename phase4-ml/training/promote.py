"""``fraud-promote``: move the staging alias to production, remembering the previous one.

    fraud-promote

The version behind the staging alias gets the production alias; the version that was in
production gets the previous-production alias (a rollback is setting the production alias
back to it) and the promoted version records it in tag ``previous_production_version``.
The staging alias is removed. Idempotent: with nothing staged, or the staged version
already in production, it says so and changes nothing else (exit 0). The aliases are
:mod:`fraud_contracts.names`' ``ALIAS_STAGING``, ``ALIAS_PRODUCTION`` and
``ALIAS_PREVIOUS_PRODUCTION``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import structlog

from fraud_common.logs import configure_logging
from fraud_contracts.names import ALIAS_PREVIOUS_PRODUCTION, ALIAS_PRODUCTION, ALIAS_STAGING
from training import registry
from training.settings import TrainingSettings

log = structlog.get_logger("promote")


def promote(settings: TrainingSettings) -> tuple[bool, str]:
    """Returns (whether production moved, a message for people)."""
    c = registry.client(settings)
    name = settings.model_name
    staged = registry.version_by_alias(c, name, ALIAS_STAGING)
    current = registry.version_by_alias(c, name, ALIAS_PRODUCTION)
    current_text = f"production is version {current.version}" if current else "no production model"
    if staged is None:
        return False, f"nothing staged for {name} ({current_text}); run fraud-evaluate first"
    if current is not None and str(current.version) == str(staged.version):
        c.delete_registered_model_alias(name, ALIAS_STAGING)
        return False, f"version {staged.version} is already in production; staging cleared"
    previous = current.version if current else "none"
    c.set_model_version_tag(name, staged.version, "previous_production_version", previous)
    c.set_model_version_tag(name, staged.version, "promoted_at", datetime.now(UTC).isoformat())
    if current is not None:
        c.set_registered_model_alias(name, ALIAS_PREVIOUS_PRODUCTION, current.version)
    c.set_registered_model_alias(name, ALIAS_PRODUCTION, staged.version)
    c.delete_registered_model_alias(name, ALIAS_STAGING)
    log.info("promoted", name=name, version=staged.version, previous=previous)
    return True, f"{name} version {staged.version} is now in production (previous: {previous})"


def parse_args(argv: list[str] | None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="fraud-promote",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tracking-uri", dest="mlflow_tracking_uri", help="MLflow tracking URI")
    p.add_argument("--model-name")
    return registry.present(p.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    settings = TrainingSettings(**parse_args(argv))
    _, message = promote(settings)
    sys.stdout.write(message + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
