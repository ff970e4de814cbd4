"""Pytest fixtures shared by every phase's tests: the native stack, once per session.

``native_stack`` starts the services the integration tests need (group ``test`` of
``infra/native/services.yaml``) unless they already run, and at the end of the session
stops only what it started. ``FRAUD_STACK_AUTOSTART=0`` uses whatever is running and
starts nothing (how the "a stopped engine fails the round-trip" check is shown).

The session's Prometheus evaluates the drills' alerts with a shorter ``for:`` than the
committed one (:data:`SESSION_RULE_FOR`, through ``PROMETHEUS_RULE_FOR``, unless the
environment sets it): the drills read the value Prometheus loaded and budget by it, and
promtool checks the committed rules (phase5-analytics/tests/test_alert_rules.py).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka import Consumer, Message
from confluent_kafka.admin import AdminClient

from fraud_common.settings import PlatformSettings
from fraud_infra.init_topics import ensure_topics
from fraud_infra.stack import Stack, StackError

TEST_GROUP = "test"
#: the alerts the drills fire, with the ``for:`` the test session's Prometheus gives them
#: (committed: RedisBreakerOpen 2m)
SESSION_RULE_FOR = "RedisBreakerOpen=20s"


@pytest.fixture(scope="session")
def native_stack() -> Iterator[Stack]:
    # before the stack's environment is read: Prometheus and every subprocess see it
    os.environ.setdefault("PROMETHEUS_RULE_FOR", SESSION_RULE_FOR)
    stack = Stack.load()
    if os.environ.get("FRAUD_STACK_AUTOSTART", "1") == "0":
        yield stack
        return
    daemon_was_running = stack.daemon_running()
    try:
        started = stack.up([TEST_GROUP])
    except StackError as err:
        if not daemon_was_running:  # stop what this session started before failing
            stack.down()
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
    return PlatformSettings.from_env(native_stack.env)


@pytest.fixture
def fresh_topics(settings: PlatformSettings) -> Iterator[PlatformSettings]:
    """Settings whose raw/DLQ/labels topics are new, empty and unique to this test."""
    run = uuid.uuid4().hex[:8]
    mine = settings.model_copy(
        update={
            "kafka_topic_raw": f"test.{run}.raw",
            "kafka_topic_dlq": f"test.{run}.dlq",
            "kafka_topic_labels": f"test.{run}.labels",
        }
    )
    ensure_topics(mine)
    yield mine
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.delete_topics(
        [mine.kafka_topic_raw, mine.kafka_topic_dlq, mine.kafka_topic_labels],
        operation_timeout=30,
    )


def consume_all(
    bootstrap: str,
    topic: str,
    expected: int | None = None,
    idle_seconds: float = 5.0,
    timeout: float = 120.0,
) -> list[Message]:
    """Every message of ``topic`` from the beginning.

    Stops once ``expected`` messages arrived (and nothing more came for a short grace
    period), or after ``idle_seconds`` without a message, or at ``timeout``.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(10_000, timeout=0.5)
            for msg in batch:
                if msg.error() is None:
                    out.append(msg)
            if batch:
                last = time.monotonic()
            idle = time.monotonic() - last
            if expected is not None and len(out) >= expected and idle > 1.0:
                break
            if idle > idle_seconds and (expected is None or len(out) >= expected):
                break
            if expected is not None and idle > max(idle_seconds, 30):
                break
    finally:
        consumer.close()
    return out


@contextmanager
def group_running(stack: Stack, group: str, what: str) -> Iterator[Stack]:
    """Start ``group`` of the native stack for a test module, and stop what it started.

    ``FRAUD_STACK_AUTOSTART=0`` uses what runs and starts nothing; a start that fails
    fails the test naming ``what`` (e.g. "Airflow") with the stack's message.
    """
    if os.environ.get("FRAUD_STACK_AUTOSTART", "1") == "0":
        yield stack
        return
    try:
        started = stack.up([group])
    except StackError as err:
        pytest.fail(f"{what} did not come up: {err}", pytrace=False)
    try:
        yield stack
    finally:
        if started:
            stack.stop(started)
