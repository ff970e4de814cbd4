"""Labelled transaction simulator (Fraud Detection Handbook design, platform extensions).

Genuine spending follows the Handbook: every day each customer makes Poisson(tx_per_day)
transactions at times of day ~N(12:00, 20,000 s) (draws outside the day are dropped),
amounts ~N(mean, mean/2) (a negative draw is replaced by ~U(0, 2*mean)), rounded to
cents, at a terminal drawn uniformly among those within radius 5 of home. Fraud comes
from the named scenarios of :mod:`fraud_simulator.scenarios`.

Two modes share the same profiles and compromise schedule:

- :meth:`Simulator.backfill` generates whole days, vectorised with numpy, in event-time
  order. Day ``d`` depends only on (seed, d): any date range is reproducible on its own.
  :meth:`Simulator.between` cuts that day process at any instants: the history up to
  ``t`` and the live stream from ``t`` on (the producer's ``--traffic history``, paced by
  the wall clock) are one process, with the history's per-card and per-terminal rates
  and its time-of-day profile.
- :meth:`Simulator.live_batch` (``--traffic uniform``: load at any rate, denser per card
  than the history) draws transactions stamped with the wall-clock time given
  by the caller (the producer paces). Customers are sampled in proportion to their daily
  rates; platform-scenario sessions started by a batch are emitted by later batches once
  their (slightly later) event times are due. Same seed and same calls give the same
  output. The Handbook's time-of-day profile does not apply here: time is the caller's.

**Handbook mode** (:meth:`Simulator.handbook`): only the Handbook's three scenarios
(:meth:`ScenarioConfig.handbook`) and its population parameters (5,000 customers, 10,000
terminals, radius 5, :func:`~fraud_simulator.profiles.handbook_profiles`), drawn from the
run's seed; a 7-day label delay by default. For measuring the models on the same kind of
data as the Handbook's published table. The default mode is unchanged by it.

Labels are not part of a transaction: every fraud gets a :class:`FraudLabel` whose
``reported_at`` is ``event_time + label_delay``. The default delay is one day (the
Handbook uses 7 days for its offline experiments; pass ``timedelta(days=7)`` for that).
The producer publishes labels when they are due (see :class:`LabelBuffer`).
"""

from __future__ import annotations

import gc
import heapq
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import numpy as np

from fraud_contracts.avro import FraudLabel, Transaction
from fraud_simulator.profiles import COUNTRIES, Profiles, default_profiles, handbook_profiles
from fraud_simulator.scenarios import (
    SCENARIO_NAMES,
    CodeArray,
    CompromiseSchedule,
    FloatArray,
    Injected,
    IntArray,
    ScenarioConfig,
    TerminalPools,
    apply_handbook,
    inject,
)

DAY_MS = 86_400_000
DEFAULT_LABEL_DELAY = timedelta(days=1)
#: The Handbook's label delay (its offline protocol's D)
HANDBOOK_LABEL_DELAY = timedelta(days=7)
_DAY_STREAM = 11
_LIVE_STREAM = 12
_MEAN_TIME_S = 43_200.0
_STD_TIME_S = 20_000.0


class SimulatedTransaction(NamedTuple):
    """A transaction and, if it is a fraud, its (delayed) label."""

    transaction: Transaction
    label: FraudLabel | None


def to_millis(moment: datetime) -> int:
    """Milliseconds since the Unix epoch of a timezone-aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def from_millis(millis: int) -> datetime:
    """UTC datetime of milliseconds since the Unix epoch."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` UUIDs (version 4 layout) from the generator's bytes: reproducible ids."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype=np.uint8).reshape(n, 32)
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    parts = [digits[:, a:b] for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))]
    text = np.concatenate([x for p in parts for x in (p, dash)][:-1], axis=1).tobytes()
    flat = text.decode("ascii")
    return [flat[i : i + 36] for i in range(0, 36 * n, 36)]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building many acyclic records (about 1.5x faster)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# (event time ms, sequence, customer, terminal, amount, scenario, device id, device type)
_Pending = tuple[int, int, int, int, float, int, str | None, str | None]


class _Extra(NamedTuple):
    """Platform-scenario events with absolute times (device None: the usual device)."""

    customer: list[int]
    terminal: list[int]
    time_ms: list[int]
    amount: list[float]
    scenario: list[int]
    device_id: list[str | None]
    device_type: list[str | None]


