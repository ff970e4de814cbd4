"""The shared logging setup survives a replaced and closed ``sys.stderr`` (no engine)."""

from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from fraud_common.logs import configure_logging

pytestmark = pytest.mark.unit


def test_logs_go_to_the_current_stderr_even_after_the_old_one_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(json=True)
    log = structlog.get_logger("test.logging")
    log.info("one")
    first.close()  # e.g. a test runner's capture of an earlier test
    monkeypatch.setattr(sys, "stderr", second)
    log.info("two")  # raised "I/O operation on closed file" when bound to the first stream
    assert '"event": "two"' in second.getvalue()


def test_json_logs_keep_the_traceback_of_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error logged with exc_info shows its traceback (a JSON log once said only
    ``"exc_info": true``, which left a failing /predict undiagnosable)."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    configure_logging(json=True)
    log = structlog.get_logger("test.logging.exc")
    try:
        {}["amount"]
    except KeyError:
        log.error("failed", exc_info=True)
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert "Traceback" in line["exception"] and "KeyError: 'amount'" in line["exception"]
