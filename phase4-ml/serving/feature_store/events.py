"""The online event store: the layout of :mod:`fraud_contracts.online`, written and read.

Writes (the streaming feature job, :mod:`serving.feature_stream`) are Lua scripts run in
one Redis pipeline per batch, each the whole change of one record, atomically:

- a transaction: its id added to its card's and its terminal's sorted sets with its event
  time, unless the card already holds that id (a duplicate: the first landing wins, as in
  silver, so a replayed record changes nothing); a fraud report that came before it moves
  to its terminal; events past the retention are trimmed;
- a fraud report: put on its transaction's terminal (the earliest ``reported_at`` of the
  reports wins, as silver's first report does), or kept with the card until the
  transaction arrives.

Reads (the scoring API, per request) are one script over one pipelined connection
(:class:`~serving.feature_store.redis_lite.LiteRedis`): the card's events and the
terminal's events (with their fraud reports) in ``[t - lookback, t)``, returned as
:class:`~fraud_contracts.features.Event` lists for the contract's definition.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis
from redis.exceptions import RedisError, ResponseError

from fraud_contracts import online
from fraud_contracts.features import (
    TERMINAL_FEATURES,
    USER_RECORD,
    WINDOWS,
    Event,
    TransactionContext,
    reference_records,
)
from serving.feature_store.base import FeatureStoreError, Values
from serving.feature_store.redis_lite import LiteRedis, _command

#: events trimmed per key per write (bounded work; the rest go with the next writes)
_TRIM_LIMIT: Final = 200

WRITE_TRANSACTION: Final = (
    """
-- KEYS: user_events user_tx user_reports terminal_events terminal_tx terminal_frauds
-- ARGV: transaction_id event_ms amount merchant_id trim_before_ms ttl_ms
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3] .. '|' .. ARGV[4]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSETNX', KEYS[5], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[4], 'NX', ARGV[2], ARGV[1])
local early = redis.call('HGET', KEYS[3], ARGV[1])
if early then
  redis.call('HSET', KEYS[6], ARGV[1], early)
  redis.call('HDEL', KEYS[3], ARGV[1])
end
local function trim(zkey, hkey, extra)
  local old = redis.call('ZRANGEBYSCORE', zkey, '-inf', '(' .. ARGV[5], 'LIMIT', 0, """
    + str(_TRIM_LIMIT)
    + """)
  if #old > 0 then
    redis.call('ZREM', zkey, unpack(old))
    redis.call('HDEL', hkey, unpack(old))
    if extra then redis.call('HDEL', extra, unpack(old)) end
  end
end
trim(KEYS[1], KEYS[2], nil)
trim(KEYS[4], KEYS[5], KEYS[6])
for i = 1, 6 do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
return 1
"""
)

WRITE_REPORT: Final = """
-- KEYS: user_tx user_reports ; ARGV: transaction_id reported_ms ttl_ms terminal_frauds_prefix
-- returns the terminal's fraud-report key it wrote, or '' when the report waits
local tx = redis.call('HGET', KEYS[1], ARGV[1])
local function keep_earliest(key)
  local had = redis.call('HGET', key, ARGV[1])
  if (not had) or tonumber(ARGV[2]) < tonumber(had) then
    redis.call('HSET', key, ARGV[1], ARGV[2])
  end
  redis.call('PEXPIRE', key, ARGV[3])
end
if tx then
  local merchant = string.match(tx, '|(.*)$')
  local key = ARGV[4] .. '{' .. merchant .. '}'
  keep_earliest(key)
  return key
