"""Stable customer and terminal (merchant) profiles of the transaction simulator.

The population follows the *Fraud Detection Handbook* (Le Borgne et al., "Reproducible
Machine Learning for Credit Card Fraud Detection", chapter "Transaction data simulator"):

- customers live at a home location ~U(0, 100)^2 on a 100x100 grid, spend amounts with
  mean ~U(5, 100) and standard deviation mean/2, and make ~U(0, 4) transactions a day;
- terminals (merchants) sit at uniform locations on the same grid;
- a customer only uses the terminals strictly within radius 5 of home.

The Handbook uses 5,000 customers and 10,000 terminals. The terminal count matters for
the fraud share: 2 terminals are compromised per day for 28 days, so about 56 terminals
are compromised at any time, i.e. 0.56 % of the traffic with 10,000 terminals (the
Handbook's figure) but 5.6 % with 1,000. Hence 10,000 is the default here too.

The platform adds a toy geography on top: the grid is four 50x50 countries, each split
into four 25x25 cities; a terminal's country and city come from its location, and so do
a customer's home country and city. Terminals also get a sales channel (point of sale,
e-commerce, ATM), a merchant category and a name; customers get one home device.

Profiles come from a fixed *profile seed*, independent of a simulation run's seed, so
every run (and the dbt seed ``merchants.csv`` written by :func:`write_merchants_csv`)
sees the same customers and merchants.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fraud_contracts import quality

PROFILE_SEED = 20_210_701
DEFAULT_CUSTOMERS = 5_000
DEFAULT_TERMINALS = 10_000
DEFAULT_RADIUS = 5.0
GRID_SIZE = 100.0

# Toy map: country i covers x in [50*(i%2), +50), y in [50*(i//2), +50); city j of a
# country covers its quarter (j%2, j//2) of 25x25. Currency = the country's currency.
COUNTRIES: tuple[str, ...] = ("US", "FR", "GB", "DE")
COUNTRY_CURRENCY: dict[str, str] = {"US": "USD", "FR": "EUR", "GB": "GBP", "DE": "EUR"}
#: the contract's currency set (every country's currency is in it)
CURRENCIES: tuple[str, ...] = quality.CURRENCIES
CITIES: tuple[tuple[str, ...], ...] = (
    ("Los Angeles", "Chicago", "San Francisco", "New York"),
    ("Marseille", "Lyon", "Bordeaux", "Paris"),
    ("Bristol", "London", "Glasgow", "Manchester"),
    ("Munich", "Frankfurt", "Hamburg", "Berlin"),
)

CHANNELS: tuple[str, ...] = ("pos", "ecom", "atm")
CHANNEL_WEIGHTS = (0.75, 0.20, 0.05)
CUSTOMER_DEVICE_TYPES: tuple[str, ...] = ("mobile", "desktop", "tablet")
CUSTOMER_DEVICE_WEIGHTS = (0.65, 0.30, 0.05)
CATEGORIES: dict[str, tuple[str, ...]] = {
    "pos": ("grocery", "restaurant", "fuel", "retail", "pharmacy", "electronics", "hotel"),
    "ecom": ("online_retail", "digital_goods", "travel", "subscription"),
    "atm": ("cash_withdrawal",),
}
_NAME_HEADS = (
    "Blue",
    "Golden",
    "Silver",
    "Red",
    "Green",
    "North",
    "South",
    "East",
    "West",
    "Royal",
    "Sunny",
    "Urban",
    "Corner",
    "Grand",
    "Bright",
    "Oak",
    "Maple",
    "River",
    "Harbor",
    "Summit",
)
_NAME_TAILS = (
    "Lane",
    "Street",
    "Square",
    "Point",
    "Market",
    "Bridge",
    "Garden",
    "Hill",
    "Bay",
    "Park",
)
_CATEGORY_WORDS: dict[str, str] = {
    "grocery": "Grocers",
    "restaurant": "Kitchen",
    "fuel": "Fuel",
    "retail": "Store",
    "pharmacy": "Pharmacy",
    "electronics": "Electronics",
    "hotel": "Hotel",
    "online_retail": "Online",
    "digital_goods": "Digital",
    "travel": "Travel",
    "subscription": "Subscriptions",
    "cash_withdrawal": "Bank ATM",
}

MERCHANT_COLUMNS: tuple[str, ...] = (
    "merchant_id",
    "merchant_name",
    "merchant_category",
    "country",
    "city",
    "x",
    "y",
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Customers:
    """Customer profiles, one entry per customer (index = position)."""

    ids: list[str]
    x: FloatArray
    y: FloatArray
    mean_amount: FloatArray
    std_amount: FloatArray
    tx_per_day: FloatArray
    country: list[str]
    city: list[str]
    device_id: list[str]
    device_type: list[str]
    # Available terminals in CSR form: terminals[indptr[c]:indptr[c + 1]] for customer c.
    indptr: IntArray
    terminals: IntArray

    @property
    def n_terminals(self) -> IntArray:
        """Number of available terminals of every customer."""
        return np.diff(self.indptr)


@dataclass(frozen=True, slots=True)
class Terminals:
    """Terminal (merchant) profiles, one entry per terminal (index = position)."""

    ids: list[str]
    x: FloatArray
    y: FloatArray
    name: list[str]
    category: list[str]
    channel: list[str]
    country: list[str]
    city: list[str]
    currency: list[str]
    device_id: list[str]


@dataclass(frozen=True, slots=True)
class Profiles:
    """The simulated population: customers, terminals and how they were drawn."""

    customers: Customers
    terminals: Terminals
    radius: float
    seed: int


def _region(x: FloatArray, y: FloatArray) -> tuple[IntArray, IntArray]:
    """Country index and global city index (country * 4 + city) of grid locations."""
    half = GRID_SIZE / 2
    quarter = GRID_SIZE / 4
    country = (x >= half).astype(np.int64) + 2 * (y >= half).astype(np.int64)
    city = ((x % half) >= quarter).astype(np.int64) + 2 * ((y % half) >= quarter).astype(np.int64)
    return country, country * 4 + city


def _names(codes: IntArray, cities: IntArray) -> tuple[list[str], list[str]]:
    countries = [COUNTRIES[i] for i in codes.tolist()]
    city_names = [CITIES[i // 4][i % 4] for i in cities.tolist()]
    return countries, city_names


def _device_ids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 2**48, size=n, dtype=np.int64).tolist()
    return [f"D{v:012x}" for v in raw]


def _available_terminals(
    cx: FloatArray, cy: FloatArray, tx: FloatArray, ty: FloatArray, radius: float
) -> tuple[IntArray, IntArray]:
    """Terminals strictly within ``radius`` of every customer, as CSR (indptr, indices).

    Vectorised distance matrix, restricted per chunk of x-sorted customers to the
    terminals whose x lies within ``radius`` of the chunk (a sweep over x).
    """
    r2 = radius * radius
    c_order = np.argsort(cx, kind="stable")
    t_order = np.argsort(tx, kind="stable")
    tx_sorted = tx[t_order]
    pairs_c: list[IntArray] = []
    pairs_t: list[IntArray] = []
    chunk = 256
    for lo in range(0, len(cx), chunk):
        cust = c_order[lo : lo + chunk]
        first, last = np.searchsorted(tx_sorted, [cx[cust[0]] - radius, cx[cust[-1]] + radius])
        cand = t_order[first:last]
        dx = cx[cust, None] - tx[None, cand]
        dy = cy[cust, None] - ty[None, cand]
        rows, cols = np.nonzero(dx * dx + dy * dy < r2)
        pairs_c.append(cust[rows])
        pairs_t.append(cand[cols])
    pc = np.concatenate(pairs_c).astype(np.int64)
    pt = np.concatenate(pairs_t).astype(np.int64)
    order = np.lexsort((pt, pc))
    indptr = np.zeros(len(cx) + 1, dtype=np.int64)
    np.cumsum(np.bincount(pc, minlength=len(cx)), out=indptr[1:])
    return indptr, pt[order]


def _grid_points(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    # Rounded to 4 decimals so the merchants CSV holds exactly the values used here.
    x = np.round(rng.uniform(0, GRID_SIZE, n), 4)
    y = np.round(rng.uniform(0, GRID_SIZE, n), 4)
    return x, y


def _terminals(rng: np.random.Generator, n: int) -> Terminals:
    x, y = _grid_points(rng, n)
    country_idx, city_idx = _region(x, y)
    countries, cities = _names(country_idx, city_idx)
    channel_idx = rng.choice(len(CHANNELS), size=n, p=CHANNEL_WEIGHTS).tolist()
    category_draw = rng.random(n).tolist()
    heads = rng.integers(0, len(_NAME_HEADS), n).tolist()
    tails = rng.integers(0, len(_NAME_TAILS), n).tolist()
    ids = [f"M{i:05d}" for i in range(n)]
    channels = [CHANNELS[i] for i in channel_idx]
    categories = [
        CATEGORIES[ch][int(u * len(CATEGORIES[ch]))]
        for ch, u in zip(channels, category_draw, strict=True)
    ]
    names = [
        f"{_NAME_HEADS[h]} {_NAME_TAILS[t]} {_CATEGORY_WORDS[cat]}"
        for h, t, cat in zip(heads, tails, categories, strict=True)
    ]
    device_ids = [
        f"{'ATM' if ch == 'atm' else 'POS'}-{mid}" for mid, ch in zip(ids, channels, strict=True)
    ]
    return Terminals(
        ids=ids,
        x=x,
        y=y,
        name=names,
        category=categories,
        channel=channels,
        country=countries,
        city=cities,
        currency=[COUNTRY_CURRENCY[c] for c in countries],
        device_id=device_ids,
    )


def build_profiles(
    n_customers: int = DEFAULT_CUSTOMERS,
    n_terminals: int = DEFAULT_TERMINALS,
    radius: float = DEFAULT_RADIUS,
    seed: int = PROFILE_SEED,
) -> Profiles:
    """Draw the population; the same arguments always give the same profiles."""
    if n_customers < 1 or n_terminals < 1:
        raise ValueError("need at least one customer and one terminal")
    root = np.random.SeedSequence(seed)
    cust_rng, term_rng = (np.random.default_rng(s) for s in root.spawn(2))
    terminals = _terminals(term_rng, n_terminals)
    x, y = _grid_points(cust_rng, n_customers)
    mean_amount = cust_rng.uniform(5, 100, n_customers)
    tx_per_day = cust_rng.uniform(0, 4, n_customers)
    device_type_idx = cust_rng.choice(
        len(CUSTOMER_DEVICE_TYPES), size=n_customers, p=CUSTOMER_DEVICE_WEIGHTS
    ).tolist()
    country_idx, city_idx = _region(x, y)
    countries, cities = _names(country_idx, city_idx)
    indptr, available = _available_terminals(x, y, terminals.x, terminals.y, radius)
    customers = Customers(
        ids=[f"U{i:06d}" for i in range(n_customers)],
        x=x,
        y=y,
        mean_amount=mean_amount,
        std_amount=mean_amount / 2,
        tx_per_day=tx_per_day,
        country=countries,
        city=cities,
        device_id=_device_ids(cust_rng, n_customers),
        device_type=[CUSTOMER_DEVICE_TYPES[i] for i in device_type_idx],
        indptr=indptr,
        terminals=available,
    )
    return Profiles(customers=customers, terminals=terminals, radius=radius, seed=seed)


@lru_cache(maxsize=4)
def default_profiles(
    n_customers: int = DEFAULT_CUSTOMERS, n_terminals: int = DEFAULT_TERMINALS
) -> Profiles:
    """Cached :func:`build_profiles` with the fixed profile seed (shared, do not mutate)."""
    return build_profiles(n_customers, n_terminals)


def handbook_profiles(seed: int) -> Profiles:
    """The Handbook's population (5,000 customers, 10,000 terminals, radius 5) drawn from
    ``seed`` (the Handbook mode of the simulator: each simulation seed its own population,
    so that results averaged over seeds vary the customers and terminals too)."""
    return build_profiles(DEFAULT_CUSTOMERS, DEFAULT_TERMINALS, DEFAULT_RADIUS, seed=seed)


def merchant_rows(profiles: Profiles) -> list[dict[str, str | float]]:
    """Merchant reference rows (columns :data:`MERCHANT_COLUMNS`) for the dbt seed."""
    t = profiles.terminals
    return [
        {
            "merchant_id": mid,
            "merchant_name": name,
            "merchant_category": cat,
            "country": country,
            "city": city,
            "x": x,
            "y": y,
        }
        for mid, name, cat, country, city, x, y in zip(
            t.ids,
            t.name,
            t.category,
            t.country,
            t.city,
            t.x.tolist(),
            t.y.tolist(),
            strict=True,
        )
    ]


def write_merchants_csv(path: Path, profiles: Profiles | None = None) -> int:
    """Write the merchant reference rows as CSV (header first); return the row count."""
    rows = merchant_rows(profiles if profiles is not None else default_profiles())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MERCHANT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
