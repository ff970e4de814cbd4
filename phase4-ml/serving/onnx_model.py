"""Tree-ensemble classifiers compiled to ONNX, and a scorer on ONNX Runtime.

:func:`convert` turns a fitted scikit-learn ``RandomForestClassifier`` /
``HistGradientBoostingClassifier`` (or any classifier skl2onnx knows) or a LightGBM
``LGBMClassifier`` into an ONNX model with one float32 input ``features`` of shape
``[None, n_features]`` and a plain probability tensor (no ZipMap). Training logs those
bytes as ``onnx/model.onnx``; the API scores with :class:`OnnxScorer`.

Parity: scikit-learn trees cast inputs to float32 before comparing them with their
thresholds (which are float32 midpoints), so the compiled model agrees with
``predict_proba(X.astype(float32))``; the tests hold the two within 1e-6. A forest's
probability is a mean of many leaf fractions, and summing them in float32 costs up to
~1e-6 with a few hundred trees; so where skl2onnx supports it (random forests) the
ensemble is converted in double precision behind a float32 -> float64 ``Cast`` of the
input (measured error ~5e-8 instead of ~5e-7). Boosted models (sum of leaf values, then a
sigmoid) are converted in float32 (measured error 2-5e-7).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

INPUT_NAME: Final = "features"
#: opsets: ONNX 17 and ai.onnx.ml 3 (double-precision tree attributes), both in ORT 1.2x+.
TARGET_OPSET: Final = {"": 17, "ai.onnx.ml": 3}

_lightgbm_registered = False


def _register_lightgbm() -> None:
    """Teach skl2onnx the LightGBM converter of onnxmltools (once)."""
    global _lightgbm_registered
    if _lightgbm_registered:
        return
    from lightgbm import LGBMClassifier
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    _lightgbm_registered = True


def convert(model: Any, n_features: int) -> bytes:
    """The serialized ONNX model of a fitted binary classifier."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    if type(model).__module__.startswith("lightgbm"):
        _register_lightgbm()
    if type(model).__name__ in _DOUBLE_PRECISION:
        return _convert_double(model, n_features)
    onx = to_onnx(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    return bytes(onx.SerializeToString())


#: models whose skl2onnx converter builds a consistent double-precision graph
_DOUBLE_PRECISION: Final = frozenset({"RandomForestClassifier", "ExtraTreesClassifier"})


def _convert_double(model: Any, n_features: int) -> bytes:
    """Convert with a float64 input, then put a float32 ``features`` input and a Cast in front."""
    from onnx import TensorProto, helper
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType

    inner = "features_float64"
    onx = to_onnx(
        model,
        initial_types=[(inner, DoubleTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    graph = onx.graph
    graph.node.insert(0, helper.make_node("Cast", [INPUT_NAME], [inner], to=TensorProto.DOUBLE))
    del graph.input[:]
    graph.input.append(
        helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, n_features])
    )
    return bytes(onx.SerializeToString())


class OnnxScorer:
    """Positive-class probabilities from a model made by :func:`convert`.

    One ``InferenceSession`` with a single intra-op thread: the API scales with worker
    processes, and tree ensembles of a few hundred trees on one row are faster without
    thread hand-offs.
    """

    def __init__(self, model_bytes: bytes, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            raise ValueError(f"ONNX model must have one input named {INPUT_NAME!r}")
        shape = inputs[0].shape
        self.n_features: int | None = shape[1] if isinstance(shape[1], int) else None
        outputs = self.session.get_outputs()
        # skl2onnx classifiers: outputs (label, probabilities); take the probability tensor
        self.output = outputs[-1].name
        self._outputs = [self.output]
        # InferenceSession.run re-validates the input names, OrtValue ownership and graph
        # capture on every call (~8 µs of Python per one-row call, a quarter of a
        # 100-tree forest's evaluation); the input was checked above, once, and the CPU
        # provider has no fallback to retry on, so scoring calls the bound C++ session
        # directly when onnxruntime exposes it (the public run() otherwise)
        bound = getattr(self.session, "_sess", None)
        self._run = bound.run if bound is not None and hasattr(bound, "run") else self.session.run

    def predict_proba(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """P(fraud) of each row of ``x`` (shape ``[n, n_features]``)."""
        arr = np.ascontiguousarray(x, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if self.n_features is not None and arr.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got {arr.shape[1]}")
        (proba,) = self._run(self._outputs, {INPUT_NAME: arr}, None)
        return np.asarray(proba, dtype=np.float64)[:, 1]