end
keep_earliest(KEYS[2])
return ''
"""

READ: Final = """
-- KEYS: user_events user_tx terminal_events terminal_tx terminal_frauds
-- ARGV: user_from_ms terminal_from_ms to_ms (exclusive)
local function fetch(zkey, hkey, from)
  local ids = redis.call('ZRANGEBYSCORE', zkey, from, '(' .. ARGV[3], 'WITHSCORES')
  local values = {}
  local names = {}
  for i = 1, #ids, 2 do names[#names + 1] = ids[i] end
  for i = 1, #names, 500 do
    local part = redis.call('HMGET', hkey, unpack(names, i, math.min(i + 499, #names)))
    for j = 1, #part do values[#values + 1] = part[j] end
  end
  return ids, names, values
end
local user_ids, _, user_values = fetch(KEYS[1], KEYS[2], ARGV[1])
local terminal_ids, names, terminal_values = fetch(KEYS[3], KEYS[4], ARGV[2])
local reports = {}
for i = 1, #names, 500 do
  local part = redis.call('HMGET', KEYS[5], unpack(names, i, math.min(i + 499, #names)))
  for j = 1, #part do reports[#reports + 1] = part[j] end
end
return {user_ids, user_values, terminal_ids, terminal_values, reports}
"""


def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 - Redis names scripts so


READ_SHA: Final = _sha(READ)
#: a card's features look back 30 days; a terminal's, :data:`online.LOOKBACK_MS`
_USER_LOOKBACK_MS: Final = max(WINDOWS.values())


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    """What the online state keeps of one valid transaction."""

    transaction_id: str
    user_id: str
    merchant_id: str
    event_ms: int
    amount: float


@dataclass(frozen=True, slots=True)
class FraudReport:
    """A fraud label: which transaction, whose card, when it was reported."""

    transaction_id: str
    user_id: str
    reported_ms: int


@dataclass(frozen=True, slots=True)
class Written:
    """What one batch changed: transactions added (not duplicates), reports placed on a
    terminal, reports waiting for their transaction."""

    added: int
    duplicates: int
    reports_placed: int
    reports_waiting: int


class EventWriter:
    """The streaming job's side: batches of records into the online state (sync)."""

    def __init__(self, client: redis.Redis, key_prefix: str = "") -> None:
        self.client = client
        self.prefix = key_prefix
        self._tx = client.register_script(WRITE_TRANSACTION)
        self._report = client.register_script(WRITE_REPORT)

    def write(
        self,
        transactions: Sequence[TransactionEvent],
        reports: Sequence[FraudReport],
        now_ms: int,
    ) -> Written:
        """Apply a batch (transactions first, so a report in the same batch finds its
        transaction); every record's change is atomic, the batch is one round trip."""
        if not transactions and not reports:
            return Written(0, 0, 0, 0)
        trim_before = now_ms - online.RETENTION_MS
        ttl = online.RETENTION_MS
        pipe = self.client.pipeline(transaction=False)
        for t in transactions:
            self._tx(
                keys=[
                    *online.user_keys(t.user_id, self.prefix),
                    *online.terminal_keys(t.merchant_id, self.prefix),
                ],
                args=[
                    t.transaction_id,
                    t.event_ms,
                    repr(float(t.amount)),
                    t.merchant_id,
                    trim_before,
                    ttl,
                ],
                client=pipe,
            )
        frauds_prefix = self.prefix + online.TERMINAL_FRAUDS
        for r in reports:
            _, user_tx, user_reports = online.user_keys(r.user_id, self.prefix)
            self._report(
                keys=[user_tx, user_reports],
                args=[r.transaction_id, r.reported_ms, ttl, frauds_prefix],
                client=pipe,
            )
        results = pipe.execute()
        added = sum(int(x) for x in results[: len(transactions)])
        placed = sum(1 for x in results[len(transactions) :] if x)
        return Written(added, len(transactions) - added, placed, len(reports) - placed)

    def set_status(self, status: online.StreamStatus, ttl_ms: int) -> None:
        self.client.set(self.prefix + online.STATUS_KEY, status.to_redis(), px=ttl_ms)


@dataclass(frozen=True, slots=True)
class OnlineHistory:
    """A card's and a terminal's events before one transaction, as the contract's
    definition takes them."""

    user: list[Event]
    terminal: list[Event]


def parse_history(reply: Sequence[Any]) -> OnlineHistory:
    """The read script's reply as events (amounts and report times back to numbers)."""
    user_ids, user_values, terminal_ids, terminal_values, reports = reply
    user = [
        Event(int(float(user_ids[i + 1])), float(bytes(v).split(b"|", 1)[0]))
        for i, v in zip(range(0, len(user_ids), 2), user_values, strict=True)
        if v is not None
    ]
    terminal = [
        Event(int(float(terminal_ids[i + 1])), float(v), int(r) if r is not None else None)
        for i, v, r in zip(range(0, len(terminal_ids), 2), terminal_values, reports, strict=True)
        if v is not None
    ]
    return OnlineHistory(user, terminal)


class EventReader:
    """The scoring API's side: one transaction's history in one round trip (async)."""

    def __init__(self, reader: LiteRedis, key_prefix: str = "") -> None:
        self.reader = reader
        self.prefix = key_prefix

    def _args(self, user_id: str, merchant_id: str, t_ms: int) -> list[str]:
        user_events, user_tx, _ = online.user_keys(user_id, self.prefix)
        terminal_events, terminal_tx, frauds = online.terminal_keys(merchant_id, self.prefix)
        return [
            "5",
            user_events,
            user_tx,
            terminal_events,
            terminal_tx,
            frauds,
            str(t_ms - _USER_LOOKBACK_MS),
            str(t_ms - online.LOOKBACK_MS),
            str(t_ms),
        ]

    async def read(self, user_id: str, merchant_id: str, t_ms: int) -> OnlineHistory:
        args = self._args(user_id, merchant_id, t_ms)
        try:
            try:
                reply = await self.reader.execute(_command("EVALSHA", READ_SHA, *args))
            except ResponseError as err:
                if "NOSCRIPT" not in str(err):  # a Redis restarted without its scripts
                    raise
                reply = await self.reader.execute(_command("EVAL", READ, *args))
        except (RedisError, OSError) as err:
            raise FeatureStoreError(type(err).__name__, str(err)) from err
        return parse_history(reply)


_ANY_TX: Final = 0.0  # reference_records reads only the transaction's time


def records_at(history: OnlineHistory, event_time: dt.datetime) -> tuple[Values, Values]:
    """The user's and the terminal's values (``USER_RECORD`` / ``TERMINAL_FEATURES``
    order) at ``event_time``, by the contract's definition over the events before it."""
    user, terminal = reference_records(
        TransactionContext(_ANY_TX, False, event_time), history.user, history.terminal
    )
    return (
        tuple(user.values[n] for n in USER_RECORD),
        tuple(terminal.values[n] for n in TERMINAL_FEATURES),
    )
