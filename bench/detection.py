"""What real-time features buy: one model scoring the same held-out days with fresh
features and with the 15-minute batch's stale ones (``make bench-detection``).

    .venv/bin/python bench/detection.py [--seeds 1,2,3,4,5] [--days 60] [--burn-in-days 30]
        [--interval-min 15] [--run-min 6] [--family lightgbm] [--out PATH]

Before the features were computed in real time, the batch pipeline (dbt on gold every
15 minutes, a run taking about 6) pushed per-card and per-terminal snapshots to Redis: a
transaction at ``t`` was scored with the aggregates as of the start of the last run that
had *completed* before ``t``::

    as_of(t) = interval * floor((t - run) / interval)       (runs at :00, :15, :30, :45)

For every simulator seed (the platform's default mode, the producer's backfill with its
1-day label delay):

1. ``--days`` days from ``2025-04-01``; the point-in-time features of every transaction
   (``training.data.compute_features``, the training path).
2. The platform's split (``training/split.py``: burn-in, training days, the label delay,
   ``test_days`` test days, known-compromised cards removed from the test days) with a
   ``--burn-in-days`` burn-in: by default 30, so that every window of the training and
   test days is filled (60 days: burn-in 0-29, then 22 training days, the delay, the test
   week; with 45 days only 7 training days: the few card-testing bursts a model then sees
   make that scenario's figures vary widely between seeds).
3. One model fitted on the training days as the platform fits it: ``--family`` with the
   platform's default hyperparameters (``TrainingSettings``), by default **LightGBM**.
   ``fraud-train`` would choose among RandomForest, LightGBM, XGBoost and their average
   on prequential validation folds (``training/select.py``); that selection is not run
   here (no fold fits before a 30-day burn-in's training window: fraud-train would take
   its first candidate unvalidated; and the question is the features, not the family).
4. The test days scored twice by that one model:

   - **fresh**: the point-in-time features (what the API serves now);
   - **stale**: the request features (amount, is_international, is_weekend, is_night) of
     the transaction at ``t``, every per-card and per-terminal aggregate (counts, means,
     the 30-day standard deviation and median, terminal risk with the labels reported
     before ``as_of``) as of ``as_of(t)`` (``compute_features(..., at=as_of)``); the
     derived features divide the current amount by those stale statistics, as the API
     did (``fraud_contracts.features.build_features``).

Metrics over the test days, per way: average precision; recall at the API's high-risk
tier (share of frauds with P(fraud) >= ``ServingSettings.risk_high``, read from the
serving settings' default); Card Precision@100 (``training.metrics``, per day, detected
cards removed). Overall, and for the burst scenarios (card testing, account take-over):
AP and recall over that scenario's frauds plus **all** genuine transactions (CP@100
overall only). Mean ± standard deviation over seeds (population std); the difference
column is fresh minus stale per seed, then averaged.

Sanity checks (assertions, every seed): the request features are identical both ways;
every ``as_of`` is a run start whose run ended by ``t`` while the next one's had not;
and for a sample of test rows the whole stale vector equals the contract's reference
(``features.reference_records`` at ``as_of``, ``build_features`` with the transaction
itself), computed naively from raw events.

Prints a Markdown table and writes every seed's figures as JSON to ``--out`` (default:
``<cache dir>/bench/detection.json``, outside the repository). Runs with ``nice`` in
``make``; about half a minute a seed on 2 cores (60 days, LightGBM).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import average_precision_score

from fraud_common.paths import cache_dir
from fraud_contracts import features
from serving.settings import ServingSettings
from training import data, models, split
from training.metrics import card_precision_top_k
from training.settings import TrainingSettings

REPO = Path(__file__).resolve().parents[1]
START = date(2025, 4, 1)
MINUTE_MS = 60_000
#: the burst scenarios the real-time features are for (simulator scenario names)
BURSTS = ("card_testing", "account_takeover")
SUBSETS = ("all", *BURSTS)
WAYS = ("fresh", "stale")
#: the API's high-risk tier starts at this P(fraud) (its settings' default)
HIGH_TIER = float(ServingSettings.model_fields["risk_high"].default)
#: test rows whose stale vector is checked against the naive reference, per seed
REFERENCE_SAMPLE = 300


def log(message: str) -> None:
    sys.stderr.write(f"[{datetime.now(UTC):%H:%M:%S}] {message}\n")
    sys.stderr.flush()


# ============================================================================ data
def as_of(time_ms: npt.NDArray[np.int64], interval_ms: int, run_ms: int) -> npt.NDArray[np.int64]:
    """Start of the last batch run that had completed by ``t`` (runs start every
    ``interval_ms`` from the epoch and take ``run_ms``)."""
    return np.asarray(interval_ms * ((time_ms - run_ms) // interval_ms), dtype=np.int64)


class Simulated:
    """One seed's raw events (simulator order) and their features both ways."""

    def __init__(self, seed: int, days: int, label_delay: timedelta) -> None:
        ids: list[str] = []
        users: list[str] = []
        merchants: list[str] = []
        times: list[int] = []
        amounts: list[float] = []
        intl: list[bool] = []
        reported: list[int] = []
        scenarios: list[str | None] = []
        for event in data.simulator_events(seed, days, START, label_delay):
            tx, label = event.transaction, event.label
            ids.append(tx["transaction_id"])
            users.append(tx["user_id"])
            merchants.append(tx["merchant_id"])
            times.append(tx["event_time"])
            amounts.append(tx["amount"])
            intl.append(tx["is_international"])
            reported.append(label["reported_at"] if label is not None else -1)
            scenarios.append(label["scenario"] if label is not None else None)
        self.lists = (ids, users, merchants, times, amounts, intl, reported, scenarios)
        self.ids = np.asarray(ids, dtype=object)
        self.user = pd.factorize(pd.Series(users))[0].astype(np.int64)
        self.terminal = pd.factorize(pd.Series(merchants))[0].astype(np.int64)
        self.time_ms = np.asarray(times, dtype=np.int64)
        self.amount = np.asarray(amounts, dtype=np.float64)
        self.intl = np.asarray(intl, dtype=bool)
        self.reported = np.asarray(reported, dtype=np.int64)

    def fresh_frame(self, risk_delay_ms: int) -> pd.DataFrame:
        """The training frame (``data.build_frame``: the point-in-time features)."""
        return data.build_frame(*self.lists, label_delay_ms=risk_delay_ms)

    def stale(self, at: npt.NDArray[np.int64], risk_delay_ms: int) -> dict[str, np.ndarray]:
        """Every feature with the aggregates as of ``at`` (simulator order)."""
        return data.compute_features(
            self.user,
            self.terminal,
            self.time_ms,
            self.amount,
            self.intl,
            self.reported,
            risk_delay_ms,
            at=at,
        )


