"""``fraud-train``: choose a model family on validation folds, train it, test it once,
log it to MLflow and register it.

    fraud-train                                   gold.mart_fraud_features through Trino
    fraud-train --source simulator --days 30      the phase-1 simulator, no engine needed
    fraud-train --protocol handbook               the Handbook's protocol on its kind of
                                                  data (measurement only, not registered)

Split: the Handbook protocol with the platform's label delay (training/split.py).
Candidates: RandomForest, LightGBM and XGBoost by default (``--candidates`` narrows them;
training/models.py), each with fixed hyperparameters (settings; chosen offline by
``fraud-tune``), and the average of their probabilities (``--no-average`` leaves it out).
Selection:
every candidate is fitted and scored on the prequential validation folds, which end
before the test window (training/select.py); the best by mean validation average
precision is fitted on the training window and scored once on the test window. Its
nested MLflow run holds its parameters, validation and test metrics (AUC-ROC, average
precision, Card Precision@100, Brier), the feature contract (``features.json``) and its
fingerprint, ROC / PR / reliability / importance figures, the model with signature and
input example, and its ONNX export (checked equal to ``predict_proba`` within 1e-6,
training/export.py). It is registered with the feature fingerprint, ``feature_version``,
``model_type``, the protocol, its test metrics and the split windows as tags; the other
candidates are never scored on the test window. The registry entries (model name, ONNX
artifact path, fingerprint tag, aliases) are those of :mod:`fraud_contracts.names`, which
the API reads by. Promotion is ``fraud-evaluate`` (gate -> staging alias) and
``fraud-promote``.

``--protocol handbook`` is the Handbook's own protocol (7-day label delay for the labels
and the terminal risk, train 7 days, test 7 days) on the simulator's Handbook mode: its
features use a delay the serving contract does not, so the run is logged (tag
``protocol=handbook``) but never registered; ``fraud-evaluate`` shows its figures beside
the Handbook's published rows.
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
from training import data, export, models, plots, registry, select
from training.metrics import HANDBOOK_BASELINES, Scores, evaluate, table
from training.settings import TrainingSettings
from training.split import Split, settings_split

log = structlog.get_logger("training")


#: what every run's table says of the rows it measured
PROTOCOL_LABELS = {
    "platform": "platform protocol: {delay}-day label delay, the platform's data",
    "handbook": "Handbook protocol: 7-day delay, train 7 d, test 7 d, Handbook-mode data",
}
#: experiment tag of the runs made under the Handbook protocol
PROTOCOL_TAG = "protocol"


@dataclass
class Trained:
    candidate: models.Candidate
    scores: Scores
    run_id: str
    model_uri: str
    fit_seconds: float
    onnx_max_diff: float
    validation: select.Validation


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


def train_one(
    candidate: models.Candidate,
    sp: Split,
    settings: TrainingSettings,
    validation: select.Validation,
) -> Trained:
    """Fit, test once, export and log the chosen model in its own (nested) run."""
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
                PROTOCOL_TAG: settings.protocol,
                **sp.window.as_tags(),
            }
        )
        mlflow.log_params({f"model.{k}": v for k, v in candidate.params.items()})
        mlflow.log_metrics(
            {
                **scores.headline(),
                **validation.summary(),
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
            skops_trusted_types=models.trusted_types(candidate.kind),
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
        return Trained(
            candidate, scores, run.info.run_id, info.model_uri, fit_seconds, onnx_diff, validation
        )


def data_tags(settings: TrainingSettings, first_day: Any) -> dict[str, str]:
    """How to rebuild the same data (fraud-evaluate reads these)."""
    if settings.source == "trino":
        return {"data_source": "trino", "data_table": settings.table}
    return {
        "data_source": "simulator",
        "simulator_mode": settings.simulator_mode,
        "simulator_seed": str(settings.seed),
        "simulator_days": str(settings.days),
        "simulator_start": str(first_day),
        "simulator_label_delay_seconds": str(settings.label_delay_seconds),
    }


def protocol_label(settings: TrainingSettings) -> str:
    """How the figures of a run were measured, for tables beside the Handbook's rows."""
    return PROTOCOL_LABELS[settings.protocol].format(delay=settings.delay_days)


