"""The scoring API's model runtime: ONNX Runtime on the exported tree ensemble.

Training compiles the model (``training.export``) into an ONNX graph with one float32
input named :data:`INPUT_NAME` of shape ``[None, n_features]`` and a plain probability
tensor as its last output, and logs it in the model's run; :class:`OnnxScorer` loads those
bytes and returns P(fraud) per row.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

#: the model's one input (the contract between the export and this scorer)
INPUT_NAME: Final = "features"


class OnnxScorer:
    """Positive-class probabilities from an exported model (one input, :data:`INPUT_NAME`).

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
        # capture on every call (Python work that is a sizeable share of a one-row
        # evaluation); the input was checked above, once, and the CPU provider has no
        # fallback to retry on, so scoring calls the bound C++ session directly when
        # onnxruntime exposes it (the public run() otherwise)
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
