"""Named fraud scenarios of the simulator.

Handbook scenarios (Le Borgne et al., *Fraud Detection Handbook*, "Transaction data
simulator"), applied to the customers' genuine spending:

1. ``high_amount``: every transaction with an amount over 220 is fraud (a baseline any
   rule or model should catch).
2. ``compromised_terminal``: each day 2 random terminals are compromised for the next 28
   days (that day included); all their transactions in that window are fraud
   (phishing/skimming at a merchant: learnable through terminal risk features).
3. ``compromised_customer``: each day 3 random customers are compromised for the next 14
   days; a third of their transactions in that window get their amount multiplied by 5
   and are fraud (card-not-present fraud with leaked credentials: learnable through a
   customer's spending features).

When several apply, the later one wins (3 over 2 over 1), as in the Handbook. The
Handbook draws "a third" as an exact third of each compromised customer's transactions;
here each transaction is fraud with probability 1/3, which also works in live mode.

The compromise schedule is a pure function of (seed, day since the Unix epoch), so
backfill and live mode agree, any date range can be generated on its own, and the
simulation is in steady state from its first day (about 56 terminals and 42 customers
compromised at any time). Handbook share at steady state, 5,000 customers and 10,000
terminals: about 0.56 % + 0.28 % + 0.05 %, i.e. close to its published 0.8 %.

Platform scenarios, injected on top as extra transactions with a small rate per genuine
transaction (so their share is the same in backfill and at any live rate):

4. ``card_testing``: a burst of 3-8 tiny amounts (0.50-3.00) at one e-commerce merchant,
   seconds to a minute apart, from a device new to the customer.
5. ``account_takeover``: 1-3 e-commerce purchases minutes apart from a new device at
   merchants of a foreign country, amounts 2-6x the customer's mean spend.
6. ``high_amount_international``: a cloned card used once at a foreign point of sale or
   ATM for 120-480.

Default rates add about 0.1 % of fraud: roughly 0.9-1.0 % overall.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from fraud_simulator.profiles import COUNTRIES, Profiles

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
CodeArray = NDArray[np.int8]
BoolArray = NDArray[np.bool_]

_TERMINAL_STREAM = 1
_CUSTOMER_STREAM = 2
_FRAUD_DEVICE_TYPES = ("mobile", "desktop")


class Scenario(IntEnum):
    """Scenario codes; ``NONE`` marks a genuine transaction."""

    NONE = 0
    HIGH_AMOUNT = 1
    COMPROMISED_TERMINAL = 2
    COMPROMISED_CUSTOMER = 3
    CARD_TESTING = 4
    ACCOUNT_TAKEOVER = 5
    HIGH_AMOUNT_INTERNATIONAL = 6

    @property
    def label(self) -> str:
        """Name used in ``FraudLabel.scenario``."""
        return self.name.lower()


SCENARIO_NAMES: tuple[str, ...] = tuple(s.label for s in Scenario)
FRAUD_SCENARIOS: tuple[str, ...] = SCENARIO_NAMES[1:]


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """Parameters of all scenarios (defaults: Handbook values, small platform rates)."""

    high_amount_threshold: float = 220.0
    terminals_per_day: int = 2
    terminal_days: int = 28
    customers_per_day: int = 3
    customer_days: int = 14
    customer_fraud_share: float = 1 / 3
    customer_amount_factor: float = 5.0
    # Platform scenarios: sessions per genuine transaction; ranges are inclusive.
    card_testing_rate: float = 1.0e-4
    card_testing_size: tuple[int, int] = (3, 8)
    card_testing_amount: tuple[float, float] = (0.5, 3.0)
    card_testing_gap_s: tuple[float, float] = (5.0, 60.0)
    takeover_rate: float = 1.5e-4
    takeover_size: tuple[int, int] = (1, 3)
    takeover_amount_factor: tuple[float, float] = (2.0, 6.0)
    takeover_gap_s: tuple[float, float] = (60.0, 900.0)
    international_rate: float = 2.0e-4
    international_amount: tuple[float, float] = (120.0, 480.0)

    @classmethod
    def handbook(cls) -> ScenarioConfig:
        """The Handbook's three scenarios only (platform scenario rates 0)."""
        return cls(card_testing_rate=0.0, takeover_rate=0.0, international_rate=0.0)

    @property
    def is_handbook(self) -> bool:
        """No platform scenario is injected."""
        return self.card_testing_rate == self.takeover_rate == self.international_rate == 0.0

    @property
    def max_session_ms(self) -> int:
        """Upper bound of a platform session's duration."""
        burst = (self.card_testing_size[1] - 1) * self.card_testing_gap_s[1]
        takeover = (self.takeover_size[1] - 1) * self.takeover_gap_s[1]
        return int(max(burst, takeover) * 1000) + 1