def check_as_of(t: np.ndarray, at: np.ndarray, interval_ms: int, run_ms: int) -> None:
    """Each ``at`` is a run start, that run had ended by ``t``, the next one had not."""
    assert np.all(at % interval_ms == 0), "as_of is not a run start"
    assert np.all(at + run_ms <= t), "as_of's run had not completed at t"
    assert np.all(at + interval_ms + run_ms > t), "a later run had completed before t"


def check_reference(
    sim: Simulated,
    rows: np.ndarray,
    at: np.ndarray,
    stale: dict[str, np.ndarray],
    risk_delay_ms: int,
) -> int:
    """The stale vectors of ``rows`` (simulator positions) equal the contract's reference:
    the card's and terminal's records as of ``as_of`` from raw events, the vector built
    with the transaction's own amount and time. Returns how many differed from fresh."""
    if risk_delay_ms != features.LABEL_DELAY_MS:
        return -1  # the reference uses the contract's delay only
    by_user = {int(u): np.flatnonzero(sim.user == u) for u in np.unique(sim.user[rows])}
    by_term = {int(m): np.flatnonzero(sim.terminal == m) for m in np.unique(sim.terminal[rows])}

    def history(positions: np.ndarray) -> list[features.Event]:
        return [
            features.Event(
                int(sim.time_ms[j]),
                float(sim.amount[j]),
                int(sim.reported[j]) if sim.reported[j] >= 0 else None,
            )
            for j in positions
        ]

    def moment(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, UTC)

    changed = 0
    for i in rows:
        users, terms = history(by_user[int(sim.user[i])]), history(by_term[int(sim.terminal[i])])
        amount, intl = float(sim.amount[i]), bool(sim.intl[i])
        snapshot = features.TransactionContext(amount, intl, moment(int(at[i])))
        now = features.TransactionContext(amount, intl, moment(int(sim.time_ms[i])))
        user, terminal = features.reference_records(snapshot, users, terms)
        want = features.build_features(now, user, terminal)
        fresh = features.reference_features(now, users, terms)
        for name in features.FEATURE_NAMES:
            got = float(stale[name][i])
            assert math.isclose(got, want[name], rel_tol=1e-9, abs_tol=1e-9), (
                f"stale {name} of row {i}: {got} != reference {want[name]}"
            )
        changed += any(fresh[n] != want[n] for n in features.FEATURE_NAMES)
    return changed


