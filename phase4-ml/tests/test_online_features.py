"""The online state (fraud_contracts.online) against a private redis-server: what the
scoring API reads equals the contract's definition over the events, point in time.

Random cards and terminals get transactions and fraud reports written through the
streaming job's writer, in a shuffled order, with duplicates (the first landing wins)
and reports that arrive before their transaction; then, at random times, the values the
store returns must equal :func:`fraud_contracts.features.reference_records` over the
events themselves: exactly, float for float (the same function computes both sides, so
any difference is the state's: a lost, doubled, misplaced or leaked event). The
transaction being scored and every later one are never seen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterator

import pytest
import redis

from fraud_contracts import features, online
from fraud_contracts.features import DAY_MS, HOUR_MS, Event, TransactionContext, to_ms
from fraud_testing.serving import RedisProcess
from serving.feature_store import FraudReport, RedisFeatureStore, TransactionEvent

pytestmark = pytest.mark.e2e

T0 = to_ms(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))


@pytest.fixture
def store(private_redis: RedisProcess) -> Iterator[RedisFeatureStore]:
    redis.Redis(port=private_redis.port, password=private_redis.password).flushall()
    yield RedisFeatureStore(
        port=private_redis.port, password=private_redis.password, read_timeout=2.0
    )


def expected(
    txs: list[TransactionEvent], reports: dict[str, int], user: str, merchant: str, t: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The contract's values from the raw events (first landing of each id)."""
    first: dict[str, TransactionEvent] = {}
    for tx in txs:
        first.setdefault(tx.transaction_id, tx)
    at = dt.datetime.fromtimestamp(t / 1000, tz=dt.UTC)
    user_events = [Event(x.event_ms, x.amount) for x in first.values() if x.user_id == user]
    terminal_events = [
        Event(x.event_ms, x.amount, reports.get(x.transaction_id))
        for x in first.values()
        if x.merchant_id == merchant
    ]
    u, m = features.reference_records(
        TransactionContext(1.0, False, at), user_events, terminal_events
    )
    return (
        tuple(u.values[n] for n in features.USER_RECORD),
        tuple(m.values[n] for n in features.TERMINAL_FEATURES),
    )