@dataclass
class CompromiseSchedule:
    """Which terminals and customers are compromised on a given day (Handbook 2 and 3).

    The terminals compromised *on* day ``d`` are ``terminals_per_day`` distinct ones drawn
    from a generator seeded with ``(seed, stream, d)``; they stay compromised on days
    ``d .. d + terminal_days - 1``. Customers likewise.
    """

    seed: int
    n_customers: int
    n_terminals: int
    config: ScenarioConfig = field(default_factory=ScenarioConfig)
    _cache: dict[tuple[int, int], IntArray] = field(default_factory=dict, repr=False)
    _masks: dict[tuple[int, int], BoolArray] = field(default_factory=dict, repr=False)

    def _drawn_on(self, stream: int, day: int, population: int, k: int) -> IntArray:
        if day < 0:
            raise ValueError("days before the Unix epoch are not supported")
        rng = np.random.default_rng([self.seed, stream, day])
        return rng.choice(population, size=min(k, population), replace=False).astype(np.int64)

    def _active(self, stream: int, day: int) -> IntArray:
        hit = self._cache.get((stream, day))
        if hit is not None:
            return hit
        cfg = self.config
        if stream == _TERMINAL_STREAM:
            population, k, span = self.n_terminals, cfg.terminals_per_day, cfg.terminal_days
        else:
            population, k, span = self.n_customers, cfg.customers_per_day, cfg.customer_days
        draws = [
            self._drawn_on(stream, d, population, k) for d in range(max(0, day - span + 1), day + 1)
        ]
        active = np.unique(np.concatenate(draws)) if draws else np.zeros(0, np.int64)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[(stream, day)] = active
        return active

    def terminals_drawn_on(self, day: int) -> IntArray:
        """Terminals whose compromise starts on ``day``."""
        cfg = self.config
        return self._drawn_on(_TERMINAL_STREAM, day, self.n_terminals, cfg.terminals_per_day)

    def customers_drawn_on(self, day: int) -> IntArray:
        """Customers whose compromise starts on ``day``."""
        cfg = self.config
        return self._drawn_on(_CUSTOMER_STREAM, day, self.n_customers, cfg.customers_per_day)

    def terminals(self, day: int) -> IntArray:
        """Sorted indices of the terminals compromised on ``day``."""
        return self._active(_TERMINAL_STREAM, day)

    def customers(self, day: int) -> IntArray:
        """Sorted indices of the customers compromised on ``day``."""
        return self._active(_CUSTOMER_STREAM, day)

    def _mask(self, stream: int, day: int) -> BoolArray:
        hit = self._masks.get((stream, day))
        if hit is None:
            size = self.n_terminals if stream == _TERMINAL_STREAM else self.n_customers
            hit = np.zeros(size, dtype=np.bool_)
            hit[self._active(stream, day)] = True
            if len(self._masks) > 64:
                self._masks.clear()
            self._masks[(stream, day)] = hit
        return hit

    def terminal_mask(self, day: int) -> BoolArray:
        """Boolean mask over all terminals: compromised on ``day``."""
        return self._mask(_TERMINAL_STREAM, day)

    def customer_mask(self, day: int) -> BoolArray:
        """Boolean mask over all customers: compromised on ``day``."""
        return self._mask(_CUSTOMER_STREAM, day)


def apply_handbook(
    schedule: CompromiseSchedule,
    days: IntArray,
    customer: IntArray,
    terminal: IntArray,
    amount: FloatArray,
    rng: np.random.Generator,
) -> CodeArray:
    """Scenario codes of genuine draws; multiplies compromised customers' fraud amounts.

    ``days`` holds each transaction's day since the Unix epoch; ``amount`` is modified
    in place (scenario 3).
    """
    cfg = schedule.config
    n = len(amount)
    code = np.zeros(n, dtype=np.int8)
    code[amount > cfg.high_amount_threshold] = Scenario.HIGH_AMOUNT
    third = rng.random(n) < cfg.customer_fraud_share
    if n == 0:
        return code
    first, last = int(days.min()), int(days.max())
    for day in range(first, last + 1):  # one day, or two around midnight in live mode
        at_terminal = schedule.terminal_mask(day)[terminal]
        hit = third & schedule.customer_mask(day)[customer]
        if first != last:
            on_day = days == day
            at_terminal &= on_day
            hit &= on_day
        code[at_terminal] = Scenario.COMPROMISED_TERMINAL
        amount[hit] = np.round(amount[hit] * cfg.customer_amount_factor, 2)
        code[hit] = Scenario.COMPROMISED_CUSTOMER
    return code