def run(settings: TrainingSettings) -> dict[str, Any]:
    """Choose a family on the validation folds, train and test it once, register it
    (platform protocol only); returns a summary."""
    began = time.monotonic()
    frame = data.load(settings)  # first: no data, no MLflow run
    c = registry.client(settings)
    mlflow.set_experiment(settings.experiment)
    sp, folds = settings_split(frame, settings, allow_none=True)
    log.info(
        "split",
        protocol=settings.protocol,
        **sp.window.as_tags(),
        train_rows=len(sp.train),
        train_frauds=int(sp.train[features.LABEL].sum()),
        test_rows=len(sp.test),
        test_frauds=int(sp.test[features.LABEL].sum()),
        removed_known_compromised=sp.removed_known_compromised,
        validation_folds=len(folds),
    )
    tags = data_tags(settings, frame["event_date"].min())
    del frame
    folds_tag = "; ".join(
        f"{w.train_start}..{w.train_end} -> {w.test_start}..{w.test_end}"
        for w in (f.window for f in folds)
    )
    with mlflow.start_run(run_name=f"train-{settings.protocol}") as parent:
        mlflow.set_tags(
            {
                names.FEATURE_FINGERPRINT_TAG: features.fingerprint(),
                PROTOCOL_TAG: settings.protocol,
                "validation_folds": folds_tag,
                **tags,
                **sp.window.as_tags(),
            }
        )
        mlflow.log_params(
            {
                "burn_in_days": settings.burn_in_days,
                "train_days": settings.train_days or "all",
                "label_delay_days": settings.delay_days,
                "test_days": settings.test_days,
                "train_rows": len(sp.train),
                "test_rows": len(sp.test),
                "removed_known_compromised": sp.removed_known_compromised,
                "candidates": ",".join(settings.candidates),
                "n_validation_folds": len(folds),
            }
        )
        chosen, validations = select.select(
            settings.candidates,
            lambda kind: models.build(kind, settings),
            folds,
            settings.top_k,
            with_average=settings.average_candidates,
        )
        for v in validations:
            # MLflow metric names take no '+': an average's kind joined by '-'
            prefix = v.kind.replace(models.AVERAGE, "-")
            mlflow.log_metrics({f"{prefix}.{k}": x for k, x in v.summary().items()})
        selected_by = (
            "mean validation average precision"
            if folds
            else "first candidate (no validation fold fits the data)"
        )
        mlflow.set_tag("best_model", chosen.kind)
        mlflow.set_tag("selected_by", selected_by)
        best = train_one(models.build(chosen.kind, settings), sp, settings, chosen)
        mlflow.log_metrics({f"test_{k}": v for k, v in best.scores.headline().items()})
        parent_id = parent.info.run_id

    summary: dict[str, Any] = {
        "version": None,
        "best": best.candidate.kind,
        "run_id": best.run_id,
        "parent_run_id": parent_id,
        "window": sp.window,
        "trained": best,
        "validations": {v.kind: v for v in validations},
    }
    if settings.protocol == "platform":
        tags = {**tags, "selected_by": selected_by}
        summary["version"] = register(c, settings, best, sp, parent_id, tags)
    summary["seconds"] = time.monotonic() - began
    log.info(
        "training done",
        protocol=settings.protocol,
        model_type=best.candidate.kind,
        version=summary["version"],
        run_id=best.run_id,
        seconds=round(summary["seconds"], 1),
    )
    return summary