def test_reads_equal_the_contracts_definition_point_in_time(store: RedisFeatureStore) -> None:
    rng = random.Random(11)
    users = [f"U{i:06d}" for i in range(12)]
    merchants = [f"M{i:05d}" for i in range(6)]
    txs = [
        TransactionEvent(
            f"tx-{i}",
            rng.choice(users),
            rng.choice(merchants),
            T0 + rng.randint(0, 30 * DAY_MS),
            round(rng.lognormvariate(3.5, 1.0), 2),
        )
        for i in range(1_500)
    ]
    # a duplicate landing of an id changes nothing: the first one wins
    dups = [
        TransactionEvent(t.transaction_id, t.user_id, t.merchant_id, t.event_ms + 5, t.amount * 3)
        for t in rng.sample(txs, 40)
    ]
    frauds = rng.sample(txs, 120)
    reports = {t.transaction_id: t.event_ms + rng.randint(HOUR_MS, 3 * DAY_MS) for t in frauds}
    # 30 reported twice: first two days after the transaction, again a day later (the
    # earliest time stays); read between the two, their terminal's risk counts them
    twice = frauds[:30]
    reports |= {t.transaction_id: t.event_ms + 2 * DAY_MS for t in twice}
    report_records = [
        FraudReport(t.transaction_id, t.user_id, reports[t.transaction_id]) for t in frauds
    ]
    report_records += [
        FraudReport(t.transaction_id, t.user_id, reports[t.transaction_id] + DAY_MS) for t in twice
    ]
    between = [(t, t.event_ms + 2 * DAY_MS + HOUR_MS) for t in twice]
    writer = store.writer()
    ordered = txs[:]
    rng.shuffle(ordered)
    # half of the reports arrive before their transaction
    early, late = (
        report_records[: len(report_records) // 2],
        report_records[len(report_records) // 2 :],
    )
    now = T0 + 31 * DAY_MS  # everything within the retention
    writer.write([], early, now)
    for i in range(0, len(ordered), 200):
        writer.write(ordered[i : i + 200], [], now)
    written = writer.write(dups, late, now)
    assert written.added == 0 and written.duplicates == len(dups)

    # the transaction's own time (itself excluded), a moment after it, and the times
    # between the two reports of a transaction reported twice
    queries = [
        (tx, t)
        for tx in rng.sample(txs, 300)
        for t in (tx.event_ms, tx.event_ms + rng.randint(1, 2 * HOUR_MS))
    ] + between
    # the boundaries, exactly: an event at a window's start (counted) and at the end of
    # the risk windows, t - D (not counted); a report made at t (not counted)
    delay = features.LABEL_DELAY_MS
    for tx in rng.sample(txs, 40):
        queries += [(tx, tx.event_ms + w) for w in features.WINDOWS.values()]
        queries += [(tx, tx.event_ms + delay + w) for w in features.RISK_WINDOWS.values()]
        queries.append((tx, tx.event_ms + delay))
    queries += [
        (t, reports[t.transaction_id])
        for t in frauds
        if reports[t.transaction_id] - t.event_ms > delay
    ]

    async def reads() -> list[tuple[TransactionEvent, int, object]]:
        out = []
        for tx, t in queries:
            at = dt.datetime.fromtimestamp(t / 1000, tz=dt.UTC)
            out.append((tx, t, await store.read(tx.user_id, tx.merchant_id, at)))
        await store.close()
        return out

    checked = 0
    for tx, t, found in asyncio.run(reads()):
        user, terminal = expected(txs, reports, tx.user_id, tx.merchant_id, t)
        assert list(found.user) == pytest.approx(user, rel=1e-9, abs=1e-9), (tx, t)  # type: ignore[attr-defined]
        assert list(found.terminal) == pytest.approx(terminal, rel=1e-9, abs=1e-9), (tx, t)  # type: ignore[attr-defined]
        checked += 1
    assert checked == len(queries) > 1_000


def test_events_past_the_retention_are_trimmed_and_reports_wait_for_their_transaction(
    store: RedisFeatureStore, private_redis: RedisProcess
) -> None:
    writer = store.writer()
    old = TransactionEvent("old", "U1", "M1", T0, 10.0)
    writer.write([old], [], T0 + DAY_MS)
    # a report for a transaction not seen yet waits with the card, then moves
    waiting = writer.write([], [FraudReport("new", "U1", T0 + online.RETENTION_MS + DAY_MS)], T0)
    assert (waiting.reports_placed, waiting.reports_waiting) == (0, 1)
    new = TransactionEvent("new", "U1", "M1", T0 + online.RETENTION_MS + HOUR_MS, 20.0)
    writer.write([new], [], T0 + online.RETENTION_MS + 2 * HOUR_MS)
    client = redis.Redis(port=private_redis.port, password=private_redis.password)
    user_events, user_tx, user_reports = online.user_keys("U1")
    terminal_events, terminal_tx, terminal_frauds = online.terminal_keys("M1")
    assert client.zrange(user_events, 0, -1) == [b"20.0:new"]  # "old" is past the retention
    assert client.hkeys(user_tx) == [b"new"]
    assert client.zrange(terminal_events, 0, -1) == [b"20.0:new"]
    assert client.hkeys(terminal_tx) == [b"new"]
    reported, event = T0 + online.RETENTION_MS + DAY_MS, new.event_ms
    assert client.hgetall(terminal_frauds) == {b"new": f"{reported}|{event}".encode()}
    assert client.hlen(user_reports) == 0
    assert 0 < client.pttl(user_events) <= online.RETENTION_MS

    # a catch-up: events written two days after their time keep what a request at their
    # time looks back on (the wall clock would have trimmed it)
    t = T0 + 3 * online.RETENTION_MS
    needed = TransactionEvent("needed", "U2", "M2", t - online.LOOKBACK_MS + HOUR_MS, 5.0)
    late = TransactionEvent("late", "U2", "M2", t, 7.0)
    writer.write([needed], [], t + 2 * DAY_MS)
    writer.write([late], [], t + 2 * DAY_MS)
    assert client.zrange(online.user_keys("U2")[0], 0, -1) == [b"5.0:needed", b"7.0:late"]
    assert client.zrange(online.terminal_keys("M2")[0], 0, -1) == [b"5.0:needed", b"7.0:late"]
