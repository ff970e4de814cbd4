"""The promotion gate and the promote step against a real MLflow (sqlite store in tmp)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pytest

from fraud_contracts.names import (
    ALIAS_PREVIOUS_PRODUCTION,
    ALIAS_PRODUCTION,
    ALIAS_STAGING,
    FEATURE_FINGERPRINT_TAG,
    ONNX_ARTIFACT,
)
from training import evaluate, promote, registry, train
from training.evaluate import gate
from training.settings import TrainingSettings

pytestmark = pytest.mark.unit

#: what fraud-train chooses from by default: each family and their average
OPTIONS = ("random_forest", "lightgbm", "xgboost", "random_forest+lightgbm+xgboost")


def test_gate_rules() -> None:
    good = {"auc": 0.93, "average_precision": 0.70}
    assert gate(good, None, 0.90).passed
    assert not gate({**good, "auc": 0.89}, None, 0.90).passed
    assert "threshold" in gate({**good, "auc": 0.89}, None, 0.90).reasons[0]
    assert gate(good, {"auc": 0.93, "average_precision": 0.70}, 0.90).passed  # equal: not worse
    worse_ap = gate(good, {"auc": 0.92, "average_precision": 0.71}, 0.90)
    assert not worse_ap.passed and "average_precision" in worse_ap.reasons[0]
    assert gate(good, {"auc": 0.92, "average_precision": 0.71}, 0.90, tolerance=0.02).passed


@pytest.fixture(scope="module")
def local_mlflow(tmp_path_factory: pytest.TempPathFactory) -> TrainingSettings:
    """A small model trained and registered in a sqlite-backed MLflow under tmp."""
    root: Path = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    settings = TrainingSettings(
        mlflow_tracking_uri=uri,
        experiment="unit",
        source="simulator",
        days=12,
        start_date=date(2026, 2, 1),
        burn_in_days=1,
        train_days=2,
        test_days=2,
        rf_trees=10,
        rf_max_depth=8,
        gbm_trees=60,
        gbm_learning_rate=0.1,
        candidates=("random_forest", "lightgbm", "xgboost"),
    )
    mlflow.set_tracking_uri(uri)
    mlflow.create_experiment("unit", artifact_location=(root / "artifacts").as_uri())
    summary = train.run(settings)
    assert summary["version"] == "1"
    return settings


def test_trained_version_carries_tags_and_artifacts(local_mlflow: TrainingSettings) -> None:
    c = registry.client(local_mlflow)
    v = c.get_model_version(local_mlflow.model_name, "1")
    from fraud_contracts import features

    assert v.tags[FEATURE_FINGERPRINT_TAG] == features.fingerprint()
    assert v.tags["feature_version"] == str(features.FEATURE_VERSION)
    assert v.tags["model_type"] in OPTIONS
    assert v.tags["protocol"] == "platform"
    assert v.tags["test_start"] == "2026-02-11" and v.tags["test_end"] == "2026-02-13"
    # chosen on the validation folds: the family with the best mean validation AP ...
    parent = c.get_run(v.tags["training_run_id"])
    val_ap = {
        kind: parent.data.metrics[f"{kind.replace('+', '-')}.val_average_precision"]
        for kind in OPTIONS
    }
    assert v.tags["model_type"] == max(val_ap, key=lambda k: val_ap[k])
    assert parent.data.tags["best_model"] == v.tags["model_type"]
    # ... and only it is scored on the test window: its metrics are the registered ones
    assert not any(
        k.endswith(".auc") or k.startswith("random_forest.test") for k in parent.data.metrics
    )
    chosen = c.get_run(v.run_id).data.metrics
    assert float(v.tags["test_average_precision"]) == pytest.approx(chosen["average_precision"])
    assert float(v.tags["val_average_precision"]) == pytest.approx(val_ap[v.tags["model_type"]])
    artifacts = {a.path for a in c.list_artifacts(v.run_id)}
    assert {"onnx", "plots", "features.json"} <= artifacts
    plots = {a.path for a in c.list_artifacts(v.run_id, "plots")}
    assert {
        "plots/roc_curve.png",
        "plots/precision_recall_curve.png",
        "plots/calibration.png",
        "plots/feature_importance.png",
    } <= plots
    run = c.get_run(v.run_id)
    assert {"auc", "average_precision", "card_precision_at_100", "brier"} <= set(run.data.metrics)
    model_info = mlflow.models.get_model_info(f"models:/{local_mlflow.model_name}/1")
    assert model_info.signature is not None
    assert model_info.saved_input_example_info is not None


def test_gate_threshold_with_real_scores(local_mlflow: TrainingSettings) -> None:
    c = registry.client(local_mlflow)
    name = local_mlflow.model_name
    failed = evaluate.run(local_mlflow.model_copy(update={"auc_threshold": 0.999}), None, set())
    assert not failed["decision"].passed
    assert registry.version_by_alias(c, name, ALIAS_STAGING) is None
    assert c.get_model_version(name, "1").tags["gate"] == "failed"
    passed = evaluate.run(local_mlflow.model_copy(update={"auc_threshold": 0.5}), None, set())
    assert passed["decision"].passed
    assert str(registry.version_by_alias(c, name, ALIAS_STAGING).version) == "1"  # type: ignore[union-attr]
    text = evaluate.report(passed, local_mlflow)
    assert "AUC-ROC" in text and "CP@100" in text and "Handbook random forest" in text
    # the registered model's rows are labelled with their protocol, apart from the Handbook's
    registered, handbook = text.split("Handbook protocol (")
    assert "platform protocol: 1-day label delay" in registered
    assert "Handbook random forest" not in registered and "0.867" in handbook


def test_handbook_protocol_run_is_logged_not_registered(local_mlflow: TrainingSettings) -> None:
    """A (tiny) Handbook-protocol run: never registered; fraud-evaluate shows it beside the
    Handbook's published rows."""
    settings = local_mlflow.model_copy(
        update={
            "protocol": "handbook",
            "simulator_mode": "handbook",
            "delay_days": 2,
            "label_delay_seconds": 2 * 86_400.0,
            "candidates": ("lightgbm",),
            "validation_folds": 1,
        }
    )
    summary = train.run(settings)
    assert summary["version"] is None
    c = registry.client(local_mlflow)
    versions = c.search_model_versions(f"name = '{settings.model_name}'")
    assert [str(v.version) for v in versions] == ["1"]
    found = evaluate.latest_handbook_run(settings)
    assert found is not None and found["run_id"] == summary["parent_run_id"]
    assert found["scores"]["average_precision"] == pytest.approx(
        summary["trained"].scores.average_precision
    )
    text = train.report(summary, settings)
    assert "Handbook protocol" in text and "0.687" in text and "not registered" in text


