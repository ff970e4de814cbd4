"""Detection quality under the Handbook's protocol, averaged over simulator seeds.

    make bench-model
    .venv/bin/python bench/model_quality.py --seeds 1,2,3,4,5 [--families ...] [--no-ideas]
    .venv/bin/python bench/model_quality.py --from-json bench/results/model_quality.json

For every seed: the simulator's Handbook mode (its three scenarios and parameters only, a
population drawn from the seed) under the Handbook's protocol
(``TrainingSettings.handbook_protocol``: 7-day label delay for labels and terminal risk,
train 7 days, delay 7, test 7, known-compromised cards removed); the model family is
chosen on the prequential validation folds before the test window
(``training/select.py``, what ``fraud-train`` does: every family and the average of
their probabilities are options), fitted on the training week and scored once on the
test week. That is the headline row, for ``fraud-train``'s default candidates
(``--candidates``; all three families) and for all three (``--families``). For
information only, every option's own test score is shown too (not used for choosing
anything).

Feature ideas (``--no-ideas`` skips them) are measured on the validation folds only: the
chosen option with and without each extra feature (time since the card's previous
transaction, the terminal's 7-day share of cards it had never seen before), mean
validation AP / AUC / CP@100 differences. (The amount z-score and the amount over the
card's median, measured here before, are in the feature contract since version 3.)

Prints a Markdown table of mean +- standard deviation over the seeds beside the
Handbook's published rows; writes bench/results/model_quality.json (every seed's
figures). Runs with ``nice`` on a shared machine; about 3 minutes a seed on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraud_contracts import features
from training import data, models, select
from training.metrics import HANDBOOK_BASELINES, evaluate
from training.settings import TrainingSettings
from training.split import Split, settings_split

REPO = Path(__file__).resolve().parents[1]
METRICS = ("auc", "average_precision", "card_precision_at_100")
START = date(2025, 4, 1)
DAY_MS = features.DAY_MS


# ============================================================================ feature ideas
def _time_since_previous(user: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Seconds since the card's previous transaction (30 days when none)."""
    order = np.lexsort((t, user))
    gap = np.full(len(t), 30 * 86_400.0)
    u, ts = user[order], t[order]
    same = np.r_[False, u[1:] == u[:-1]]
    d = np.r_[0, np.diff(ts)] / 1000.0
    g = np.where(same, d, 30 * 86_400.0)
    gap[order] = g
    return gap