# ============================================================================ metrics
def metrics(test: pd.DataFrame, p: np.ndarray, k: int) -> dict[str, dict[str, float]]:
    """AP and recall at the high tier per subset (a scenario: its frauds and every genuine
    transaction), CP@k overall; ``nan`` for a subset without frauds."""
    y = test[features.LABEL].to_numpy()
    scenario = test["fraud_scenario"].to_numpy()
    out: dict[str, dict[str, float]] = {}
    names = ["all", *sorted({s for s in scenario if s is not None})]
    for subset in dict.fromkeys([*SUBSETS, *names]):
        keep = np.ones(len(y), bool) if subset == "all" else (y == 0) | (scenario == subset)
        frauds = int(y[keep].sum())
        ap = float(average_precision_score(y[keep], p[keep])) if frauds else math.nan
        caught = int(((p >= HIGH_TIER) & (y == 1) & keep).sum())
        out[subset] = {
            "average_precision": ap,
            "recall_high": caught / frauds if frauds else math.nan,
            "frauds": float(frauds),
        }
    out["all"]["card_precision_at_100"] = card_precision_top_k(
        test["event_date"], test["user_id"], y, p, k=k
    )
    return out


# ============================================================================ one seed
def one_seed(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    settings = TrainingSettings.model_validate({"seed": seed, "start_date": START})
    delay_ms = settings.delay_days * features.DAY_MS
    label_delay = timedelta(seconds=settings.label_delay_seconds)
    sim = Simulated(seed, args.days, label_delay)
    t_sim = time.monotonic()
    frame = sim.fresh_frame(delay_ms)
    interval_ms, run_ms = args.interval_min * MINUTE_MS, args.run_min * MINUTE_MS
    at = as_of(sim.time_ms, interval_ms, run_ms)
    check_as_of(sim.time_ms, at, interval_ms, run_ms)
    stale_raw = sim.stale(at, delay_ms)
    # the frame's rows (sorted by time) in simulator positions
    where = pd.Index(sim.ids).get_indexer(frame["transaction_id"])
    assert (where >= 0).all()
    stale_frame = frame.copy()
    for name in features.FEATURE_NAMES:
        stale_frame[name] = stale_raw[name][where]
    for name in features.REQUEST_FEATURES:
        np.testing.assert_array_equal(stale_frame[name], frame[name], err_msg=name)
    t_feat = time.monotonic()
    log(
        f"seed {seed}: {len(frame):,} transactions, {int(frame[features.LABEL].sum()):,} frauds "
        f"(simulated in {t_sim - t0:.0f} s, features both ways in {t_feat - t_sim:.0f} s)"
    )

    sp = split.split(
        frame,
        burn_in_days=args.burn_in_days,
        train_days=None,
        test_days=settings.test_days,
        delay_days=settings.delay_days,
    )
    test_stale = stale_frame.loc[sp.test.index]
    rng = np.random.default_rng(seed)
    sample = rng.choice(
        where[sp.test.index.to_numpy()], min(REFERENCE_SAMPLE, len(sp.test)), replace=False
    )
    differing = check_reference(sim, sample, at, stale_raw, delay_ms)

    candidate = models.build(args.family, settings)
    t_fit = time.monotonic()
    models.fit(candidate, data.inputs(sp.train), sp.train[features.LABEL].to_numpy())
    fit_s = time.monotonic() - t_fit
    scores = {
        "fresh": candidate.predict(data.inputs(sp.test)),
        "stale": candidate.predict(data.inputs(test_stale)),
    }
    result: dict[str, Any] = {
        "seed": seed,
        "window": sp.window.as_tags(),
        "train_rows": len(sp.train),
        "train_frauds": int(sp.train[features.LABEL].sum()),
        "test_rows": len(sp.test),
        "test_frauds": int(sp.test[features.LABEL].sum()),
        "removed_known_compromised": sp.removed_known_compromised,
        "staleness_minutes_mean": float(np.mean(sim.time_ms - at)) / MINUTE_MS,
        "test_rows_stale_1h_count_differs": float(
            np.mean(sp.test["user_tx_count_1h"].to_numpy() != test_stale["user_tx_count_1h"])
        ),
        "reference_checked": len(sample),
        "reference_checked_differing_from_fresh": differing,
        "fit_seconds": fit_s,
        "metrics": {way: metrics(sp.test, scores[way], settings.top_k) for way in WAYS},
    }
    result["seconds"] = time.monotonic() - t0
    m = result["metrics"]
    log(
        f"seed {seed}: {result['test_rows']:,} test rows, {result['test_frauds']} frauds; "
        f"AP fresh {m['fresh']['all']['average_precision']:.3f} "
        f"stale {m['stale']['all']['average_precision']:.3f}; "
        f"{len(sample)} stale vectors equal the reference ({result['seconds']:.0f} s)"
    )
    return result


# ============================================================================ table
ROWS = (
    ("average_precision", "all", "AP"),
    ("average_precision", "card_testing", "AP"),
    ("average_precision", "account_takeover", "AP"),
    ("recall_high", "all", "recall at the high tier"),
    ("recall_high", "card_testing", "recall at the high tier"),
    ("recall_high", "account_takeover", "recall at the high tier"),
    ("card_precision_at_100", "all", "Card Precision@100"),
)
SUBSET_NAMES = {
    "all": "all transactions",
    "card_testing": "card testing",
    "account_takeover": "account take-over",
}


def _ms(values: Sequence[float], signed: bool = False) -> str:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if not len(v):
        return "n/a"
    return (
        f"{np.mean(v):+.3f} ± {np.std(v):.3f}" if signed else f"{np.mean(v):.3f} ± {np.std(v):.3f}"
    )


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| metric | subset | fresh (real time) | stale (15-min batch) | fresh - stale |",
        "|---|---|---|---|---|",
    ]
    for metric, subset, label in ROWS:
        got = {w: [r["metrics"][w][subset][metric] for r in results] for w in WAYS}
        diff = [f - s for f, s in zip(got["fresh"], got["stale"], strict=True)]
        frauds = np.mean([r["metrics"]["fresh"][subset]["frauds"] for r in results])
        where = SUBSET_NAMES[subset] + ("" if subset == "all" else f" ({frauds:.0f} frauds/seed)")
        lines.append(
            f"| {label} | {where} | {_ms(got['fresh'])} | {_ms(got['stale'])} | "
            f"{_ms(diff, signed=True)} |"
        )
    return "\n".join(lines)


