"""Structured logging setup shared by the platform's Python processes."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO, cast

import structlog


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of the write.

    Loggers are cached on first use, with their file; bound to the stream object current
    at configuration, a process that replaced ``sys.stderr`` afterwards (a test runner
    capturing output, then closing its capture) would make every later log line raise
    "I/O operation on closed file" in unrelated code.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


#: typed as the text stream it stands in for (it has the two methods loggers call)
_STDERR = cast(TextIO, _CurrentStderr())


def configure_logging(level: str | None = None, json: bool | None = None) -> None:
    """Key-value logs to stderr; JSON when ``LOG_FORMAT=json`` (containers)."""
    lvl = getattr(logging, (level or os.environ.get("LOG_LEVEL", "INFO")).upper(), logging.INFO)
    as_json = json if json is not None else os.environ.get("LOG_FORMAT", "console") == "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    logging.basicConfig(level=lvl, stream=_STDERR, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # the traceback of log.exception()/exc_info=True as a field (JSON has no other way)
            *([structlog.processors.format_exc_info] if as_json else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=_STDERR),
        cache_logger_on_first_use=True,
    )
