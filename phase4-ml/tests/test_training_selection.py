"""Model selection on validation folds: the test window never decides."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraud_contracts import features
from training import models, select
from training.settings import TrainingSettings
from training.split import Split, Window

pytestmark = pytest.mark.unit


def _v(kind: str, aps: list[float], aucs: list[float]) -> select.Validation:
    folds = [
        {"auc": auc, "average_precision": ap, "card_precision_at_100": 0.0, "brier": 0.0}
        for ap, auc in zip(aps, aucs, strict=True)
    ]
    return select.Validation(kind, folds, 0.0)


def test_choose_takes_the_highest_mean_validation_ap_then_auc() -> None:
    a = _v("a", [0.70, 0.60], [0.90, 0.90])  # mean AP 0.65
    b = _v("b", [0.66, 0.66], [0.80, 0.80])  # mean AP 0.66: wins
    assert select.choose([a, b]).kind == "b"
    c = _v("c", [0.66, 0.66], [0.85, 0.85])  # same AP as b, better AUC
    assert select.choose([a, b, c]).kind == "c"
    assert b.summary()["val_average_precision"] == pytest.approx(0.66)
    assert a.summary()["val_average_precision_std"] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="no candidate"):
        select.choose([])


def _fold(seed: int, signal_column: int) -> Split:
    """A toy fold where only ``signal_column`` carries the label."""
    rng = np.random.default_rng(seed)

    def part(n: int, day: date) -> pd.DataFrame:
        x = rng.normal(size=(n, len(features.FEATURE_NAMES)))
        y = (rng.random(n) < 0.1).astype(np.int64)
        x[:, signal_column] += 3.0 * y
        frame = pd.DataFrame(x, columns=list(features.FEATURE_NAMES))
        frame["is_fraud"] = y
        frame["event_date"] = day
        frame["user_id"] = [f"u{i}" for i in range(n)]
        return frame

    d = date(2026, 1, 1)
    w = Window(d, d + timedelta(days=1), d + timedelta(days=2), d + timedelta(days=3))
    return Split(w, part(2000, d), part(1000, d + timedelta(days=2)), 0)


def _recording_builder() -> tuple[Callable[[str], models.Candidate], list[str]]:
    """A small-model builder, and the list of the kinds it built, in order."""
    settings = TrainingSettings(rf_trees=10, gbm_trees=30, xgb_trees=30)
    built: list[str] = []

    def build(kind: str) -> models.Candidate:
        built.append(kind)
        return models.build(kind, settings)

    return build, built


def test_select_validates_every_family_and_fits_fresh_models() -> None:
    folds = [_fold(1, 0), _fold(2, 0)]
    build, built = _recording_builder()
    chosen, all_ = select.select(["lightgbm", "xgboost"], build, folds, k=10)
    assert built == ["lightgbm", "lightgbm", "xgboost", "xgboost"]  # one per fold
    assert {v.kind for v in all_} == {"lightgbm", "xgboost"}
    assert chosen.kind in {"lightgbm", "xgboost"}
    assert chosen.key() == max(v.key() for v in all_)
    assert all(len(v.folds) == 2 for v in all_)
    assert all(v.mean("auc") > 0.9 for v in all_)  # the signal is learnt on every fold


def test_every_family_builds_with_its_settings() -> None:
    s = TrainingSettings(xgb_trees=11, rf_max_samples=0.5, rf_min_samples_leaf=3)
    assert models.build("xgboost", s).params["n_estimators"] == 11
    rf = models.build("random_forest", s).params
    assert (rf["max_samples"], rf["min_samples_leaf"]) == (0.5, 3)
    assert set(models.BUILDERS) == {"random_forest", "lightgbm", "xgboost"}
    assert set(models.SKOPS_TRUSTED_TYPES) == set(models.BUILDERS)
    assert any(r.startswith("xgboost-cpu==") for r in models.requirements("xgboost"))


def test_handbook_protocol_settings() -> None:
    s = TrainingSettings(validation_folds=4).handbook_protocol()
    assert (s.protocol, s.source, s.simulator_mode) == ("handbook", "simulator", "handbook")
    assert (s.delay_days, s.train_days, s.test_days) == (7, 7, 7)
    assert s.label_delay_seconds == 7 * 86_400
    # burn-in, 3 extra fold weeks, then fold-1 train, delay, fold-1 test (= train), delay, test
    assert s.days == s.burn_in_days + 3 * 7 + 5 * 7


def test_without_a_fold_the_first_candidate_is_taken_unvalidated() -> None:
    def build(kind: str) -> models.Candidate:
        raise AssertionError("nothing is fitted without a fold")

    chosen, all_ = select.select(["xgboost", "lightgbm"], build, [], k=10)
    assert (chosen.kind, chosen.folds, all_) == ("xgboost", [], [])
    assert chosen.summary() == {}


def test_the_average_is_one_more_option_scored_from_the_same_fits() -> None:
    """with_average: the families' fold predictions averaged, no extra fit."""
    folds = [_fold(3, 0), _fold(4, 0)]
    build, built = _recording_builder()
    chosen, all_ = select.select(["lightgbm", "xgboost"], build, folds, k=10, with_average=True)
    assert built == ["lightgbm", "lightgbm", "xgboost", "xgboost"]  # the average fits nothing
    by_kind = {v.kind: v for v in all_}
    assert set(by_kind) == {"lightgbm", "xgboost", "lightgbm+xgboost"}
    avg = by_kind["lightgbm+xgboost"]
    for i in range(2):
        expected = (by_kind["lightgbm"].predictions[i] + by_kind["xgboost"].predictions[i]) / 2
        np.testing.assert_allclose(avg.predictions[i], expected)
    assert chosen.key() == max(v.key() for v in all_)
    # one family only: nothing to average
    _, single = select.select(["xgboost"], build, folds, k=10, with_average=True)
    assert [v.kind for v in single] == ["xgboost"]


def test_an_average_builds_fits_and_loads_with_its_trusted_types(tmp_path: Path) -> None:
    """The logged form (MLflow's scikit-learn flavour, skops) of an average loads with the
    types fraud-train tells skops to trust, and predicts the mean of its members."""
    import skops.io as sio

    settings = TrainingSettings(rf_trees=5, gbm_trees=10, xgb_trees=10)
    fold = _fold(5, 1)
    x, y = fold.train[list(features.FEATURE_NAMES)].astype(np.float32), fold.train["is_fraud"]
    kind = "random_forest+lightgbm+xgboost"
    c = models.fit(models.build(kind, settings), x, y.to_numpy())
    assert c.kind == kind and len(c.fitted_members) == 3
    assert set(c.params) >= {"random_forest.n_estimators", "xgboost.n_estimators"}
    path = tmp_path / "model.skops"
    sio.dump(c.model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert set(untrusted) <= set(models.trusted_types(kind)), untrusted
    loaded = sio.load(path, trusted=models.trusted_types(kind))
    x_test = fold.test[list(features.FEATURE_NAMES)].astype(np.float32)
    np.testing.assert_allclose(loaded.predict_proba(x_test)[:, 1], c.predict(x_test))
    members = [m.predict_proba(x_test)[:, 1] for m in c.fitted_members]
    np.testing.assert_allclose(c.predict(x_test), np.mean(members, axis=0), atol=1e-7)
    reqs = models.requirements(kind)
    assert any(r.startswith("lightgbm==") for r in reqs)
    assert any(r.startswith("xgboost-cpu==") for r in reqs)
    with pytest.raises(ValueError, match="fitted already"):
        models.fit(c, x, y.to_numpy())