def register(
    c: Any,
    settings: TrainingSettings,
    best: Trained,
    sp: Split,
    parent_id: str,
    tags: dict[str, str],
) -> str:
    """Register the chosen model; its tags carry its (only) test metrics."""
    version = mlflow.register_model(best.model_uri, settings.model_name, tags={})
    version_tags = {
        names.FEATURE_FINGERPRINT_TAG: features.fingerprint(),
        "feature_version": str(features.FEATURE_VERSION),
        "model_type": best.candidate.kind,
        "onnx_artifact": names.ONNX_ARTIFACT,
        "training_run_id": parent_id,
        PROTOCOL_TAG: settings.protocol,
        **{f"test_{k}": f"{v:.6f}" for k, v in best.scores.headline().items()},
        **{k: f"{v:.6f}" for k, v in best.validation.summary().items()},
        **sp.window.as_tags(),
        **reference_tags(),
        **tags,
    }
    for key, value in version_tags.items():
        c.set_model_version_tag(settings.model_name, version.version, key, value)
    c.update_model_version(
        settings.model_name,
        version.version,
        description=f"{best.candidate.kind} (chosen on validation folds) trained "
        f"{sp.window.train_start}..{sp.window.train_end} (exclusive), tested "
        f"{sp.window.test_start}..{sp.window.test_end}; "
        f"ONNX at runs:/{best.run_id}/{names.ONNX_ARTIFACT}",
    )
    log.info(
        "model registered",
        name=settings.model_name,
        version=version.version,
        model_type=best.candidate.kind,
        run_id=best.run_id,
    )
    return str(version.version)


def parse_args(argv: list[str] | None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="fraud-train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    registry.add_data_options(p)
    p.add_argument(
        "--protocol",
        choices=["platform", "handbook"],
        help="handbook: its protocol on the simulator's Handbook mode (not registered)",
    )
    p.add_argument(
        "--candidates",
        type=lambda v: tuple(v.split(",")),
        help="comma-separated model families to choose from "
        "(default: random_forest,lightgbm,xgboost)",
    )
    p.add_argument(
        "--no-average",
        dest="average_candidates",
        action="store_const",
        const=False,
        help="do not offer the average of the candidates' probabilities as an option",
    )
    p.add_argument("--validation-folds", type=int)
    p.add_argument("--burn-in-days", type=int)
    p.add_argument("--train-days", type=int)
    p.add_argument("--test-days", type=int)
    p.add_argument("--rf-trees", type=int)
    p.add_argument("--gbm-trees", type=int)
    p.add_argument("--xgb-trees", type=int)
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
    if settings.protocol == "handbook":
        settings = settings.handbook_protocol()
    try:
        summary = run(settings)
    except data.MissingDataError as err:
        sys.stderr.write(f"fraud-train: {err}\n")
        return 2
    sys.stdout.write(report(summary, settings))
    return 0


def report(summary: dict[str, Any], settings: TrainingSettings) -> str:
    """The validation table, the chosen model's test row, and (Handbook protocol only)
    the Handbook's published rows beside it."""
    label = protocol_label(settings)
    val_rows = {
        f"{kind} (validation mean)": {k: v.mean(k) for k in select.METRICS}
        for kind, v in summary["validations"].items()
    }
    trained: Trained = summary["trained"]
    test_rows = {f"{trained.candidate.kind} (chosen; test)": trained.scores.headline()}
    out = [
        f"\nValidation folds ({label}; the test window unseen):\n{table(val_rows)}",
        f"\nTest window, the chosen model only ({label}):\n{table(test_rows)}",
    ]
    if settings.protocol == "handbook":
        out.append(
            f"\nThe Handbook's published rows (its data and protocol):\n"
            f"{table(dict(HANDBOOK_BASELINES))}"
        )
        out.append(
            f"\nHandbook-protocol run {summary['parent_run_id']} logged (not registered: its "
            f"features use a {settings.delay_days}-day delay) in {summary['seconds']:.0f} s\n"
        )
    else:
        out.append(
            f"\n(The Handbook's published rows are for its protocol, not comparable with "
            f"these: `fraud-train --protocol handbook` or `make bench-model`.)\n"
            f"registered {settings.model_name} version {summary['version']} "
            f"({summary['best']}) in {summary['seconds']:.0f} s; next: fraud-evaluate\n"
        )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
