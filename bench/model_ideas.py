"""Feature ideas and ensembles for issue 16, under the Handbook's protocol.

    .venv/bin/python bench/model_ideas.py validate --seeds 1,2,3,4,5
    .venv/bin/python bench/model_ideas.py test --seeds 1,2,3,4,5 \
        --extra amount_zscore_30d,amount_to_user_median_30d --combo random_forest+lightgbm+xgboost

``validate`` (the choice): for every seed, the Handbook-mode data and folds of
``bench/model_quality.py``; the contract's 24 features alone and with each extra feature
(the card's amount z-score against its 30-day history, the amount over the card's 30-day
median, both), each family and two probability averages (LightGBM + XGBoost, all three),
scored on the prequential validation folds only. Prints mean validation AP / AUC / CP@100
over the seeds per configuration; writes bench/results/model_ideas_validation.json.

``test`` (once, for the configuration chosen on validation): that configuration fitted on
the training week and scored on the test week of every seed; writes
bench/results/model_ideas_test.json.

Neither is what ``fraud-train`` does: the extra features are not in the feature contract
(they would have to go through ``fraud_contracts/features.py``, the dbt SQL and the Redis
vector) and the registry holds one family's ONNX model, not an average.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from model_quality import METRICS, START, add_ideas

from fraud_contracts import features
from training import data, models
from training.metrics import evaluate
from training.settings import TrainingSettings
from training.split import settings_split

REPO = Path(__file__).resolve().parents[1]
FAMILIES = ("random_forest", "lightgbm", "xgboost")
COMBOS = {
    **{k: (k,) for k in FAMILIES},
    "lightgbm+xgboost": ("lightgbm", "xgboost"),
    "random_forest+lightgbm+xgboost": FAMILIES,
}
Z, MED = "amount_zscore_30d", "amount_to_user_median_30d"
FEATURE_SETS = {"contract": [], "+z": [Z], "+median": [MED], "+z+median": [Z, MED]}


def median_ratio(frame: pd.DataFrame) -> pd.Series:
    """amount / median amount of the card's transactions in [t - 30 d, t) (1.0: none)."""
    f = frame[["user_id", "event_time", "amount"]].copy()
    f["et"] = pd.to_datetime(f["event_time"])
    f = f.sort_values(["user_id", "et"])
    med = f.set_index("et").groupby("user_id")["amount"].rolling("30D", closed="left").median()
    m = med.to_numpy()
    r = np.where(m > 0, f["amount"].to_numpy() / m, 1.0)
    return pd.Series(np.nan_to_num(r, nan=1.0), index=f.index).reindex(frame.index)


def seed_data(seed: int) -> tuple[TrainingSettings, Any, list[Any]]:
    settings = TrainingSettings.model_validate(
        {"seed": seed, "start_date": START, "candidates": FAMILIES}
    ).handbook_protocol()
    frame = data.load(settings)
    frame[Z] = add_ideas(frame)[Z]
    frame[MED] = median_ratio(frame)
    sp, folds = settings_split(frame, settings)
    return settings, sp, folds


def fit_predict(
    settings: TrainingSettings, kinds: tuple[str, ...], train: Any, test: Any, cols: list[str]
) -> dict[str, np.ndarray]:
    out = {}
    for kind in kinds:
        c = models.build(kind, settings)
        models.fit(c, train[cols].astype(np.float32), train[features.LABEL].to_numpy())
        out[kind] = c.predict(test[cols].astype(np.float32))
    return out


def validate(seed: int) -> dict[str, dict[str, dict[str, float]]]:
    settings, _, folds = seed_data(seed)
    res: dict[str, dict[str, dict[str, float]]] = {}
    for name, extra in FEATURE_SETS.items():
        cols = [*features.FEATURE_NAMES, *extra]
        per: dict[str, list[dict[str, float]]] = {}
        for fold in folds:
            preds = fit_predict(settings, FAMILIES, fold.train, fold.test, cols)
            for combo, kinds in COMBOS.items():
                p = np.mean([preds[k] for k in kinds], axis=0)
                h = evaluate(fold.test, p, features.LABEL, k=settings.top_k).headline()
                per.setdefault(combo, []).append(h)
        res[name] = {
            c: {m: float(np.mean([h[m] for h in hs])) for m in METRICS} for c, hs in per.items()
        }
    return res


def test(seed: int, extra: list[str], kinds: tuple[str, ...]) -> dict[str, float]:
    settings, sp, _ = seed_data(seed)
    cols = [*features.FEATURE_NAMES, *extra]
    preds = fit_predict(settings, kinds, sp.train, sp.test, cols)
    p = np.mean([preds[k] for k in kinds], axis=0)
    return dict(evaluate(sp.test, p, features.LABEL, k=settings.top_k).headline())


def _ms(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("mode", choices=("validate", "test"))
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--extra", default="", help="test: extra features, comma-separated")
    p.add_argument("--combo", default="xgboost", help="test: families averaged, joined by +")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    if args.mode == "validate":
        results: list[dict[str, Any]] = []
        for seed in seeds:
            results.append({"seed": seed, "validation": validate(seed)})
            sys.stderr.write(f"seed {seed} done ({time.monotonic() - began:.0f} s)\n")
        lines = [
            "| features | model | val AUC-ROC | val AP | val CP@100 |",
            "|---|---|---|---|---|",
        ]
        for name in FEATURE_SETS:
            for combo in COMBOS:
                got = [r["validation"][name][combo] for r in results]
                lines.append(
                    f"| {name} | {combo} | "
                    + " | ".join(_ms([g[m] for g in got]) for m in METRICS)
                    + " |"
                )
        text = "\n".join(lines)
        (out_dir / "model_ideas_validation.json").write_text(
            json.dumps({"seeds": seeds, "results": results, "table": text}, indent=2)
        )
    else:
        extra = [e for e in args.extra.split(",") if e]
        kinds = tuple(args.combo.split("+"))
        rows = []
        for seed in seeds:
            rows.append({"seed": seed, **test(seed, extra, kinds)})
            sys.stderr.write(f"seed {seed}: {rows[-1]}\n")
        text = (
            f"test, {'+'.join(kinds)} with the contract's features"
            + (f" + {', '.join(extra)}" if extra else "")
            + f" ({len(seeds)} seeds): "
            + ", ".join(f"{m} {_ms([r[m] for r in rows])}" for m in METRICS)
        )
        (out_dir / "model_ideas_test.json").write_text(
            json.dumps(
                {"seeds": seeds, "extra": extra, "combo": kinds, "rows": rows, "summary": text},
                indent=2,
            )
        )
    sys.stdout.write(f"{text}\n\n{len(seeds)} seeds in {time.monotonic() - began:.0f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
