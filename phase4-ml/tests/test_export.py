"""The ONNX export scores like the trained model (what the API relies on)."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_contracts import features
from serving.onnx_model import OnnxScorer
from training import data, export, models
from training.split import Split

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def trained_xgboost(split_30d: Split) -> models.Candidate:
    from training.settings import TrainingSettings

    c = models.xgboost(TrainingSettings(xgb_trees=150))
    return models.fit(c, data.inputs(split_30d.train), split_30d.train["is_fraud"].to_numpy())


@pytest.mark.parametrize("fixture", ["trained_forest", "trained_lightgbm", "trained_xgboost"])
def test_onnx_equals_predict_proba_on_the_test_set(
    fixture: str, split_30d: Split, request: pytest.FixtureRequest
) -> None:
    candidate: models.Candidate = request.getfixturevalue(fixture)
    x = data.inputs(split_30d.test)
    onnx_bytes, diff = export.to_onnx(candidate.model, x)
    assert diff <= export.TOLERANCE
    scorer = OnnxScorer(onnx_bytes)
    assert scorer.session.get_inputs()[0].name == "features"
    assert scorer.session.get_inputs()[0].shape[1] == len(features.FEATURE_NAMES)
    got = scorer.predict_proba(x.to_numpy(np.float32))
    np.testing.assert_allclose(got, candidate.predict(x), atol=1e-6, rtol=0)


def test_a_mismatching_export_fails_loudly(
    trained_forest: models.Candidate,
    trained_lightgbm: models.Candidate,
    split_30d: Split,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = export.convert(trained_forest.model, len(features.FEATURE_NAMES))
    monkeypatch.setattr(export, "convert", lambda model, n: other)
    with pytest.raises(export.OnnxParityError, match="differs from predict_proba"):
        export.to_onnx(trained_lightgbm.model, data.inputs(split_30d.test).head(2000))


def test_the_average_of_the_families_compiles_to_one_graph_that_averages(
    trained_forest: models.Candidate,
    trained_lightgbm: models.Candidate,
    trained_xgboost: models.Candidate,
    split_30d: Split,
) -> None:
    """An average (what fraud-train registers when it wins validation) is the mean of its
    members' probabilities, in scikit-learn and in its ONNX export."""
    parts = [trained_forest, trained_lightgbm, trained_xgboost]
    x_train, y_train = data.inputs(split_30d.train), split_30d.train["is_fraud"].to_numpy()
    avg = models.average(parts, x_train, y_train)
    assert avg.kind == "random_forest+lightgbm+xgboost"
    x = data.inputs(split_30d.test)
    mean = np.mean([c.predict(x) for c in parts], axis=0)
    np.testing.assert_allclose(avg.predict(x), mean, atol=1e-7, rtol=0)
    assert avg.fitted_members == [c.model for c in parts]  # never refitted
    onnx_bytes, diff = export.to_onnx(avg.model, x)
    assert diff <= export.TOLERANCE
    got = OnnxScorer(onnx_bytes).predict_proba(x.to_numpy(np.float32))
    np.testing.assert_allclose(got, mean, atol=1e-6, rtol=0)
    # not the same as any one member: the test would pass for a graph of one member only
    assert min(np.abs(got - c.predict(x)).max() for c in parts) > 1e-3
    importances = avg.importances()
    assert sum(importances.values()) == pytest.approx(1.0)
    assert set(importances) == set(features.FEATURE_NAMES)


def test_snapping_thresholds_keeps_lightgbm_predictions(split_30d: Split) -> None:
    from training.settings import TrainingSettings

    x, y = data.inputs(split_30d.train), split_30d.train["is_fraud"].to_numpy()
    c = models.lightgbm(TrainingSettings(gbm_trees=60))
    c.model.fit(x, y)  # without fit()'s snapping
    x_test = data.inputs(split_30d.test)
    before = c.predict(x_test)
    assert models.snap_thresholds_to_float32(c.model) > 0
    np.testing.assert_array_equal(c.predict(x_test), before)
