"""``fraud-train``: train the baseline and the challenger, log both to MLflow, register the better.

    fraud-train                                   gold.mart_fraud_features through Trino
    fraud-train --source simulator --days 30      the phase-1 simulator, no engine needed

Split: the Handbook protocol (training/split.py). Models: a RandomForest baseline and
LightGBM (training/models.py). Each gets a nested MLflow run with its parameters, test
metrics (AUC-ROC, average precision, Card Precision@100, Brier), the feature contract
(``features.json``) and its fingerprint, ROC / PR / reliability / importance figures, the
model with signature and input example, and its ONNX export (checked equal to
``predict_proba`` within 1e-6, training/export.py). The better one by average precision
is registered with the feature fingerprint, ``feature_version``, ``model_type`` and the
split windows as tags. The registry entries (model name, ONNX artifact path, fingerprint
tag, aliases) are those of :mod:`fraud_contracts.names`, which the API reads by. Promotion
is ``fraud-evaluate`` (gate -> staging alias) and ``fraud-promote``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import structlog
from mlflow.models import infer_signature

from fraud_common.logs import configure_logging
from fraud_contracts import features, names
from training import data, export, models, plots, registry
from training.metrics import HANDBOOK_BASELINES, Scores, evaluate, table
from training.settings import TrainingSettings
from training.split import Split, split

log = structlog.get_logger("training")


@dataclass
class Trained:
    candidate: models.Candidate
    scores: Scores
    run_id: str
    model_uri: str
    fit_seconds: float
    onnx_max_diff: float


def _log_figures(candidate: models.Candidate, sp: Split, p: np.ndarray, scores: Scores) -> None:
    y = sp.test[features.LABEL].to_numpy()
    title = candidate.kind
    for name, fig in (
        ("plots/roc_curve.png", plots.roc(y, p, title)),
        (
            "plots/precision_recall_curve.png",
            plots.precision_recall(y, p, title, scores.average_precision),
        ),
        ("plots/calibration.png", plots.calibration(scores, title)),
        ("plots/feature_importance.png", plots.importances(candidate.importances(), title)),
    ):
        mlflow.log_figure(fig, name)
        plots.close(fig)


def train_one(candidate: models.Candidate, sp: Split, settings: TrainingSettings) -> Trained:
    """Fit, evaluate, export and log one model in its own (nested) run."""
    x_train, y_train = data.inputs(sp.train), sp.train[features.LABEL].to_numpy()
    x_test = data.inputs(sp.test)
    with mlflow.start_run(run_name=candidate.kind, nested=True) as run:
        t0 = time.monotonic()
        models.fit(candidate, x_train, y_train)
        fit_seconds = time.monotonic() - t0
        p = candidate.predict(x_test)
        scores = evaluate(sp.test, p, features.LABEL, k=settings.top_k)
        onnx_bytes, onnx_diff = export.to_onnx(candidate.model, x_test)  # fails loudly

        mlflow.set_tags(
            {
                "model_type": candidate.kind,
                names.FEATURE_FINGERPRINT_TAG: features.fingerprint(),
                "feature_version": str(features.FEATURE_VERSION),
                **sp.window.as_tags(),
            }
        )
        mlflow.log_params({f"model.{k}": v for k, v in candidate.params.items()})
        mlflow.log_metrics(
            {
                **scores.headline(),
                "fit_seconds": fit_seconds,
                "onnx_max_abs_diff": onnx_diff,
                "test_transactions": scores.n_transactions,
                "test_frauds": scores.n_frauds,
            }
        )
        mlflow.log_dict(features.describe(), "features.json")
        mlflow.log_dict(scores.as_dict(), "evaluation.json")
        mlflow.log_dict(candidate.importances(), "feature_importance.json")
        _log_figures(candidate, sp, p, scores)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            path.write_bytes(onnx_bytes)
            mlflow.log_artifact(str(path), artifact_path=str(Path(names.ONNX_ARTIFACT).parent))
        example = x_test.head(5)
        signature = infer_signature(example, candidate.model.predict_proba(example))
        info = mlflow.sklearn.log_model(
            candidate.model,
            name="model",
            signature=signature,
            input_example=example,
            pyfunc_predict_fn="predict_proba",
            skops_trusted_types=models.SKOPS_TRUSTED_TYPES[candidate.kind],
            pip_requirements=models.requirements(candidate.kind),
        )
        log.info(
            "model trained",
            model=candidate.kind,
            fit_s=round(fit_seconds, 1),
            auc=round(scores.auc, 4),
            ap=round(scores.average_precision, 4),
            cp100=round(scores.card_precision_at_100, 4),
            onnx_max_diff=onnx_diff,
        )
        return Trained(candidate, scores, run.info.run_id, info.model_uri, fit_seconds, onnx_diff)


def data_tags(settings: TrainingSettings, first_day: Any) -> dict[str, str]:
    """How to rebuild the same data (fraud-evaluate reads these)."""
    if settings.source == "trino":
        return {"data_source": "trino", "data_table": settings.table}
    return {
        "data_source": "simulator",
        "simulator_seed": str(settings.seed),
        "simulator_days": str(settings.days),
        "simulator_start": str(first_day),
        "simulator_label_delay_seconds": str(settings.label_delay_seconds),
    }


def run(settings: TrainingSettings) -> dict[str, Any]:
    """Train both models, register the better; returns a summary."""
    began = time.monotonic()
    frame = data.load(settings)  # first: no data, no MLflow run
    c = registry.client(settings)
    mlflow.set_experiment(settings.experiment)
    sp = split(frame, settings.burn_in_days, settings.train_days, settings.test_days)
    log.info(
        "split",
        **sp.window.as_tags(),
        train_rows=len(sp.train),
        train_frauds=int(sp.train[features.LABEL].sum()),
        test_rows=len(sp.test),
        test_frauds=int(sp.test[features.LABEL].sum()),
        removed_known_compromised=sp.removed_known_compromised,
    )
    tags = data_tags(settings, frame["event_date"].min())
    with mlflow.start_run(run_name="train") as parent:
        mlflow.set_tags(
            {names.FEATURE_FINGERPRINT_TAG: features.fingerprint(), **tags, **sp.window.as_tags()}
        )
        mlflow.log_params(
            {
                "burn_in_days": settings.burn_in_days,
                "train_days": settings.train_days or "all",
                "label_delay_days": features.LABEL_DELAY_DAYS,
                "test_days": settings.test_days,
                "train_rows": len(sp.train),
                "test_rows": len(sp.test),
                "removed_known_compromised": sp.removed_known_compromised,
            }
        )
        results = [
            train_one(models.random_forest(settings), sp, settings),
            train_one(models.lightgbm(settings), sp, settings),
        ]
        for r in results:
            mlflow.log_metrics(
                {f"{r.candidate.kind}.{k}": v for k, v in r.scores.headline().items()}
            )
        best = max(results, key=lambda r: (r.scores.average_precision, r.scores.auc))
        mlflow.set_tag("best_model", best.candidate.kind)
        parent_id = parent.info.run_id

    version = mlflow.register_model(best.model_uri, settings.model_name, tags={})
    version_tags = {
        names.FEATURE_FINGERPRINT_TAG: features.fingerprint(),
        "feature_version": str(features.FEATURE_VERSION),
        "model_type": best.candidate.kind,
        "onnx_artifact": names.ONNX_ARTIFACT,
        "training_run_id": parent_id,
        **{f"test_{k}": f"{v:.6f}" for k, v in best.scores.headline().items()},
        **sp.window.as_tags(),
        **reference_tags(),
        **tags,
    }
    for key, value in version_tags.items():
        c.set_model_version_tag(settings.model_name, version.version, key, value)
    c.update_model_version(
        settings.model_name,
        version.version,
        description=f"{best.candidate.kind} trained {sp.window.train_start}..{sp.window.train_end} "
        f"(exclusive), tested {sp.window.test_start}..{sp.window.test_end}; "
        f"ONNX at runs:/{best.run_id}/{names.ONNX_ARTIFACT}",
    )
    seconds = time.monotonic() - began
    log.info(
        "model registered",
        name=settings.model_name,
        version=version.version,
        model_type=best.candidate.kind,
        run_id=best.run_id,
        seconds=round(seconds, 1),
    )
    return {
        "version": str(version.version),
        "best": best.candidate.kind,
        "run_id": best.run_id,
        "window": sp.window,
        "results": {r.candidate.kind: r for r in results},
        "seconds": seconds,
    }


def parse_args(argv: list[str] | None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="fraud-train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    registry.add_data_options(p)
    p.add_argument("--burn-in-days", type=int)
    p.add_argument("--train-days", type=int)
    p.add_argument("--test-days", type=int)
    p.add_argument("--rf-trees", type=int)
    p.add_argument("--gbm-trees", type=int)
    p.add_argument("--model-seed", type=int)
    return registry.present(p.parse_args(argv))


def reference_tags() -> dict[str, str]:
    """The Handbook's published figures, as version tags (``reference.<row>``) so that
    whoever shows the model's metrics can show them beside, labelled with their protocol."""
    return {
        "reference." + re.sub(r"[^a-z0-9]+", "_", row.lower()).strip("_"): (
            f"AUC {m['auc']:.3f}, AP {m['average_precision']:.3f}, "
            f"CP@100 {m['card_precision_at_100']:.3f} (published; the Handbook's data and "
            "protocol, 7-day label delay)"
        )
        for row, m in HANDBOOK_BASELINES.items()
    }


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    settings = TrainingSettings(**parse_args(argv))
    try:
        summary = run(settings)
    except data.MissingDataError as err:
        sys.stderr.write(f"fraud-train: {err}\n")
        return 2
    rows = {f"{kind} (this run)": r.scores.headline() for kind, r in summary["results"].items()}
    rows.update(HANDBOOK_BASELINES)
    sys.stdout.write(
        f"\n{table(rows)}\n\nregistered {settings.model_name} version {summary['version']} "
        f"({summary['best']}) in {summary['seconds']:.0f} s; next: fraud-evaluate\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