def _terminal_new_card_share(user: np.ndarray, term: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Share of the terminal's transactions in [t - 7 d, t) whose card used the terminal
    for the first time (0 without transactions)."""
    first = ~pd.DataFrame({"u": user, "m": term, "t": t}).sort_values("t").duplicated(["u", "m"])
    is_new = np.zeros(len(t))
    is_new[first.index.to_numpy()[first.to_numpy()]] = 1.0
    order = np.lexsort((t, term))
    m, ts, nw = term[order], t[order], is_new[order]
    key = m.astype(np.float64) * 1e13 + ts
    lo = np.searchsorted(key, m.astype(np.float64) * 1e13 + (ts - 7 * DAY_MS), side="left")
    hi = np.searchsorted(key, key, side="left")
    c = np.r_[0.0, np.cumsum(nw)]
    n = (hi - lo).astype(np.float64)
    share = np.divide(c[hi] - c[lo], n, out=np.zeros_like(n), where=n > 0)
    out: np.ndarray = np.empty_like(share)
    out[order] = share
    return out


def add_ideas(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The extra feature columns (point in time: only strictly earlier events)."""
    user = pd.factorize(frame["user_id"])[0].astype(np.int64)
    term = pd.factorize(frame["merchant_id"])[0].astype(np.int64)
    t = (frame["event_time"].astype("int64") // 1_000_000).to_numpy()
    return {
        "seconds_since_previous": pd.Series(_time_since_previous(user, t), index=frame.index),
        "terminal_new_card_share_7d": pd.Series(
            _terminal_new_card_share(user, term, t), index=frame.index
        ),
    }


def validate_with(
    kind: str, settings: TrainingSettings, folds: list[Split], extra: list[str]
) -> dict[str, float]:
    """Mean validation metrics of ``kind`` (a family or an average) with the contract's
    features plus ``extra``."""
    scores = []
    cols = [*features.FEATURE_NAMES, *extra]
    for fold in folds:
        c = models.build(kind, settings)
        models.fit(c, fold.train[cols].astype(np.float32), fold.train[features.LABEL].to_numpy())
        p = c.predict(fold.test[cols].astype(np.float32))
        scores.append(evaluate(fold.test, p, features.LABEL, k=settings.top_k).headline())
    return {m: float(np.mean([s[m] for s in scores])) for m in METRICS}


# ============================================================================ one seed
def one_seed(seed: int, families: list[str], candidates: list[str], ideas: bool) -> dict[str, Any]:
    t0 = time.monotonic()
    settings = TrainingSettings.model_validate(
        {"seed": seed, "start_date": START, "candidates": tuple(families)}
    ).handbook_protocol()
    frame = data.load(settings)
    if ideas:
        for name, col in add_ideas(frame).items():
            frame[name] = col
    sp, folds = settings_split(frame, settings)
    del frame
    t_data = time.monotonic() - t0
    chosen, validations = select.select(
        families,
        lambda kind: models.build(kind, settings),
        folds,
        settings.top_k,
        with_average=True,
    )
    by_kind = {v.kind: v for v in validations}
    if len(candidates) > 1 and set(candidates) != set(families):  # fraud-train's average
        v = select.average([by_kind[k] for k in candidates], folds, settings.top_k)
        validations.append(v)
    x_train, y_train = data.inputs(sp.train), sp.train[features.LABEL].to_numpy()
    x_test = data.inputs(sp.test)
    tests: dict[str, dict[str, float]] = {}
    predictions = {}
    for kind in families:  # every option's test score: information, not selection
        c = models.fit(models.build(kind, settings), x_train, y_train)
        predictions[kind] = c.predict(x_test)
        tests[kind] = evaluate(
            sp.test, predictions[kind], features.LABEL, settings.top_k
        ).headline()
    for v in validations:
        if v.kind not in tests:  # an average: of its members' test predictions
            p = np.mean([predictions[k] for k in models.members(v.kind)], axis=0)
            tests[v.kind] = evaluate(sp.test, p, features.LABEL, settings.top_k).headline()
    result: dict[str, Any] = {
        "seed": seed,
        "chosen": chosen.kind,
        "test_chosen": tests[chosen.kind],
        "test_by_family": tests,
        "validation": {v.kind: v.summary() for v in validations},
        "folds": [f.window.as_tags() for f in folds],
        "window": sp.window.as_tags(),
        "test_rows": len(sp.test),
        "test_frauds": int(sp.test[features.LABEL].sum()),
        "data_seconds": t_data,
    }
    if ideas:
        base = validate_with(chosen.kind, settings, folds, [])
        deltas = {}
        names = list(add_ideas_names())
        for name in [*names, "all"]:
            extra = names if name == "all" else [name]
            got = validate_with(chosen.kind, settings, folds, extra)
            deltas[name] = {m: got[m] - base[m] for m in METRICS}
        result["ideas_validation_delta"] = deltas
    result["seconds"] = time.monotonic() - t0
    return result


def add_ideas_names() -> tuple[str, ...]:
    return ("seconds_since_previous", "terminal_new_card_share_7d")


# ============================================================================ table
def _ms(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def options(kinds: list[str]) -> list[str]:
    """What fraud-train chooses from among ``kinds``: each family and their average."""
    return [*kinds, models.average_kind(kinds)] if len(kinds) > 1 else list(kinds)


def chosen_among(result: dict[str, Any], kinds: list[str]) -> str:
    """The option of ``kinds`` with the best mean validation AP (then AUC) of a seed."""
    val = result["validation"]
    return max(options(kinds), key=lambda k: (val[k]["val_average_precision"], val[k]["val_auc"]))


def table(results: list[dict[str, Any]], families: list[str], candidates: list[str]) -> str:
    n = len(results)
    seeds = ",".join(str(r["seed"]) for r in results)
    head = "| model | AUC-ROC | AP | CP@100 |\n|---|---|---|---|"
    rows = [head]

    def row(name: str, got: list[dict[str, float]]) -> str:
        return f"| {name} | " + " | ".join(_ms([g[m] for g in got]) for m in METRICS) + " |"

    picks = [chosen_among(r, candidates) for r in results]
    rows.append(
        row(
            f"**platform, chosen on validation folds among {', '.join(candidates)}** "
            f"(fraud-train's default; Handbook protocol, mean ± std, {n} seeds: {seeds})",
            [r["test_by_family"][k] for r, k in zip(results, picks, strict=True)],
        )
    )
    if set(candidates) != set(families):
        rows.append(
            row(
                f"platform, chosen on validation folds among all of {', '.join(families)}",
                [r["test_chosen"] for r in results],
            )
        )
    for kind in options(families):
        rows.append(
            row(
                f"{kind}, test (information only, not used to choose)",
                [r["test_by_family"][kind] for r in results],
            )
        )
    for name, m in HANDBOOK_BASELINES.items():
        rows.append(
            f"| {name} (published: its data, its protocol) | {m['auc']:.3f} | "
            f"{m['average_precision']:.3f} | {m['card_precision_at_100']:.3f} |"
        )
    rows.append("")
    rows.append(
        f"chosen per seed among {', '.join(candidates)}: "
        + ", ".join(f"{r['seed']}: {k}" for r, k in zip(results, picks, strict=True))
    )
    if set(candidates) != set(families):
        rows.append(
            f"chosen per seed among {', '.join(families)}: "
            + ", ".join(f"{r['seed']}: {r['chosen']}" for r in results)
        )
    if all("ideas_validation_delta" in r for r in results):
        rows.append("")
        rows.append(
            "Feature ideas, validation folds only (the option chosen among all; mean over "
            f"seeds of the mean-over-folds difference to the contract's "
            f"{len(features.FEATURE_NAMES)} features):"
        )
        rows.append("")
        rows.append("| extra feature | Δ AUC-ROC | Δ AP | Δ CP@100 |\n|---|---|---|---|")
        for name in [*add_ideas_names(), "all"]:
            d = [r["ideas_validation_delta"][name] for r in results]
            rows.append(
                f"| {name} | "
                + " | ".join(
                    f"{np.mean([x[m] for x in d]):+.3f} ± {np.std([x[m] for x in d]):.3f}"
                    for m in METRICS
                )
                + " |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated simulator seeds")
    p.add_argument("--families", default="random_forest,lightgbm,xgboost")
    p.add_argument(
        "--candidates",
        default=",".join(TrainingSettings.model_fields["candidates"].default),
        help="fraud-train's candidates (headline; default: fraud-train's)",
    )
    p.add_argument("--no-ideas", action="store_true", help="skip the feature-idea measurements")
    p.add_argument("--from-json", type=Path, help="only print the table of an earlier run")
    args = p.parse_args(argv)
    candidates = args.candidates.split(",")
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        fams = [k for k in saved["results"][0]["test_by_family"] if models.AVERAGE not in k]
        sys.stdout.write(f"{table(saved['results'], fams, candidates)}\n")
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    families = args.families.split(",")
    began = time.monotonic()
    results = []
    for seed in seeds:
        r = one_seed(seed, families, candidates, not args.no_ideas)
        results.append(r)
        sys.stderr.write(
            f"seed {seed}: chosen {r['chosen']}, test "
            + ", ".join(f"{m} {r['test_chosen'][m]:.3f}" for m in METRICS)
            + f" ({r['seconds']:.0f} s)\n"
        )
    text = table(results, families, candidates)
    seconds = time.monotonic() - began
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_quality.json").write_text(
        json.dumps(
            {"seeds": seeds, "seconds": seconds, "results": results, "table": text}, indent=2
        )
    )
    sys.stdout.write(f"{text}\n\n{len(seeds)} seeds in {seconds:.0f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
