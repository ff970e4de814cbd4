"""The online feature store's interface: how the scoring API reads a transaction's features.

The state is the recent events of every card and terminal (:mod:`fraud_contracts.online`),
which the streaming feature job keeps current; a read returns, for one transaction, the
user's and the terminal's values computed from the events strictly before its time by
the contract's definition (:func:`fraud_contracts.features.reference_records`), in one
round trip from the API's event loop, asynchronously.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fraud_contracts.online import StreamStatus

#: A user's or a terminal's values, in ``features.USER_RECORD`` / ``TERMINAL_FEATURES`` order.
Values = tuple[float, ...]
#: Where a transaction's features came from: the online state kept current by the
#: streaming job ("redis"); the same state while the job lags or is down ("stale": the
#: newest transactions may be missing); or the no-history defaults because the store
#: could not be read ("fallback").
FeatureSource = Literal["redis", "stale", "fallback"]


@dataclass(frozen=True, slots=True)
class StoredFeatures:
    """One transaction's user and terminal values (None: the defaults, no history read)."""

    user: Values | None
    terminal: Values | None
    source: FeatureSource


class FeatureStoreError(Exception):
    """The store could not be read (unreachable, refused, or no answer in time)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        #: short cause for metrics labels, e.g. the backend exception's class name
        self.reason = reason


#: one transaction to read: (user_id, merchant_id, event time)
Lookup = tuple[str, str, dt.datetime]


class FeatureStore(ABC):
    """An online store of events, read point in time by the API."""

    @abstractmethod
    async def read(self, user_id: str, merchant_id: str, at: dt.datetime) -> StoredFeatures:
        """The user's and the terminal's values at ``at`` (from the events before it).

        Raises :class:`FeatureStoreError` when the store cannot answer; a card or a
        terminal without events has the values of "no history", not an error.
        """

    @abstractmethod
    async def read_many(self, lookups: Sequence[Lookup]) -> list[StoredFeatures]:
        """:meth:`read` of many transactions, their round trips pipelined."""

    @abstractmethod
    async def stream_status(self) -> StreamStatus | None:
        """The streaming job's last heartbeat (None: none in the store)."""

    @abstractmethod
    async def ping(self) -> bool:
        """Whether the store answers (never raises)."""

    @abstractmethod
    async def close(self) -> None:
        """Release the read connection."""
