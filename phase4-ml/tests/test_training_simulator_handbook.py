"""The simulator's Handbook mode: the Handbook's three scenarios and parameters only."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest

from fraud_simulator.profiles import DEFAULT_CUSTOMERS, DEFAULT_TERMINALS, handbook_profiles
from fraud_simulator.scenarios import ScenarioConfig
from fraud_simulator.simulator import HANDBOOK_LABEL_DELAY, SimulatedTransaction, Simulator

pytestmark = pytest.mark.unit

START = date(2026, 3, 1)


@pytest.fixture(scope="module")
def handbook_week() -> list[SimulatedTransaction]:
    return list(Simulator.handbook(3, start=START).backfill(7))


def test_only_the_handbook_scenarios(handbook_week: list[SimulatedTransaction]) -> None:
    scenarios = Counter(e.label["scenario"] for e in handbook_week if e.label is not None)
    assert set(scenarios) <= {"high_amount", "compromised_terminal", "compromised_customer"}
    assert scenarios["compromised_terminal"] > 0 and scenarios["high_amount"] > 0
    share = sum(scenarios.values()) / len(handbook_week)
    assert 0.003 < share < 0.015  # the Handbook's ~0.8 % (fewer in the first weeks)
    for e in handbook_week:
        if e.label is not None:
            assert e.label["reported_at"] - e.label["event_time"] == HANDBOOK_LABEL_DELAY // (
                timedelta(milliseconds=1)
            )
        if e.transaction["amount"] > 220:
            assert e.label is not None  # scenario 1: every amount over 220 is fraud


def test_handbook_parameters_and_population_from_the_seed() -> None:
    cfg = ScenarioConfig.handbook()
    assert cfg.is_handbook and not ScenarioConfig().is_handbook
    assert (cfg.high_amount_threshold, cfg.terminals_per_day, cfg.terminal_days) == (220.0, 2, 28)
    assert (cfg.customers_per_day, cfg.customer_days) == (3, 14)
    assert (cfg.customer_fraud_share, cfg.customer_amount_factor) == (1 / 3, 5.0)
    p = handbook_profiles(3)
    assert (len(p.customers.ids), len(p.terminals.ids), p.radius) == (
        DEFAULT_CUSTOMERS,
        DEFAULT_TERMINALS,
        5.0,
    )
    m = p.customers.mean_amount
    assert m.min() >= 5 and m.max() <= 100
    np.testing.assert_allclose(p.customers.std_amount, m / 2)
    assert p.customers.tx_per_day.min() >= 0 and p.customers.tx_per_day.max() <= 4
    assert not np.array_equal(handbook_profiles(4).customers.x, p.customers.x)


def test_handbook_mode_is_reproducible_and_leaves_the_default_alone() -> None:
    day = START + timedelta(days=2)
    a = Simulator.handbook(5).day(day)
    b = Simulator.handbook(5).day(day)
    assert [e.transaction for e in a] == [e.transaction for e in b]
    default = Simulator(5).day(day)
    assert [e.transaction["transaction_id"] for e in default] == [
        e.transaction["transaction_id"] for e in Simulator(5).day(day)
    ]
    assert Simulator(5).config == ScenarioConfig()
