"""Customer and terminal profiles: Handbook distributions, radius rule, merchant seed."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from fraud_simulator.profiles import (
    CATEGORIES,
    CHANNELS,
    CITIES,
    COUNTRIES,
    COUNTRY_CURRENCY,
    CURRENCIES,
    MERCHANT_COLUMNS,
    build_profiles,
    default_profiles,
    merchant_rows,
    write_merchants_csv,
)
from fraud_simulator.simulator import Simulator

pytestmark = pytest.mark.unit


def test_same_profile_seed_gives_same_profiles() -> None:
    a = build_profiles(400, 900)
    b = build_profiles(400, 900)
    assert a.customers.ids == b.customers.ids
    assert np.array_equal(a.customers.mean_amount, b.customers.mean_amount)
    assert np.array_equal(a.customers.terminals, b.customers.terminals)
    assert merchant_rows(a) == merchant_rows(b)
    other = build_profiles(400, 900, seed=1)
    assert not np.array_equal(a.customers.mean_amount, other.customers.mean_amount)
    assert merchant_rows(a) != merchant_rows(other)


def test_profiles_do_not_depend_on_the_run_seed() -> None:
    assert Simulator(1).profiles is Simulator(2).profiles
    assert merchant_rows(Simulator(1).profiles) == merchant_rows(build_profiles())


def test_handbook_customer_distributions() -> None:
    c = default_profiles().customers
    assert len(c.ids) == 5_000
    assert c.ids[0] == "U000000" and c.ids[123] == "U000123"
    for values, low, high in (
        (c.x, 0, 100),
        (c.y, 0, 100),
        (c.mean_amount, 5, 100),
        (c.tx_per_day, 0, 4),
    ):
        assert values.min() >= low and values.max() <= high
        # uniform: mean at the midpoint, spread of a uniform distribution
        assert abs(values.mean() - (low + high) / 2) < 0.03 * (high - low)
        assert abs(values.std() - (high - low) / math.sqrt(12)) < 0.03 * (high - low)
    assert np.allclose(c.std_amount, c.mean_amount / 2)


def test_terminals_are_uniform_with_ids_and_attributes() -> None:
    t = default_profiles().terminals
    assert len(t.ids) == 10_000
    assert t.ids[42] == "M00042" and len(set(t.ids)) == len(t.ids)
    assert abs(t.x.mean() - 50) < 2 and abs(t.y.mean() - 50) < 2
    channels = np.array(t.channel)
    assert set(t.channel) == set(CHANNELS)
    assert 0.72 < np.mean(channels == "pos") < 0.78
    assert 0.17 < np.mean(channels == "ecom") < 0.23
    for ch, cat in zip(t.channel, t.category, strict=True):
        assert cat in CATEGORIES[ch]
    assert set(t.currency) <= set(CURRENCIES)
    assert all(COUNTRY_CURRENCY[co] == cur for co, cur in zip(t.country, t.currency, strict=True))


def _expected_region(x: float, y: float) -> tuple[str, str]:
    country = int(x >= 50) + 2 * int(y >= 50)
    city = int(x % 50 >= 25) + 2 * int(y % 50 >= 25)
    return COUNTRIES[country], CITIES[country][city]


def test_country_and_city_follow_the_location() -> None:
    p = default_profiles()
    t, c = p.terminals, p.customers
    for i in range(0, len(t.ids), 97):
        assert (t.country[i], t.city[i]) == _expected_region(float(t.x[i]), float(t.y[i]))
    for i in range(0, len(c.ids), 53):
        assert (c.country[i], c.city[i]) == _expected_region(float(c.x[i]), float(c.y[i]))
    assert t.country[0] in COUNTRIES
    assert _expected_region(10, 10) == ("US", "Los Angeles")
    assert _expected_region(90, 90) == ("DE", "Berlin")


def test_available_terminals_are_exactly_those_within_the_radius() -> None:
    p = build_profiles(300, 2_000)
    c, t = p.customers, p.terminals
    for i in range(len(c.ids)):
        dist2 = (c.x[i] - t.x) ** 2 + (c.y[i] - t.y) ** 2
        expected = np.flatnonzero(dist2 < 25.0)
        got = c.terminals[c.indptr[i] : c.indptr[i + 1]]
        assert np.array_equal(got, expected), i


def test_number_of_available_terminals_matches_the_geometry() -> None:
    counts = default_profiles().customers.n_terminals
    # pi * 5^2 * 10,000 / 100^2 = 78.5 terminals, fewer near the edges of the grid
    assert 70 < counts.mean() < 79
    assert counts.min() > 0


def test_merchant_rows_and_csv_round_trip(tmp_path: Path) -> None:
    p = build_profiles(50, 300)
    rows = merchant_rows(p)
    assert len(rows) == 300
    assert all(tuple(r) == MERCHANT_COLUMNS for r in rows)
    assert rows[7]["merchant_id"] == "M00007"
    assert rows[7]["x"] == float(p.terminals.x[7])
    path = tmp_path / "seeds" / "merchants.csv"
    assert write_merchants_csv(path, p) == 300
    with path.open(encoding="utf-8") as fh:
        back = list(csv.DictReader(fh))
    assert tuple(back[0]) == MERCHANT_COLUMNS
    for orig, read in zip(rows, back, strict=True):
        assert {k: v for k, v in read.items() if k not in ("x", "y")} == {
            k: v for k, v in orig.items() if k not in ("x", "y")
        }
        assert float(read["x"]) == orig["x"] and float(read["y"]) == orig["y"]


def test_invalid_sizes_are_rejected() -> None:
    with pytest.raises(ValueError):
        build_profiles(0, 10)