def test_promote_and_gate_against_production(
    local_mlflow: TrainingSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = registry.client(local_mlflow)
    name = local_mlflow.model_name
    c.set_registered_model_alias(name, ALIAS_STAGING, "1")
    moved, message = promote.promote(local_mlflow)
    assert moved and "version 1 is now in production" in message
    assert str(registry.version_by_alias(c, name, ALIAS_PRODUCTION).version) == "1"  # type: ignore[union-attr]
    moved, message = promote.promote(local_mlflow)  # idempotent
    assert not moved and "nothing staged" in message

    # a second version, re-registered from the same run; its scores are fixed here so the
    # comparison with production is decided by the test, not by noise
    v1 = c.get_model_version(name, "1")
    v2 = mlflow.register_model(v1.source, name)
    for key, value in v1.tags.items():
        c.set_model_version_tag(name, v2.version, key, value)
    fake: dict[str, dict[str, float]] = {
        "1": {"auc": 0.95, "average_precision": 0.80, "card_precision_at_100": 0.3, "brier": 0.01},
        "2": {"auc": 0.96, "average_precision": 0.70, "card_precision_at_100": 0.3, "brier": 0.01},
    }

    def score(_name: str, version: Any, _test: Any, _k: int) -> dict[str, float]:
        return fake[str(version.version)]

    monkeypatch.setattr(evaluate, "score", score)
    lenient = local_mlflow.model_copy(update={"auc_threshold": 0.9})
    worse = evaluate.run(lenient, v2.version, set())
    assert not worse["decision"].passed and worse["production_scores"] == fake["1"]
    assert registry.version_by_alias(c, name, ALIAS_STAGING) is None

    fake["2"]["average_precision"] = 0.85
    better = evaluate.run(lenient, v2.version, set())
    assert better["decision"].passed
    moved, _ = promote.promote(local_mlflow)
    assert moved
    assert str(registry.version_by_alias(c, name, ALIAS_PRODUCTION).version) == str(v2.version)  # type: ignore[union-attr]
    assert str(registry.version_by_alias(c, name, ALIAS_PREVIOUS_PRODUCTION).version) == "1"  # type: ignore[union-attr]
    assert c.get_model_version(name, v2.version).tags["previous_production_version"] == "1"
    assert registry.version_by_alias(c, name, ALIAS_STAGING) is None


def test_an_average_is_registered_served_as_one_onnx_graph_and_reloaded(
    local_mlflow: TrainingSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the average wins validation (forced here: which option wins is the data's
    business), it is logged, registered, exported as one ONNX graph equal to the mean of
    its members, and fraud-evaluate reloads it through MLflow's scikit-learn flavour."""
    import numpy as np

    from serving.onnx_model import OnnxScorer
    from training import data, select
    from training.split import settings_split

    def average_wins(validations: Any) -> select.Validation:
        (avg,) = [v for v in validations if "+" in v.kind]
        return avg  # type: ignore[no-any-return]

    monkeypatch.setattr(select, "choose", average_wins)
    settings = local_mlflow.model_copy(update={"candidates": ("lightgbm", "xgboost")})
    summary = train.run(settings)
    c = registry.client(settings)
    v = c.get_model_version(settings.model_name, summary["version"])
    assert v.tags["model_type"] == "lightgbm+xgboost"
    parent = c.get_run(v.tags["training_run_id"])
    assert parent.data.tags["best_model"] == "lightgbm+xgboost"
    assert float(v.tags["val_average_precision"]) == pytest.approx(
        parent.data.metrics["lightgbm-xgboost.val_average_precision"]
    )
    model = registry.load_model(settings.model_name, v.version)  # skops, trusted types
    sp, _ = settings_split(data.load(settings), settings, allow_none=True)
    x = data.inputs(sp.test)
    members = [f.estimator.predict_proba(x)[:, 1] for f in model.estimators_]
    np.testing.assert_allclose(model.predict_proba(x)[:, 1], np.mean(members, axis=0), atol=1e-7)
    onnx_path = mlflow.artifacts.download_artifacts(
        run_id=v.run_id, artifact_path=ONNX_ARTIFACT, tracking_uri=settings.mlflow_tracking_uri
    )
    scorer = OnnxScorer(Path(onnx_path).read_bytes())
    np.testing.assert_allclose(
        scorer.predict_proba(x.to_numpy(np.float32)), np.mean(members, axis=0), atol=1e-6
    )
    scored = evaluate.score(settings.model_name, v, sp.test, settings.top_k)
    assert scored["average_precision"] == pytest.approx(float(v.tags["test_average_precision"]))
