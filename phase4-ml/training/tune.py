"""``fraud-tune``: the offline hyperparameter search (Optuna), on validation folds only.

    fraud-tune --protocol handbook --seed 0 --trials 12 --timeout 240
    fraud-tune --source simulator --days 30 --families lightgbm,xgboost

For each model family, Optuna's TPE sampler (seeded) proposes hyperparameters; a trial
fits the family on every prequential validation fold (training/split.py) and scores the
mean validation average precision; the test window is never loaded into a fit or a
score. The budget is stated up front: at most ``--trials`` trials and ``--timeout``
seconds per family (a trial that starts before the timeout finishes), one thread per
boosted fit, the RandomForest on ``n_jobs`` threads. Prints the best parameters per
family as JSON (and writes them to ``--out``): the committed defaults of
training/settings.py come from such a run (docs/model-quality.md says which), so that
``fraud-train`` itself only compares the tuned families on its own validation folds.
Use another simulator seed than the ones the quality benchmark reports.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import structlog

from fraud_common.logs import configure_logging
from training import data, models, registry, select
from training.settings import TrainingSettings
from training.split import Split, settings_split

log = structlog.get_logger("training.tune")

#: search space per family: settings field -> (kind, low, high[, log])
SPACES: dict[str, dict[str, tuple[Any, ...]]] = {
    models.RANDOM_FOREST: {
        "rf_trees": ("int", 50, 200),
        "rf_max_depth": ("int", 8, 30),
        "rf_min_samples_leaf": ("int", 1, 20),
        "rf_max_samples": ("float", 0.1, 1.0),
    },
    models.LIGHTGBM: {
        "gbm_trees": ("int", 100, 600),
        "gbm_learning_rate": ("float", 0.01, 0.2, True),
        "gbm_num_leaves": ("int", 4, 63),
        "gbm_min_child_samples": ("int", 10, 300, True),
        "gbm_scale_pos_weight": ("float", 1.0, 20.0, True),
    },
    models.XGBOOST: {
        "xgb_trees": ("int", 100, 600),
        "xgb_learning_rate": ("float", 0.01, 0.3, True),
        "xgb_max_depth": ("int", 2, 10),
        "xgb_min_child_weight": ("float", 0.1, 20.0, True),
        "xgb_subsample": ("float", 0.5, 1.0),
        "xgb_colsample_bytree": ("float", 0.5, 1.0),
        "xgb_scale_pos_weight": ("float", 1.0, 20.0, True),
    },
}


def suggest(trial: optuna.Trial, space: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if spec[0] == "int":
            out[name] = trial.suggest_int(name, spec[1], spec[2])
        else:
            out[name] = trial.suggest_float(name, spec[1], spec[2], log=len(spec) > 3)
    return out


def objective(
    kind: str, settings: TrainingSettings, folds: list[Split]
) -> Callable[[optuna.Trial], float]:
    def run(trial: optuna.Trial) -> float:
        s = settings.model_copy(update=suggest(trial, SPACES[kind]))
        v = select.validate(lambda: models.build(kind, s), folds, s.top_k)
        for key, value in v.summary().items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("seconds", v.fit_seconds)
        log.info(
            "trial",
            model=kind,
            trial=trial.number,
            val_ap=round(v.mean("average_precision"), 4),
            seconds=round(v.fit_seconds, 1),
            **trial.params,
        )
        return v.mean("average_precision")

    return run


def tune(
    settings: TrainingSettings, families: list[str], trials: int, timeout: float
) -> dict[str, Any]:
    frame = data.load(settings)
    _, folds = settings_split(frame, settings)
    del frame  # the test window is not used below
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out: dict[str, Any] = {}
    for kind in families:
        t0 = time.monotonic()
        sampler = optuna.samplers.TPESampler(seed=settings.model_seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        # the current defaults first: the search only replaces them when it beats them
        study.enqueue_trial({k: getattr(settings, k) for k in SPACES[kind]}, skip_if_exists=True)
        study.optimize(objective(kind, settings, folds), n_trials=trials, timeout=timeout)
        best = study.best_trial
        out[kind] = {
            "params": best.params,
            "val_average_precision": best.value,
            **{k: v for k, v in best.user_attrs.items() if k.startswith("val_")},
            "default_val_average_precision": study.trials[0].value,
            "trials": len(study.trials),
            "seconds": round(time.monotonic() - t0, 1),
        }
        log.info(
            "tuned",
            model=kind,
            trials=len(study.trials),
            best_val_ap=round(best.value or 0.0, 4),
            default_val_ap=round(study.trials[0].value or 0.0, 4),
            seconds=out[kind]["seconds"],
        )
    return out


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    p = argparse.ArgumentParser(
        prog="fraud-tune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    registry.add_data_options(p)
    p.add_argument("--protocol", choices=["platform", "handbook"])
    p.add_argument("--families", default=",".join(SPACES))
    p.add_argument("--trials", type=int, default=12, help="trials per family (at most)")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds per family (at most)")
    p.add_argument("--validation-folds", type=int)
    p.add_argument("--out", type=Path, help="also write the result here (JSON)")
    args = registry.present(p.parse_args(argv))
    families = str(args.pop("families")).split(",")
    trials, timeout = int(args.pop("trials")), float(args.pop("timeout"))
    out_path = args.pop("out", None)
    settings = TrainingSettings(**args)
    if settings.protocol == "handbook":
        settings = settings.handbook_protocol()
    result = {
        "protocol": settings.protocol,
        "seed": settings.seed,
        "budget": {"trials_per_family": trials, "timeout_s_per_family": timeout},
        "families": tune(settings, families, trials, timeout),
    }
    text = json.dumps(result, indent=2, default=str)
    if out_path is not None:
        Path(out_path).write_text(text)
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
