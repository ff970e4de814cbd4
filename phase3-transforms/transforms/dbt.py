"""Run the dbt project against the platform's Trino.

``fraud-dbt <dbt arguments>`` is ``dbt`` with the project, its profile and the Trino
address filled in from the platform settings. The project's ``on-run-start`` hook
registers the bronze tables Spark has created (``register_bronze_tables``), so a first
run after the first landing needs no manual step::

    fraud-dbt build                      # seed, run and test everything
    fraud-dbt run --select marts         # one layer
    fraud-dbt source freshness           # bronze landed recently?
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import structlog

from fraud_common.logs import configure_logging
from fraud_common.settings import PlatformSettings

log = structlog.get_logger(__name__)


def project_dir() -> Path:
    """The dbt project: ``DBT_PROJECT_DIR``, else the one next to this package."""
    configured = os.environ.get("DBT_PROJECT_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1] / "dbt_project"


def dbt_executable() -> str:
    """The ``dbt`` of this environment (next to the running interpreter), else PATH's."""
    local = Path(sys.executable).with_name("dbt")
    if local.is_file():
        return str(local)
    found = shutil.which("dbt")
    if found is None:
        raise FileNotFoundError("dbt is not installed in this environment")
    return found


def dbt_env(settings: PlatformSettings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment for dbt: Trino's address and the project's profile."""
    env = dict(os.environ)
    env.update(
        {
            "TRINO_HOST": settings.trino_host,
            "TRINO_PORT": str(settings.trino_port),
            "TRINO_CATALOG": settings.trino_catalog,
            "DBT_PROFILES_DIR": str(project_dir()),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    env.update(extra or {})
    return env


def run_dbt(
    args: Sequence[str],
    settings: PlatformSettings,
    *,
    extra_env: Mapping[str, str] | None = None,
    check: bool = True,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run one dbt command in the project directory; raise on failure when ``check``."""
    cmd = [dbt_executable(), *args]
    log.info("dbt", args=" ".join(args))
    return subprocess.run(
        cmd,
        cwd=project_dir(),
        env=dbt_env(settings, extra_env),
        check=check,
        text=True,
        capture_output=capture,
    )


def register_bronze(settings: PlatformSettings) -> None:
    """Register the bronze tables Spark has created (the project's own macro, idempotent)."""
    run_dbt(["run-operation", "register_bronze_tables"], settings)


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    args = list(sys.argv[1:] if argv is None else argv)
    settings = PlatformSettings()  # type: ignore[call-arg,unused-ignore]  # secrets from env
    return run_dbt(args, settings, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