def scenario_table(results: list[dict[str, Any]]) -> str:
    """Recall at the high tier for every scenario (information)."""
    names = sorted(
        {s for r in results for s in r["metrics"]["fresh"] if s not in ("all",)},
        key=lambda s: (s not in BURSTS, s),
    )
    lines = [
        "| scenario | frauds/seed | recall fresh | recall stale | fresh - stale |",
        "|---|---|---|---|---|",
    ]
    for s in names:
        rows = [r["metrics"] for r in results if s in r["metrics"]["fresh"]]
        fresh = [m["fresh"][s]["recall_high"] for m in rows]
        stale = [m["stale"][s]["recall_high"] for m in rows]
        frauds = np.mean([m["fresh"][s]["frauds"] for m in rows])
        diff = [f - x for f, x in zip(fresh, stale, strict=True)]
        lines.append(
            f"| {s} | {frauds:.0f} | {_ms(fresh)} | {_ms(stale)} | {_ms(diff, signed=True)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated simulator seeds")
    p.add_argument("--days", type=int, default=60, help="simulated days per seed")
    p.add_argument(
        "--burn-in-days", type=int, default=30, help="first days dropped (split.py's burn-in)"
    )
    p.add_argument("--interval-min", type=int, default=15, help="batch pipeline: minutes apart")
    p.add_argument("--run-min", type=int, default=6, help="batch pipeline: minutes a run takes")
    p.add_argument(
        "--family",
        default=models.LIGHTGBM,
        choices=sorted(models.BUILDERS),
        help="model family (the platform's default hyperparameters)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=cache_dir() / "bench" / "detection.json",
        help="JSON of every seed's figures (never into the repository)",
    )
    args = p.parse_args(argv)
    if not 0 <= args.run_min < args.interval_min:
        p.error("--run-min must be below --interval-min (a run ends before the next starts)")
    seeds = [int(s) for s in args.seeds.split(",")]
    exe = Path(sys.executable)
    python = exe.relative_to(REPO) if exe.is_relative_to(REPO) else exe
    command = shlex.join([str(python), "bench/detection.py", *sys.argv[1:]])
    began = time.monotonic()
    log(
        f"{len(seeds)} seeds, {args.days} days each, model {args.family}, high tier "
        f"P >= {HIGH_TIER}, batch every {args.interval_min} min, runs of {args.run_min} min"
    )
    results = [one_seed(seed, args) for seed in seeds]
    seconds = time.monotonic() - began
    text = table(results)
    window = results[0]["window"]
    notes = "\n".join(
        [
            f"Model: {args.family}, the platform's default hyperparameters, fitted once per seed "
            f"on the fresh features of the training days ({window['train_start']} .. "
            f"{window['train_end']} exclusive for seed {results[0]['seed']}); test days "
            f"{window['test_start']} .. {window['test_end']} exclusive, known-compromised "
            "cards removed (training/split.py).",
            f"Stale: aggregates as of the start of the last {args.interval_min}-minute batch "
            f"run completed before the transaction (runs of {args.run_min} min; mean "
            f"staleness {np.mean([r['staleness_minutes_mean'] for r in results]):.1f} min); "
            "request features and the amount current.",
            f"High tier: P(fraud) >= {HIGH_TIER} (ServingSettings.risk_high). A scenario's AP "
            "and recall: over its frauds plus all genuine transactions; CP@100 overall only.",
            f"Mean ± std over {len(seeds)} seeds ({','.join(map(str, seeds))}); "
            "difference: fresh - stale per seed. Test rows per seed: "
            + ", ".join(f"{r['test_rows']:,} ({r['test_frauds']} frauds)" for r in results)
            + ".",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "command": command,
                "seeds": seeds,
                "days": args.days,
                "burn_in_days": args.burn_in_days,
                "interval_min": args.interval_min,
                "run_min": args.run_min,
                "family": args.family,
                "high_tier": HIGH_TIER,
                "seconds": seconds,
                "results": results,
                "table": text,
            },
            indent=2,
        )
    )
    sys.stdout.write(
        f"{text}\n\n{notes}\n\nRecall at the high tier by scenario (information):\n\n"
        f"{scenario_table(results)}\n\n"
        f"command: {command}\nseeds: {','.join(map(str, seeds))}; "
        f"elapsed: {seconds:.0f} s; per-seed figures: {args.out}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