@dataclass(frozen=True, slots=True)
class TerminalPools:
    """Terminal indices grouped for the platform scenarios."""

    ecom: IntArray
    ecom_by_country: tuple[IntArray, ...]
    present_by_country: tuple[IntArray, ...]
    customer_country: IntArray

    @classmethod
    def build(cls, profiles: Profiles) -> TerminalPools:
        """Group ``profiles``' terminals by channel and country."""
        t = profiles.terminals
        channel = np.array(t.channel, dtype=object)
        country = np.array([COUNTRIES.index(c) for c in t.country], dtype=np.int64)
        ecom = channel == "ecom"
        pools = [np.flatnonzero(ecom & (country == k)) for k in range(len(COUNTRIES))]
        present = [np.flatnonzero(~ecom & (country == k)) for k in range(len(COUNTRIES))]
        cust_country = [COUNTRIES.index(c) for c in profiles.customers.country]
        return cls(
            ecom=np.flatnonzero(ecom),
            ecom_by_country=tuple(pools),
            present_by_country=tuple(present),
            customer_country=np.array(cust_country, dtype=np.int64),
        )

    def foreign(self, rng: np.random.Generator, customer: int, ecom: bool) -> int:
        """A random terminal of a country other than the customer's home country."""
        home = int(self.customer_country[customer])
        others = [k for k in range(len(COUNTRIES)) if k != home]
        pool_set = self.ecom_by_country if ecom else self.present_by_country
        candidates = [pool_set[k] for k in others if len(pool_set[k])]
        if not candidates:
            raise ValueError("no foreign terminal of the requested channel")
        pool = candidates[int(rng.integers(len(candidates)))]
        return int(pool[int(rng.integers(len(pool)))])


@dataclass
class Injected:
    """Platform-scenario transactions, timed relative to their session's anchor."""

    session: list[int] = field(default_factory=list)
    offset_ms: list[int] = field(default_factory=list)
    customer: list[int] = field(default_factory=list)
    terminal: list[int] = field(default_factory=list)
    amount: list[float] = field(default_factory=list)
    scenario: list[int] = field(default_factory=list)
    device_id: list[str | None] = field(default_factory=list)
    device_type: list[str | None] = field(default_factory=list)
    n_sessions: int = 0

    def add(
        self,
        offset_ms: int,
        customer: int,
        terminal: int,
        amount: float,
        scenario: Scenario,
        device: tuple[str, str] | None,
    ) -> None:
        """Append one event to the current session (``device`` None: the usual one)."""
        self.session.append(self.n_sessions)
        self.offset_ms.append(offset_ms)
        self.customer.append(customer)
        self.terminal.append(terminal)
        self.amount.append(round(amount, 2))
        self.scenario.append(int(scenario))
        self.device_id.append(device[0] if device else None)
        self.device_type.append(device[1] if device else None)

    def __len__(self) -> int:
        return len(self.session)


def _fraud_device(rng: np.random.Generator) -> tuple[str, str]:
    kind = _FRAUD_DEVICE_TYPES[int(rng.integers(len(_FRAUD_DEVICE_TYPES)))]
    return f"D{int(rng.integers(0, 2**48)):012x}", kind


def _offsets(rng: np.random.Generator, size: int, gap_s: tuple[float, float]) -> list[int]:
    gaps = rng.uniform(gap_s[0], gap_s[1], size - 1) * 1000
    return [0, *np.cumsum(gaps).astype(np.int64).tolist()]


def inject(
    rng: np.random.Generator,
    n_genuine: int,
    profiles: Profiles,
    pools: TerminalPools,
    config: ScenarioConfig,
) -> Injected:
    """Draw the platform-scenario sessions accompanying ``n_genuine`` genuine transactions."""
    out = Injected()
    n_customers = len(profiles.customers.ids)
    mean = profiles.customers.mean_amount
    counts = rng.binomial(
        n_genuine, [config.card_testing_rate, config.takeover_rate, config.international_rate]
    ).tolist()
    for _ in range(counts[0]):
        victim = int(rng.integers(n_customers))
        terminal = int(pools.ecom[int(rng.integers(len(pools.ecom)))])
        size = int(rng.integers(config.card_testing_size[0], config.card_testing_size[1] + 1))
        device = _fraud_device(rng)
        amounts = rng.uniform(*config.card_testing_amount, size).tolist()
        for off, amt in zip(_offsets(rng, size, config.card_testing_gap_s), amounts, strict=True):
            out.add(off, victim, terminal, amt, Scenario.CARD_TESTING, device)
        out.n_sessions += 1
    for _ in range(counts[1]):
        victim = int(rng.integers(n_customers))
        size = int(rng.integers(config.takeover_size[0], config.takeover_size[1] + 1))
        device = _fraud_device(rng)
        factors = rng.uniform(*config.takeover_amount_factor, size).tolist()
        for off, factor in zip(_offsets(rng, size, config.takeover_gap_s), factors, strict=True):
            terminal = pools.foreign(rng, victim, ecom=True)
            amt = max(0.01, float(mean[victim]) * factor)
            out.add(off, victim, terminal, amt, Scenario.ACCOUNT_TAKEOVER, device)
        out.n_sessions += 1
    for _ in range(counts[2]):
        victim = int(rng.integers(n_customers))
        terminal = pools.foreign(rng, victim, ecom=False)
        amt = float(rng.uniform(*config.international_amount))
        out.add(0, victim, terminal, amt, Scenario.HIGH_AMOUNT_INTERNATIONAL, None)
        out.n_sessions += 1
    return out
