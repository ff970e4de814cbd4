"""The online feature store's interface: what a backend stores, and how it is read.

A backend keeps one value per user and one per terminal under the keys of
:class:`KeyLayout` (the contract's ``UserFeatures.KEY_PREFIX`` /
``TerminalFeatures.KEY_PREFIX`` plus the identifier, behind an optional prefix), each
value the record's JSON (:mod:`serving.feature_store.records`). It writes whole records
(one value per key, so a reader sees the old record or the new one, never a mix) from a
batch job, synchronously, and reads one transaction's user and terminal records in one
round trip from the API's event loop, asynchronously.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from fraud_contracts.features import TerminalFeatures, UserFeatures

#: A stored record's values, in ``features.USER_RECORD`` / ``TERMINAL_FEATURES`` order.
Values = tuple[float, ...]
#: What the store keeps: a user's or a terminal's aggregates as of a snapshot time.
Record = UserFeatures | TerminalFeatures
#: Where a transaction's features came from: the store, or the no-history defaults
#: because the store could not be read.
FeatureSource = Literal["redis", "fallback"]


@dataclass(frozen=True, slots=True)
class StoredFeatures:
    """One transaction's user and terminal values (None: no record, i.e. no history)."""

    user: Values | None
    terminal: Values | None
    source: FeatureSource


class FeatureStoreError(Exception):
    """The store could not be read (unreachable, refused, or no answer in time)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        #: short cause for metrics labels, e.g. the backend exception's class name
        self.reason = reason


class KeyLayout:
    """The keys of a user's and a terminal's record, behind ``prefix`` (tests isolate
    their keys with one; empty in production)."""

    __slots__ = ("terminal", "user")

    def __init__(self, prefix: str = "") -> None:
        self.user = prefix + UserFeatures.KEY_PREFIX
        self.terminal = prefix + TerminalFeatures.KEY_PREFIX

    def of(self, record: Record) -> str:
        """The key ``record`` is stored under."""
        if isinstance(record, UserFeatures):
            return self.user + record.user_id
        return self.terminal + record.merchant_id

    def pair(self, user_id: str, merchant_id: str) -> tuple[str, str]:
        """The keys one transaction reads: its user's and its terminal's."""
        return self.user + user_id, self.terminal + merchant_id


class FeatureStore(ABC):
    """An online store: batch writes (the feature writer), point reads (the API)."""

    @abstractmethod
    def write(self, records: Iterable[Record]) -> int:
        """Store every record (replacing the previous one of its key); returns the count."""

    @abstractmethod
    async def read(self, user_id: str, merchant_id: str) -> StoredFeatures:
        """The stored values of one transaction's user and terminal.

        Raises :class:`FeatureStoreError` when the store cannot answer; a missing or
        unreadable record is ``None``, not an error.
        """

    @abstractmethod
    async def read_many(self, pairs: Sequence[tuple[str, str]]) -> list[StoredFeatures]:
        """:meth:`read` of many (user_id, merchant_id) pairs, in one round trip."""

    @abstractmethod
    async def ping(self) -> bool:
        """Whether the store answers (never raises)."""

    @abstractmethod
    async def close(self) -> None:
        """Release the read connection."""
