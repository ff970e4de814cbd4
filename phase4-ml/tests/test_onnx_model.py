"""ONNX conversion parity: compiled probabilities equal the source model's within 1e-6."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from lightgbm import LGBMClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from xgboost import XGBClassifier

from fraud_contracts.features import FEATURE_NAMES
from serving.onnx_model import INPUT_NAME, OnnxScorer
from training.export import convert

pytestmark = pytest.mark.unit

N = len(FEATURE_NAMES)


def _data(seed: int = 7) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Fraud-like data: integer counts, skewed amounts, a rare positive class (~3 %)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8_000, N))
    x[:, :8] = rng.poisson(3, size=(8_000, 8))
    x[:, 8] = rng.lognormal(3, 1, size=8_000)
    logit = 0.02 * x[:, 8] + 0.8 * x[:, 10] - 0.3 * x[:, 0] - 4.5
    y = (rng.random(8_000) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y


MODELS: dict[str, Any] = {
    "random_forest": lambda: RandomForestClassifier(
        n_estimators=300, min_samples_leaf=2, class_weight="balanced", random_state=0, n_jobs=2
    ),
    "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(
        max_iter=200, class_weight="balanced", random_state=0
    ),
    "lightgbm": lambda: LGBMClassifier(
        n_estimators=300, num_leaves=31, is_unbalance=True, random_state=0, verbose=-1
    ),
    "xgboost": lambda: XGBClassifier(
        n_estimators=300, max_depth=6, scale_pos_weight=5.0, random_state=0, n_jobs=1
    ),
}


@pytest.mark.parametrize("kind", MODELS)
def test_onnx_probabilities_equal_source_model(kind: str) -> None:
    x, y = _data()
    model = MODELS[kind]().fit(x[:6_000], y[:6_000])
    scorer = OnnxScorer(convert(model, N))
    test = x[6_000:].astype(np.float32)  # sklearn trees compare float32-cast inputs

    expected = model.predict_proba(test)[:, 1]
    got = scorer.predict_proba(test)

    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-6
    # the test set is non-trivial: probabilities spread, not all one value
    assert expected.std() > 0.01
    # single rows score the same as the batch
    assert scorer.predict_proba(test[0]) == pytest.approx(got[:1], abs=1e-9)


def test_scorer_checks_width_and_input_name() -> None:
    x, y = _data()
    model = HistGradientBoostingClassifier(max_iter=10).fit(x, y)
    scorer = OnnxScorer(convert(model, N))
    with pytest.raises(ValueError, match=f"expected {N} features"):
        scorer.predict_proba(np.zeros((1, N - 1), dtype=np.float32))
    assert scorer.session.get_inputs()[0].name == INPUT_NAME
