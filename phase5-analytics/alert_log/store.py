"""The alert log: an append-only JSON-lines file plus the latest alerts in memory."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import structlog

from alert_log.schemas import LoggedAlert

log = structlog.get_logger(__name__)


class AlertLog:
    """Appends alerts to ``path`` (flushed and fsync-ed per notification, so an answered
    webhook call is on disk) and keeps the newest ``recent`` for listing."""

    def __init__(self, path: Path, recent: int) -> None:
        self.path = path
        self._lock = threading.Lock()  # the web server calls append from its thread pool
        self._recent: deque[LoggedAlert] = deque(maxlen=recent)
        self._recent.extend(self._tail(recent))

    def _tail(self, n: int) -> Iterator[LoggedAlert]:
        """The last ``n`` readable lines of an existing log (a torn last line is skipped)."""
        if not self.path.is_file():
            return
        with self.path.open("rb") as f:
            lines = deque(f, maxlen=n)
        for line in lines:
            try:
                yield LoggedAlert.model_validate_json(line)
            except ValueError:
                log.warning("unreadable line in the alert log", path=str(self.path))

    def append(self, alerts: Iterable[LoggedAlert]) -> int:
        """Write ``alerts`` (OSError propagates: Alertmanager then retries the call)."""
        batch = list(alerts)
        if not batch:
            return 0
        data = "".join(a.model_dump_json() + "\n" for a in batch).encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._recent.extend(batch)
        return len(batch)

    def latest(self, limit: int, status: str | None = None) -> list[LoggedAlert]:
        """The newest alerts first, optionally only ``firing`` or ``resolved`` ones."""
        out: list[LoggedAlert] = []
        with self._lock:
            newest_first = list(reversed(self._recent))
        for alert in newest_first:
            if status is None or alert.status == status:
                out.append(alert)
                if len(out) >= limit:
                    break
        return out
