"""ONNX export of a trained model, checked against the model itself before it is logged.

The conversion is the scoring API's own (:func:`serving.onnx_model.convert`); this module
only holds training to it: the compiled model must give the same probabilities as
``predict_proba`` on the test set, within :data:`TOLERANCE`, or training fails.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from fraud_contracts import features
from serving.onnx_model import INPUT_NAME, OnnxScorer, convert

TOLERANCE: Final = 1e-6
#: Where the ONNX model is logged in the model's MLflow run (the API downloads it there).
ARTIFACT_PATH: Final = "onnx/model.onnx"


class OnnxParityError(AssertionError):
    """The compiled model disagrees with the trained one."""


def to_onnx(model: Any, x: pd.DataFrame) -> tuple[bytes, float]:
    """The ONNX bytes of ``model`` and the largest |difference| of P(fraud) on ``x``.

    Raises :class:`OnnxParityError` above :data:`TOLERANCE`.
    """
    onnx_bytes = convert(model, len(features.FEATURE_NAMES))
    scorer = OnnxScorer(onnx_bytes)
    if scorer.session.get_inputs()[0].name != INPUT_NAME:
        raise OnnxParityError(f"ONNX input is not named {INPUT_NAME!r}")
    expected = np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)
    got = scorer.predict_proba(x.to_numpy(np.float32))
    diff = float(np.max(np.abs(expected - got))) if len(x) else 0.0
    if not diff <= TOLERANCE:
        worst = int(np.argmax(np.abs(expected - got)))
        raise OnnxParityError(
            f"ONNX export of {type(model).__name__} differs from predict_proba by {diff:.3g} "
            f"(> {TOLERANCE}) on row {worst}: {expected[worst]!r} vs {got[worst]!r}"
        )
    return onnx_bytes, diff
