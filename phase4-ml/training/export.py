"""ONNX export of a trained model, checked against the model itself before it is logged.

:func:`convert` compiles a fitted scikit-learn ``RandomForestClassifier`` /
``HistGradientBoostingClassifier`` (or any classifier skl2onnx knows), a LightGBM
``LGBMClassifier`` or an XGBoost ``XGBClassifier`` into an ONNX model with one float32 input
(:data:`serving.onnx_model.INPUT_NAME`) of shape ``[None, n_features]`` and a plain
probability tensor (no ZipMap): the model the scoring API runs with
:class:`serving.onnx_model.OnnxScorer`. :func:`to_onnx` holds training to it: the compiled
model must give the same probabilities as ``predict_proba`` on the test set, within
:data:`TOLERANCE`, or training fails. Training logs the bytes at
:data:`fraud_contracts.names.ONNX_ARTIFACT` of the model's run.

Parity: scikit-learn trees cast inputs to float32 before comparing them with their
thresholds (which are float32 midpoints), so the compiled model agrees with
``predict_proba(X.astype(float32))``. A forest's probability is a mean of many leaf
fractions, and summing them in float32 loses precision with a few hundred trees; so where
skl2onnx supports it (random forests) the ensemble is converted in double precision behind
a float32 -> float64 ``Cast`` of the input. Boosted models (sum of leaf values, then a
sigmoid) are converted in float32.

An average of families (a soft-voting ``VotingClassifier`` over frozen members,
training/models.py) becomes one graph: each member converted as above, its names prefixed,
all reading the one input, their probability tensors cast to double, summed and divided
by their number (what soft voting computes).
"""

from __future__ import annotations

import copy
from typing import Any, Final

import numpy as np
import pandas as pd

from fraud_contracts import features
from serving.onnx_model import INPUT_NAME, OnnxScorer

TOLERANCE: Final = 1e-6
#: opsets: ONNX 17 and ai.onnx.ml 3 (double-precision tree attributes), both in ORT 1.2x+.
TARGET_OPSET: Final = {"": 17, "ai.onnx.ml": 3}
#: models whose skl2onnx converter builds a consistent double-precision graph
_DOUBLE_PRECISION: Final = frozenset({"RandomForestClassifier", "ExtraTreesClassifier"})

_registered: set[str] = set()


class OnnxParityError(AssertionError):
    """The compiled model disagrees with the trained one."""


def _register(library: str) -> None:
    """Teach skl2onnx the LightGBM or XGBoost converter of onnxmltools (once each)."""
    if library in _registered:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    model_type: Any
    if library == "lightgbm":
        from lightgbm import LGBMClassifier
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        model_type, alias, converter = LGBMClassifier, "LightGbmLGBMClassifier", convert_lightgbm
    else:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier

        model_type, alias, converter = XGBClassifier, "XGBoostXGBClassifier", convert_xgboost
    update_registered_converter(
        model_type,
        alias,
        calculate_linear_classifier_output_shapes,
        converter,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    _registered.add(library)


def convert(model: Any, n_features: int) -> bytes:
    """The serialized ONNX model of a fitted binary classifier (or an average of them)."""
    from skl2onnx import to_onnx as skl2onnx_convert
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import VotingClassifier

    if isinstance(model, VotingClassifier):
        if model.voting != "soft" or model.weights is not None:
            raise ValueError("only an unweighted soft-voting average is exported")
        return _convert_average([f.estimator for f in model.estimators_], n_features)

    library = type(model).__module__.split(".")[0]
    if library in {"lightgbm", "xgboost"}:
        _register(library)
    if library == "xgboost":
        # the XGBoost converter reads features as f0, f1, ...: convert a copy without names
        model = copy.deepcopy(model)
        model.get_booster().feature_names = None
    if type(model).__name__ in _DOUBLE_PRECISION:
        return _convert_double(model, n_features)
    onx = skl2onnx_convert(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    return bytes(onx.SerializeToString())


def _convert_double(model: Any, n_features: int) -> bytes:
    """Convert with a float64 input, then put a float32 input and a Cast in front."""
    from onnx import TensorProto, helper
    from skl2onnx import to_onnx as skl2onnx_convert
    from skl2onnx.common.data_types import DoubleTensorType

    inner = f"{INPUT_NAME}_float64"
    onx = skl2onnx_convert(
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


def _convert_average(members: list[Any], n_features: int) -> bytes:
    """One graph computing the mean of the members' class probabilities."""
    import onnx
    from onnx import TensorProto, compose, helper

    nodes, initializers, probabilities = [], [], []
    opsets: dict[str, int] = {}
    ir_version = 0
    for i, member in enumerate(members):
        one = compose.add_prefix(onnx.load_from_string(convert(member, n_features)), f"m{i}_")
        graph = one.graph
        (member_input,) = graph.input
        nodes.append(helper.make_node("Identity", [INPUT_NAME], [member_input.name]))
        nodes.extend(graph.node)
        initializers.extend(graph.initializer)
        proba = graph.output[-1].name  # (label, probabilities)
        nodes.append(helper.make_node("Cast", [proba], [f"{proba}_float64"], to=TensorProto.DOUBLE))
        probabilities.append(f"{proba}_float64")
        for opset in one.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
        ir_version = max(ir_version, one.ir_version)
    # Sum, then Div (ONNX Runtime's CPU Mean has no double kernel)
    nodes.append(helper.make_node("Sum", probabilities, ["probability_sum"]))
    initializers.append(
        helper.make_tensor("member_count", TensorProto.DOUBLE, [], [float(len(members))])
    )
    nodes.append(helper.make_node("Div", ["probability_sum", "member_count"], ["probabilities"]))
    graph = helper.make_graph(
        nodes,
        "average",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, 2])],
        initializer=initializers,
    )
    merged = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())]
    )
    merged.ir_version = ir_version
    onnx.checker.check_model(merged)
    return bytes(merged.SerializeToString())


def to_onnx(model: Any, x: pd.DataFrame) -> tuple[bytes, float]:
    """The ONNX bytes of ``model`` and the largest |difference| of P(fraud) on ``x``.

    Raises :class:`OnnxParityError` above :data:`TOLERANCE`.
    """
    onnx_bytes = convert(model, len(features.FEATURE_NAMES))
    scorer = OnnxScorer(onnx_bytes)  # refuses a model whose input is not INPUT_NAME
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
