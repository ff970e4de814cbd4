"""The ONNX export scores like the trained model (what the API relies on)."""

from __future__ import annotations

import numpy as np
import pytest

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
    assert scorer.session.get_inputs()[0].shape[1] == 24
    got = scorer.predict_proba(x.to_numpy(np.float32))
    np.testing.assert_allclose(got, candidate.predict(x), atol=1e-6, rtol=0)


def test_a_mismatching_export_fails_loudly(
    trained_forest: models.Candidate,
    trained_lightgbm: models.Candidate,
    split_30d: Split,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = export.convert(trained_forest.model, 24)
    monkeypatch.setattr(export, "convert", lambda model, n: other)
    with pytest.raises(export.OnnxParityError, match="differs from predict_proba"):
        export.to_onnx(trained_lightgbm.model, data.inputs(split_30d.test).head(2000))


def test_snapping_thresholds_keeps_lightgbm_predictions(split_30d: Split) -> None:
    from training.settings import TrainingSettings

    x, y = data.inputs(split_30d.train), split_30d.train["is_fraud"].to_numpy()
    c = models.lightgbm(TrainingSettings(gbm_trees=60))
    c.model.fit(x, y)  # without fit()'s snapping
    x_test = data.inputs(split_30d.test)
    before = c.predict(x_test)
    assert models.snap_thresholds_to_float32(c.model) > 0
    np.testing.assert_array_equal(c.predict(x_test), before)
