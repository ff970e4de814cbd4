"""The served model: loaded from the MLflow production alias, cached on disk, hot-swapped.

The registry entries are those of :mod:`fraud_contracts.names`. At start the predictor
asks the registry which version the alias (default
:data:`~fraud_contracts.names.ALIAS_PRODUCTION`) points at, checks that version's
feature fingerprint tag (:data:`~fraud_contracts.names.FEATURE_FINGERPRINT_TAG`) against
:func:`features.fingerprint` (a model trained on another feature contract is refused),
downloads the run artifact :data:`~fraud_contracts.names.ONNX_ARTIFACT` (and, for
``SERVING_SCORING_BACKEND=sklearn``, the logged scikit-learn/LightGBM model, which needs
the ``sklearn`` extra) into the local cache and loads it. If MLflow is down it
loads the last good model from the cache instead; with neither, the API runs and says
*not ready* (``GET /ready`` 503, ``POST /predict`` 503) until a model appears. A
background task polls the alias and swaps in a new version when it moves.

Top reasons (:meth:`Predictor.score_with_reasons`) are **occlusion** attributions: for
each feature, how much the score drops when that one feature is set to its no-history
default (:data:`features.DEFAULTS`) with the others unchanged. The variants (one per
feature that is not already at its default) are scored in one batched ONNX call, so it
is the model's own response, not a proxy, and it is exact for the question "which of this
transaction's values raised its score". The API computes them for transactions at or
above ``SERVING_REASONS_MIN_TIER`` (default ``high``; ``medium`` or ``low`` widen it):
other answers carry an empty list, which keeps the common case to a single one-row model
call (occlusion costs one more row per feature that is not at its default).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import structlog

from fraud_contracts import features
from fraud_contracts.names import FEATURE_FINGERPRINT_TAG, MODEL_NAME, ONNX_ARTIFACT
from serving.onnx_model import OnnxScorer

log = structlog.get_logger("serving.predictor")

# the MLflow client retries for minutes by default; an outage must not stall a start
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

_DEFAULTS = np.array([features.DEFAULTS[n] for n in features.FEATURE_NAMES], dtype=np.float32)
_N = len(features.FEATURE_NAMES)


class Scorer(Protocol):
    def predict_proba(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]: ...


class SklearnScorer:
    """The plain ``predict_proba`` of the logged model (the benchmark's comparison path)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict_proba(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        return np.asarray(self.model.predict_proba(arr), dtype=np.float64)[:, 1]


@dataclass(frozen=True)
class ModelInfo:
    """What the registry says about a model version."""

    name: str
    version: str
    alias: str
    run_id: str
    fingerprint: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    #: Unix time the version was registered (None: unknown, e.g. a cache written earlier)
    created_at: float | None = None


@dataclass(frozen=True)
class LoadedModel:
    info: ModelInfo
    scorer: Scorer
    source: str  # "mlflow" or "cache"
    loaded_at: float


class FingerprintMismatchError(RuntimeError):
    pass


class Registry(Protocol):
    def resolve(self, name: str, alias: str) -> ModelInfo | None: ...

    def download(self, info: ModelInfo, dst: Path, sklearn: bool) -> None: ...


class MlflowRegistry:
    """The MLflow model registry (server at ``MLFLOW_TRACKING_URI``)."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def resolve(self, name: str, alias: str) -> ModelInfo | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as err:
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None  # no such model or alias yet: not ready, not an outage
            raise
        run_metrics: dict[str, float] = {}
        if mv.run_id:
            run_metrics = dict(self.client.get_run(mv.run_id).data.metrics)
        return ModelInfo(
            name=name,
            version=str(mv.version),
            alias=alias,
            run_id=str(mv.run_id),
            fingerprint=mv.tags.get(FEATURE_FINGERPRINT_TAG),
            metrics=run_metrics,
            created_at=mv.creation_timestamp / 1000 if mv.creation_timestamp else None,
        )

    def download(self, info: ModelInfo, dst: Path, sklearn: bool) -> None:
        import mlflow.artifacts

        got = mlflow.artifacts.download_artifacts(
            run_id=info.run_id, artifact_path=ONNX_ARTIFACT, tracking_uri=self.uri
        )
        shutil.copyfile(got, dst / "model.onnx")
        if sklearn:
            joblib = _sklearn_backend()
            uri = f"models:/{info.name}/{info.version}"
            import mlflow.sklearn

            try:
                model = mlflow.sklearn.load_model(uri)
            except Exception:  # logged with the LightGBM flavour
                import mlflow.lightgbm

                model = mlflow.lightgbm.load_model(uri)
            joblib.dump(model, dst / "model.joblib")


class ModelCache:
    """Last good model on local disk: ``<dir>/<name>/v<version>/`` plus ``current.json``."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root / name

    def current(self) -> tuple[ModelInfo, Path] | None:
        pointer = self.root / "current.json"
        if not pointer.exists():
            return None
        meta = json.loads(pointer.read_text())
        return ModelInfo(**meta["info"]), self.root / meta["dir"]

    def store(self, info: ModelInfo, fill: Any) -> Path:
        """Fill a fresh version directory with ``fill(path)``, then point current at it."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"v{info.version}"
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".incoming-"))
        try:
            fill(tmp)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        pointer = self.root / ".current.json.tmp"
        pointer.write_text(json.dumps({"info": info.__dict__, "dir": final.name}))
        pointer.replace(self.root / "current.json")
        return final


def _sklearn_backend() -> Any:
    """joblib, or a clear error where the package's ``sklearn`` extra is not installed."""
    try:
        import joblib
        import sklearn  # noqa: F401  (the logged model's own library)
    except ImportError as err:
        raise RuntimeError(
            f"SERVING_SCORING_BACKEND=sklearn needs the fraud-ml[sklearn] extra: {err}"
        ) from err
    return joblib


def load_scorer(path: Path, backend: str) -> Scorer:
    if backend == "sklearn":
        return SklearnScorer(_sklearn_backend().load(path / "model.joblib"))
    return OnnxScorer((path / "model.onnx").read_bytes())


class Predictor:
    """Holds the current model; scoring and reasons; registry polling."""

    def __init__(
        self,
        registry: Registry | None,
        cache: ModelCache,
        alias: str,
        backend: str = "onnx",
        name: str = MODEL_NAME,
    ) -> None:
        self.registry = registry
        self.cache = cache
        self.alias = alias
        self.backend = backend
        self.name = name
        self.model: LoadedModel | None = None
        self.last_error: str | None = None

    @property
    def ready(self) -> bool:
        return self.model is not None

    # ------------------------------------------------------------------ loading
    def refresh(self) -> bool:
        """Load the alias's version if it differs from the loaded one; True if swapped.

        Registry errors fall back to the disk cache when nothing is loaded yet.
        """
        try:
            info = self.registry.resolve(self.name, self.alias) if self.registry else None
        except Exception as err:
            self.last_error = f"registry unavailable: {err}"[:300]
            log.warning("model registry unavailable", error=self.last_error)
            if self.model is None:
                return self._load_cached()
            return False
        if info is None:
            self.last_error = f"no model {self.name}@{self.alias} in the registry"
            if self.model is None:
                return self._load_cached()
            return False
        if self.model is not None and self.model.info.version == info.version:
            return False
        try:
            self._check(info)
            registry = self.registry
            assert registry is not None
            cached = self.cache.current()
            if cached and cached[0].version == info.version and cached[1].exists():
                path = cached[1]
            else:
                path = self.cache.store(
                    info, lambda d: registry.download(info, d, self.backend == "sklearn")
                )
            self._swap(info, load_scorer(path, self.backend), "mlflow")
            return True
        except Exception as err:
            self.last_error = f"cannot load version {info.version}: {err}"[:300]
            log.error("model version refused", version=info.version, error=self.last_error)
            if self.model is None:
                return self._load_cached()
            return False

    def _check(self, info: ModelInfo) -> None:
        expected = features.fingerprint()
        if info.fingerprint != expected:
            raise FingerprintMismatchError(
                f"model fingerprint {info.fingerprint!r} != feature contract {expected!r}"
            )

    def _load_cached(self) -> bool:
        cached = self.cache.current()
        if cached is None:
            log.warning("no model available yet; not ready", reason=self.last_error)
            return False
        info, path = cached
        try:
            self._check(info)
            self._swap(info, load_scorer(path, self.backend), "cache")
        except Exception as err:
            self.last_error = f"cached model unusable: {err}"[:300]
            log.error("cached model refused", error=self.last_error)
            return False
        return True

    def _swap(self, info: ModelInfo, scorer: Scorer, source: str) -> None:
        scorer.predict_proba(_DEFAULTS.reshape(1, -1))  # warm up (and fail here, not later)
        self.model = LoadedModel(info, scorer, source, time.time())
        self.last_error = None
        log.info("model loaded", name=info.name, version=info.version, source=source)

    # ------------------------------------------------------------------ scoring
    def predict(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        model = self.model
        if model is None:
            raise RuntimeError("no model loaded")
        return model.scorer.predict_proba(x)

    def score_with_reasons(
        self, x: npt.NDArray[np.float32], k: int, min_probability: float = 0.0
    ) -> tuple[npt.NDArray[np.float64], list[list[dict[str, float | str]]]]:
        """Probabilities of rows ``x`` and top-``k`` occlusion reasons of those scoring at
        least ``min_probability`` (the others get an empty list).

        Only features whose value differs from its default are occluded: for the others
        the variant *is* the row and the drop is exactly 0, never a reason. All variants
        of all rows go through one model call after the call scoring the rows themselves.
        """
        probs = self.predict(x)
        n = x.shape[0]
        reasons: list[list[dict[str, float | str]]] = [[] for _ in range(n)]
        if k == 0:
            return probs, reasons
        blocks: list[npt.NDArray[np.float32]] = []
        todo: list[tuple[int, npt.NDArray[np.intp]]] = []
        for i in range(n):
            if probs[i] < min_probability:
                continue
            cols = np.flatnonzero(x[i] != _DEFAULTS)
            if cols.size == 0:
                continue
            variants = np.repeat(x[i : i + 1], cols.size, axis=0)
            variants[np.arange(cols.size), cols] = _DEFAULTS[cols]
            blocks.append(variants)
            todo.append((i, cols))
        if not blocks:
            return probs, reasons
        scores = self.predict(np.concatenate(blocks) if len(blocks) > 1 else blocks[0])
        offset = 0
        for i, cols in todo:
            deltas = probs[i] - scores[offset : offset + cols.size]
            offset += cols.size
            row = x[i]
            reasons[i] = [
                {
                    "feature": features.FEATURE_NAMES[j],
                    "value": float(row[j]),
                    "contribution": round(float(deltas[m]), 6),
                }
                for m in np.argsort(-deltas, kind="stable")[:k].tolist()
                if deltas[m] > 0
                for j in (int(cols[m]),)
            ]
        return probs, reasons