class _Events(NamedTuple):
    """Columnar events before materialisation, sorted by event time."""

    customer: IntArray
    terminal: IntArray
    time_ms: IntArray
    amount: FloatArray
    code: CodeArray
    extra_pos: list[int]  # where the platform-scenario events ended up
    extra: _Extra


class Simulator:
    """Seeded generator of ``Transaction`` records and their ``FraudLabel`` records."""

    def __init__(
        self,
        seed: int,
        profiles: Profiles | None = None,
        *,
        start: date | None = None,
        label_delay: timedelta = DEFAULT_LABEL_DELAY,
        scenarios: ScenarioConfig | None = None,
        live_run: int = 0,
    ) -> None:
        """``live_run`` keys the live stream's random draws (identifiers included): a live
        producer passes its start time, so that a restarted one does not send the
        transaction ids of its previous run again. Backfills do not depend on it."""
        if seed < 0:
            raise ValueError("seed must be >= 0")
        if label_delay < timedelta(0):
            raise ValueError("label_delay must be >= 0")
        self.seed = seed
        self.profiles = profiles if profiles is not None else default_profiles()
        self.start = start
        self.label_delay = label_delay
        self._delay_ms = label_delay // timedelta(milliseconds=1)
        self.config = scenarios if scenarios is not None else ScenarioConfig()
        c, t = self.profiles.customers, self.profiles.terminals
        self.schedule = CompromiseSchedule(seed, len(c.ids), len(t.ids), self.config)
        self._pools = TerminalPools.build(self.profiles)
        self._n_avail = c.n_terminals
        weights = c.tx_per_day * (self._n_avail > 0)
        self._live_cdf = np.cumsum(weights) / weights.sum()
        self._live_rng = np.random.default_rng([seed, _LIVE_STREAM, live_run])
        self._pending: list[_Pending] = []
        self._pending_seq = 0
        # Object arrays for fast fancy indexing while materialising records.
        self._c_ids = np.array(c.ids, dtype=object)
        self._c_dev = np.array(c.device_id, dtype=object)
        self._c_devtype = np.array(c.device_type, dtype=object)
        self._c_country = np.array([COUNTRIES.index(v) for v in c.country])
        self._t_country = np.array([COUNTRIES.index(v) for v in t.country])
        self._t_ecom = np.array([ch == "ecom" for ch in t.channel])
        self._t_cols = [
            np.array(col, dtype=object)
            for col in (t.currency, t.ids, t.name, t.category, t.channel, t.country, t.city)
        ]
        self._t_dev = np.array(t.device_id, dtype=object)
        kinds = ["atm" if ch == "atm" else "pos" for ch in t.channel]
        self._t_devtype = np.array(kinds, dtype=object)

    @classmethod
    def handbook(
        cls, seed: int, *, start: date | None = None, label_delay: timedelta = HANDBOOK_LABEL_DELAY
    ) -> Simulator:
        """The Handbook mode: its three scenarios and parameters only, population from
        ``seed``."""
        return cls(
            seed,
            handbook_profiles(seed),
            start=start,
            label_delay=label_delay,
            scenarios=ScenarioConfig.handbook(),
        )

    # ------------------------------------------------------------------ backfill
    def backfill(self, days: int, start_date: date | None = None) -> Iterator[SimulatedTransaction]:
        """All transactions of ``days`` consecutive UTC days, in event-time order.

        ``start_date`` defaults to the simulator's ``start``, else to ``days`` days ago.
        """
        first = start_date or self.start or (datetime.now(UTC).date() - timedelta(days=days))
        for i in range(days):
            yield from self.day(first + timedelta(days=i))

    def between(self, start_ms: int, end_ms: int | None = None) -> Iterator[SimulatedTransaction]:
        """The transactions of the day process with ``start_ms <= event_time < end_ms``, in
        event-time order, day after day (without ``end_ms``: without end).

        The same events :meth:`backfill` and :meth:`day` give for those instants: a history
        cut at ``t`` and a stream continued from ``t`` are together exactly the history
        that was never cut (every event of a day, platform-scenario sessions included, lies
        within that day).
        """
        first = from_millis(start_ms).date()
        for i in itertools.count():
            day = first + timedelta(days=i)
            if end_ms is not None and to_millis(_midnight(day)) >= end_ms:
                return
            for event in self.day(day):
                t = event.transaction["event_time"]
                if t < start_ms:
                    continue
                if end_ms is not None and t >= end_ms:
                    return
                yield event

    def day(self, day: date) -> list[SimulatedTransaction]:
        """The transactions of one UTC day, in event-time order (depends on seed and day)."""
        day_index = (day - date(1970, 1, 1)).days
        rng = np.random.default_rng([self.seed, _DAY_STREAM, day_index])
        c = self.profiles.customers
        n_tx = rng.poisson(c.tx_per_day)
        n_tx[self._n_avail == 0] = 0
        customer = np.repeat(np.arange(len(n_tx), dtype=np.int64), n_tx)
        seconds = rng.normal(_MEAN_TIME_S, _STD_TIME_S, len(customer))
        terminal, amount = self._spend(rng, customer)
        keep = (seconds > 0) & (seconds < 86_400)
        customer, terminal, amount = customer[keep], terminal[keep], amount[keep]
        time_ms = day_index * DAY_MS + (seconds[keep] * 1000).astype(np.int64)
        days = np.full(len(customer), day_index, dtype=np.int64)
        code = apply_handbook(self.schedule, days, customer, terminal, amount, rng)
        inj = inject(rng, len(customer), self.profiles, self._pools, self.config)
        anchors = rng.integers(0, DAY_MS - self.config.max_session_ms, inj.n_sessions)
        anchor = (day_index * DAY_MS + anchors).tolist()
        extra = _Extra(
            inj.customer,
            inj.terminal,
            [anchor[s] + off for s, off in zip(inj.session, inj.offset_ms, strict=True)],
            inj.amount,
            inj.scenario,
            inj.device_id,
            inj.device_type,
        )
        events = self._merge(customer, terminal, time_ms, amount, code, extra)
        return self._materialise(events, rng)

    def _spend(self, rng: np.random.Generator, customer: IntArray) -> tuple[IntArray, FloatArray]:
        """Handbook terminal choice and amount of genuine draws by ``customer``."""
        c = self.profiles.customers
        mean = c.mean_amount[customer]
        amount = rng.normal(mean, c.std_amount[customer])
        fallback = rng.uniform(0, 2 * mean)
        amount = np.where(amount < 0, fallback, amount)
        amount = np.maximum(np.round(amount, 2), 0.01)
        pick = (rng.random(len(customer)) * self._n_avail[customer]).astype(np.int64)
        terminal = c.terminals[c.indptr[customer] + pick]
        return terminal, amount

    @staticmethod
    def _merge(
        customer: IntArray,
        terminal: IntArray,
        time_ms: IntArray,
        amount: FloatArray,
        code: CodeArray,
        extra: _Extra,
    ) -> _Events:
        """Genuine and platform-scenario events together, sorted by event time (stable)."""
        n = len(customer)
        all_time = np.concatenate([time_ms, np.array(extra.time_ms, dtype=np.int64)])
        order = np.argsort(all_time, kind="stable")
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        return _Events(
            customer=np.concatenate([customer, np.array(extra.customer, np.int64)])[order],
            terminal=np.concatenate([terminal, np.array(extra.terminal, np.int64)])[order],
            time_ms=all_time[order],
            amount=np.concatenate([amount, np.array(extra.amount, np.float64)])[order],
            code=np.concatenate([code, np.array(extra.scenario, np.int8)])[order],
            extra_pos=position[n:].tolist(),
            extra=extra,
        )

    # ------------------------------------------------------------------ live
    def live_batch(
        self, now: datetime, n: int, window: timedelta = timedelta(0)
    ) -> list[SimulatedTransaction]:
        """``n`` transactions for wall-clock ``now``, in event-time order.

        Fresh draws get event times spread uniformly over ``(now - window, now]``;
        platform-scenario events started earlier are included once due (their event
        time is when they were scheduled, at most ``now``). A producer pacing at
        ``tps`` calls e.g. ``live_batch(now, tps // 10, timedelta(milliseconds=100))``
        every 100 ms.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        now_ms = to_millis(now)
        window_ms = window // timedelta(milliseconds=1)
        rng = self._live_rng
        due: list[_Pending] = []
        while self._pending and self._pending[0][0] <= now_ms and len(due) < n:
            due.append(heapq.heappop(self._pending))
        m = n - len(due)
        customer = np.searchsorted(self._live_cdf, rng.random(m), side="right").astype(np.int64)
        customer = np.minimum(customer, len(self._live_cdf) - 1)
        time_ms = now_ms - (rng.random(m) * window_ms).astype(np.int64)
        terminal, amount = self._spend(rng, customer)
        code = apply_handbook(self.schedule, time_ms // DAY_MS, customer, terminal, amount, rng)
        self._schedule(inject(rng, m, self.profiles, self._pools, self.config), now_ms)
        extra = _Extra(
            customer=[p[2] for p in due],
            terminal=[p[3] for p in due],
            time_ms=[p[0] for p in due],
            amount=[p[4] for p in due],
            scenario=[p[5] for p in due],
            device_id=[p[6] for p in due],
            device_type=[p[7] for p in due],
        )
        events = self._merge(customer, terminal, time_ms, amount, code, extra)
        return self._materialise(events, rng)

    def next_live(self, now: datetime) -> SimulatedTransaction:
        """One live transaction for wall-clock ``now`` (a few thousand calls/s at most:
        prefer :meth:`live_batch` above a few hundred transactions per second)."""
        return self.live_batch(now, 1)[0]

    def _schedule(self, inj: Injected, anchor_ms: int) -> None:
        for i in range(len(inj)):
            self._pending_seq += 1
            item = (
                anchor_ms + inj.offset_ms[i],
                self._pending_seq,
                inj.customer[i],
                inj.terminal[i],
                inj.amount[i],
                inj.scenario[i],
                inj.device_id[i],
                inj.device_type[i],
            )
            heapq.heappush(self._pending, item)

    # ------------------------------------------------------------------ records
    def _materialise(self, ev: _Events, rng: np.random.Generator) -> list[SimulatedTransaction]:
        """Turn columnar events into ``Transaction`` dicts and labels (hot path)."""
        with _gc_paused():
            return self._build(ev, rng)

    def _build(self, ev: _Events, rng: np.random.Generator) -> list[SimulatedTransaction]:
        n = len(ev.customer)
        c, t = ev.customer, ev.terminal
        ids = _uuids(rng, n)
        is_ecom = self._t_ecom[t]
        device_id = np.where(is_ecom, self._c_dev[c], self._t_dev[t]).tolist()
        device_type = np.where(is_ecom, self._c_devtype[c], self._t_devtype[t]).tolist()
        for i, did, dty in zip(ev.extra_pos, ev.extra.device_id, ev.extra.device_type, strict=True):
            if did is not None and dty is not None:
                device_id[i], device_type[i] = did, dty
        times = ev.time_ms.tolist()
        user_ids = self._c_ids[c].tolist()
        profiles = self.profiles
        cols = [col[t].tolist() for col in self._t_cols]
        records: list[Transaction] = [
            {
                "transaction_id": tid,
                "event_time": et,
                "user_id": uid,
                "amount": amt,
                "currency": cur,
                "merchant_id": mid,
                "merchant_name": mname,
                "merchant_category": mcat,
                "channel": chan,
                "country": country,
                "city": city,
                "is_international": intl,
                "device_id": did,
                "device_type": dty,
                "customer_x": cx,
                "customer_y": cy,
                "terminal_x": tx,
                "terminal_y": ty,
                "metadata": {},
            }
            for (
                tid,
                et,
                uid,
                amt,
                cur,
                mid,
                mname,
                mcat,
                chan,
                country,
                city,
                intl,
                did,
                dty,
                cx,
                cy,
                tx,
                ty,
            ) in zip(
                ids,
                times,
                user_ids,
                ev.amount.tolist(),
                *cols,
                (self._c_country[c] != self._t_country[t]).tolist(),
                device_id,
                device_type,
                profiles.customers.x[c].tolist(),
                profiles.customers.y[c].tolist(),
                profiles.terminals.x[t].tolist(),
                profiles.terminals.y[t].tolist(),
                strict=True,
            )
        ]
        labels: list[FraudLabel | None] = [None] * n
        delay = self._delay_ms
        for i in np.flatnonzero(ev.code).tolist():
            rec = records[i]
            labels[i] = {
                "transaction_id": rec["transaction_id"],
                "user_id": rec["user_id"],
                "is_fraud": True,
                "scenario": SCENARIO_NAMES[ev.code[i]],
                "event_time": times[i],
                "reported_at": times[i] + delay,
            }
        return list(map(SimulatedTransaction, records, labels))


class LabelBuffer:
    """Labels waiting for their ``reported_at``; the producer pops the due ones."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, FraudLabel]] = []
        self._seq = 0

    def push(self, label: FraudLabel) -> None:
        """Keep ``label`` until it is due."""
        self._seq += 1
        heapq.heappush(self._heap, (label["reported_at"], self._seq, label))

    def pop_due(self, now_ms: int) -> list[FraudLabel]:
        """Labels with ``reported_at <= now_ms``, oldest first."""
        out: list[FraudLabel] = []
        while self._heap and self._heap[0][0] <= now_ms:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def __len__(self) -> int:
        return len(self._heap)
