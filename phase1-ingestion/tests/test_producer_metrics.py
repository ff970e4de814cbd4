"""The producer's DLQ counter: one series per reason from the start (no engine)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from producer import metrics

pytestmark = pytest.mark.unit

PRODUCER = Path(metrics.__file__).parent


def _reasons_sent() -> set[str]:
    """The literal reason argument of every ``to_dlq(value, reason, ...)`` call."""
    found: set[str] = set()
    for path in PRODUCER.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "to_dlq"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            ):
                found.add(str(node.args[1].value))
    return found


def test_every_dlq_reason_the_producer_sends_is_declared() -> None:
    sent = _reasons_sent()
    assert sent, "no to_dlq call found: the scan is broken"
    assert sent <= set(metrics.DLQ_REASONS)


def test_dlq_series_exist_at_zero_before_any_record() -> None:
    for reason in metrics.DLQ_REASONS:
        value = REGISTRY.get_sample_value("fraud_producer_dlq_records_total", {"reason": reason})
        assert value is not None, reason
