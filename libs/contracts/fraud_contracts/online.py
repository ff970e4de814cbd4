"""The online feature state: the recent transactions of every card and terminal, in Redis.

The streaming feature job (``fraud-feature-stream``, phase 4) writes it as transactions
and fraud labels arrive on Kafka; the scoring API reads it at each request and computes
the features with the contract's one definition (:func:`fraud_contracts.features.
reference_records`) over the events strictly before the transaction: gold's
point-in-time rule, applied online. Nothing here is an aggregate that could drift from
that definition: the state is the events themselves.

Layout (every key of a card, or of a terminal, carries its id in braces: a Redis Cluster
keeps them in one slot):

=============================== ====== =================================================
key                             type   content
=============================== ====== =================================================
``user_events:{user_id}``       ZSET   ``"<amount>:<transaction_id>"``, scored by the
                                       transaction's event time (ms)
``user_tx:{user_id}``           HASH   transaction_id -> ``"<amount>|<merchant>|<time>"``;
                                       the first landing of an id wins (as in silver)
``terminal_events:{m}``         ZSET   ``"<amount>:<transaction_id>"`` by event time
``terminal_tx:{m}``             HASH   transaction_id -> ``"<amount>"``
``terminal_frauds:{m}``         HASH   transaction_id -> ``"<reported_at>|<event_time>"``
                                       of its earliest fraud report (ms)
``user_reports:{user_id}``      HASH   a fraud report whose transaction has not arrived
                                       yet: transaction_id -> ``reported_at`` (moved to
                                       the terminal's when the transaction lands)
``feature_stream:status``       STRING the job's heartbeat (:class:`StreamStatus`, JSON)
=============================== ====== =================================================

The layout has a version (:data:`LAYOUT_VERSION`), kept in the job's marker key: a state
written in another layout (an upgrade changed it) is deleted and rebuilt from Kafka by
the job, never read in a layout the reader does not parse.

Events older than :data:`RETENTION_MS` before the written event (or the wall-clock time,
if earlier: a catch-up of old events keeps what requests at their times look back on)
are trimmed when their key is written, and every key expires after :data:`RETENTION_MS` without a
write: the longest window the features look back is the terminal risk's, 30 days before
the one-day label delay.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Final

from fraud_contracts.features import DAY_MS, LABEL_DELAY_MS, RISK_WINDOWS, WINDOWS

#: how far back a request looks: the terminal risk's longest window before the delay
LOOKBACK_MS: Final = max(max(WINDOWS.values()), max(RISK_WINDOWS.values()) + LABEL_DELAY_MS)
#: how long an event is kept (the lookback and a day for late events and clock skew)
RETENTION_MS: Final = LOOKBACK_MS + DAY_MS

#: 2: members carry the amount, ``terminal_frauds`` the event time (1: ids alone)
LAYOUT_VERSION: Final = 2

USER_EVENTS: Final = "user_events:"
USER_TX: Final = "user_tx:"
USER_REPORTS: Final = "user_reports:"
TERMINAL_EVENTS: Final = "terminal_events:"
TERMINAL_TX: Final = "terminal_tx:"
TERMINAL_FRAUDS: Final = "terminal_frauds:"
STATUS_KEY: Final = "feature_stream:status"
#: every key prefix of the layout (a wipe of an outdated layout deletes these)
PREFIXES: Final = (
    USER_EVENTS,
    USER_TX,
    USER_REPORTS,
    TERMINAL_EVENTS,
    TERMINAL_TX,
    TERMINAL_FRAUDS,
)


def user_keys(user_id: str, prefix: str = "") -> tuple[str, str, str]:
    """(events, transactions, pending reports) of a card; ``prefix`` isolates tests."""
    tag = "{" + user_id + "}"
    return (prefix + USER_EVENTS + tag, prefix + USER_TX + tag, prefix + USER_REPORTS + tag)


def terminal_keys(merchant_id: str, prefix: str = "") -> tuple[str, str, str]:
    """(events, transactions, fraud reports) of a terminal."""
    tag = "{" + merchant_id + "}"
    return (
        prefix + TERMINAL_EVENTS + tag,
        prefix + TERMINAL_TX + tag,
        prefix + TERMINAL_FRAUDS + tag,
    )


@dataclass(frozen=True)
class StreamStatus:
    """The streaming feature job's heartbeat, rewritten at least every second it runs.

    The scoring API calls its answers fresh (``feature_source="redis"``) only while the
    heartbeat is recent and the job has no backlog beyond the freshness bound; else it
    answers from the state as it is and says so (``"stale"``)."""

    #: wall-clock time of this heartbeat (ms)
    updated_ms: int
    #: records of the topics not applied yet, summed over partitions (at the heartbeat)
    backlog: int
    #: the Kafka time of the newest record applied (ms; 0 before any)
    applied_through_ms: int

    def to_redis(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_redis(cls, raw: str | bytes) -> StreamStatus:
        data = json.loads(raw)
        return cls(int(data["updated_ms"]), int(data["backlog"]), int(data["applied_through_ms"]))
