"""Pytest fixtures shared by every phase's tests: the native stack, once per session.

``native_stack`` starts the services the integration tests need (group ``test`` of
``infra/native/services.yaml``) unless they already run, and at the end of the session
stops only what it started. ``FRAUD_STACK_AUTOSTART=0`` uses whatever is running and
starts nothing (how the "a stopped engine fails the round-trip" check is shown).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fraud_infra.settings import PlatformSettings
from fraud_infra.stack import Stack, StackError

TEST_GROUP = "test"


@pytest.fixture(scope="session")
def native_stack() -> Iterator[Stack]:
    stack = Stack.load()
    if os.environ.get("FRAUD_STACK_AUTOSTART", "1") == "0":
        yield stack
        return
    daemon_was_running = stack.daemon_running()
    try:
        started = stack.up([TEST_GROUP])
    except StackError as err:
        pytest.fail(f"native stack did not come up: {err}", pytrace=False)
    try:
        yield stack
    finally:
        if not daemon_was_running:
            stack.down()
        elif started:
            stack.stop(started)


@pytest.fixture(scope="session")
def platform_env(native_stack: Stack) -> dict[str, str]:
    """The environment the services run with (versions.env + .env + stack paths)."""
    return native_stack.env


@pytest.fixture(scope="session")
def settings(native_stack: Stack) -> PlatformSettings:
    """Connection settings for the running native stack."""
    return settings_from(native_stack.env)


def settings_from(env: dict[str, str]) -> PlatformSettings:
    """Settings built from an explicit environment mapping (not the process's)."""
    fields = PlatformSettings.model_fields
    values = {k.lower(): v for k, v in env.items() if k.lower() in fields}
    return PlatformSettings.model_validate(values)
