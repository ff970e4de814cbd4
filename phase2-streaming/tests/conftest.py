"""Fixtures of the Phase 2 tests: one SparkSession per test session, stream settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from fraud_common.logs import configure_logging
from fraud_common.settings import PlatformSettings
from fraud_contracts.registry import SchemaRegistry
from fraud_infra.envfiles import platform_env
from spark_jobs.session import build_session
from spark_jobs.settings import StreamingSettings


def settings_for(env: dict[str, str]) -> StreamingSettings:
    """Streaming settings from an explicit environment mapping."""
    keys = {k: v for k, v in env.items() if k.isupper()}
    previous = dict(os.environ)
    try:
        os.environ.update(keys)
        return StreamingSettings()  # type: ignore[call-arg,unused-ignore]  # from the env
    finally:
        os.environ.clear()
        os.environ.update(previous)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The test session's one SparkSession (local mode, the repo's spark-defaults.conf).

    Unit tests use it too: it needs no engine of the stack, only the connector jars.
    """
    configure_logging()
    env = platform_env(require_dotenv=False)
    env.setdefault("S3_ACCESS_KEY", "unused")
    env.setdefault("S3_SECRET_KEY", "unused")
    base = settings_for(env).model_copy(update={"master": "local[2]", "metrics_port": 0})
    session = build_session(base, app_name="fraud-bronze-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def stream_settings(platform_env: dict[str, str], settings: PlatformSettings) -> StreamingSettings:
    """Streaming settings for the running native stack (tests override topics/paths)."""
    return settings_for(platform_env).model_copy(
        update={"master": "local[2]", "metrics_port": 0, "trigger_seconds": 2.0}
    )


@pytest.fixture(scope="session")
def registry(settings: PlatformSettings) -> SchemaRegistry:
    return SchemaRegistry(settings.schema_registry_url)
