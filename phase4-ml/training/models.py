"""The candidate models: a RandomForest baseline and gradient-boosted trees (LightGBM and
XGBoost, the Handbook's best family), and the average of several of them.

All handle the rare fraud class by re-weighting the classes (RandomForest: balanced per
bootstrap sample; LightGBM and XGBoost: ``scale_pos_weight``, 3 by default, a partial
re-weighting: the full genuine/fraud ratio blurs the top of the ranking, where
investigators look). All are seeded and deterministic: same data and settings, same
model. The boosted models run on one thread (OpenMP threads spinning on a busy machine
slow a fit down instead of up). Which one is trained and registered is chosen on
validation folds before the test window (training/select.py); the defaults of their
hyperparameters come from the offline search ``fraud-tune`` (training/tune.py).

An **average** (kind ``"random_forest+lightgbm+xgboost"``, families joined by ``+``) is
the mean of its members' probabilities: a scikit-learn ``VotingClassifier`` with soft
voting over the fitted members (each wrapped in ``FrozenEstimator`` so the ensemble never
refits them), so MLflow's scikit-learn flavour logs and loads it like any family and
the ONNX export (training/export.py) compiles it into one graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from lightgbm import Booster, LGBMClassifier
from sklearn.ensemble import RandomForestClassifier, VotingClassifier
from sklearn.frozen import FrozenEstimator
from xgboost import XGBClassifier

from training.settings import TrainingSettings

RANDOM_FOREST = "random_forest"
LIGHTGBM = "lightgbm"
XGBOOST = "xgboost"

#: Types MLflow's skops serialisation must be told to trust, per model kind (reviewed:
#: our own fitted estimators, never files from elsewhere).
SKOPS_TRUSTED_TYPES: dict[str, list[str]] = {
    RANDOM_FOREST: ["sklearn.tree._tree.Tree"],
    LIGHTGBM: [
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
    ],
    XGBOOST: [
        "builtins.bytearray",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
    ],
}
#: what an average adds to its members' types
_AVERAGE_TRUSTED_TYPES = [
    "sklearn.ensemble._voting.VotingClassifier",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.utils._bunch.Bunch",
]
#: joins the families of an average's kind
AVERAGE = "+"


def members(kind: str) -> list[str]:
    """The families of ``kind`` (one for a family, several for an average)."""
    return kind.split(AVERAGE)


def average_kind(kinds: Sequence[str]) -> str:
    return AVERAGE.join(kinds)


def trusted_types(kind: str) -> list[str]:
    """The types skops must trust to load a logged model of ``kind``."""
    found = [t for m in members(kind) for t in SKOPS_TRUSTED_TYPES[m]]
    if len(members(kind)) > 1:
        found += _AVERAGE_TRUSTED_TYPES
    return sorted(set(found))


#: the PyPI package of each boosted family (what a logged model needs beside sklearn)
_PACKAGES: dict[str, list[str]] = {LIGHTGBM: ["lightgbm"], XGBOOST: ["xgboost-cpu"]}


def requirements(kind: str) -> list[str]:
    """Pinned packages a logged model needs (explicit: MLflow's own inference is slow)."""
    extra = [p for m in members(kind) for p in _PACKAGES.get(m, [])]
    names = ["scikit-learn", "numpy", "pandas", "skops", *dict.fromkeys(extra)]
    return [f"{n}=={version(n)}" for n in names]


@dataclass
class Candidate:
    kind: str
    model: Any
    params: dict[str, Any]

    def predict(self, x: pd.DataFrame) -> npt.NDArray[np.float64]:
        """P(fraud) per row."""
        return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)

    def importances(self) -> dict[str, float]:
        """Normalised feature importances (impurity for RF, gain for the boosted models;
        an average: the mean of its members' normalised importances)."""
        names = [str(n) for n in self.model.feature_names_in_]
        fitted = self.fitted_members
        raw = np.zeros(len(names))
        for model in fitted:
            one = np.asarray(model.feature_importances_, dtype=np.float64)
            raw += one / (one.sum() or 1.0)
        raw /= len(fitted)
        return {n: float(v) for n, v in zip(names, raw, strict=True)}

    @property
    def fitted_members(self) -> list[Any]:
        """The fitted models whose probabilities it averages (itself for a family)."""
        if isinstance(self.model, VotingClassifier):
            return [f.estimator for f in self.model.estimators_]
        return [self.model]


def random_forest(settings: TrainingSettings) -> Candidate:
    params: dict[str, Any] = {
        "n_estimators": settings.rf_trees,
        "max_depth": settings.rf_max_depth,
        "min_samples_leaf": settings.rf_min_samples_leaf,
        "max_samples": settings.rf_max_samples,
        "class_weight": "balanced_subsample",
        "n_jobs": settings.n_jobs,
        "random_state": settings.model_seed,
    }
    return Candidate(RANDOM_FOREST, RandomForestClassifier(**params), params)


def lightgbm(settings: TrainingSettings) -> Candidate:
    params: dict[str, Any] = {
        "n_estimators": settings.gbm_trees,
        "learning_rate": settings.gbm_learning_rate,
        "num_leaves": settings.gbm_num_leaves,
        "min_child_samples": settings.gbm_min_child_samples,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "scale_pos_weight": settings.gbm_scale_pos_weight,
        "importance_type": "gain",
        "n_jobs": 1,
        "random_state": settings.model_seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    return Candidate(LIGHTGBM, LGBMClassifier(**params), params)


def xgboost(settings: TrainingSettings) -> Candidate:
    params: dict[str, Any] = {
        "n_estimators": settings.xgb_trees,
        "learning_rate": settings.xgb_learning_rate,
        "max_depth": settings.xgb_max_depth,
        "min_child_weight": settings.xgb_min_child_weight,
        "subsample": settings.xgb_subsample,
        "colsample_bytree": settings.xgb_colsample_bytree,
        "scale_pos_weight": settings.xgb_scale_pos_weight,
        "tree_method": "hist",
        "importance_type": "gain",
        "n_jobs": 1,
        "random_state": settings.model_seed,
    }
    return Candidate(XGBOOST, XGBClassifier(**params), params)


#: every candidate family by name
BUILDERS: dict[str, Callable[[TrainingSettings], Candidate]] = {
    RANDOM_FOREST: random_forest,
    LIGHTGBM: lightgbm,
    XGBOOST: xgboost,
}


@dataclass
class _Unfitted:
    """An average before fitting: its members' candidates."""

    members: list[Candidate]


def build(kind: str, settings: TrainingSettings) -> Candidate:
    """A fresh, unfitted candidate of family ``kind``, or of an average (``a+b+...``)."""
    kinds = members(kind)
    if len(kinds) == 1:
        return BUILDERS[kind](settings)
    parts = [BUILDERS[k](settings) for k in kinds]
    return Candidate(kind, _Unfitted(parts), _member_params(parts))


def fit(candidate: Candidate, x: pd.DataFrame, y: npt.NDArray[np.int64]) -> Candidate:
    if isinstance(candidate.model, _Unfitted):
        parts = [fit(c, x, y) for c in candidate.model.members]
        candidate.model = average(parts, x, y).model
        return candidate
    if isinstance(candidate.model, VotingClassifier):
        raise ValueError(f"{candidate.kind} is fitted already: build a fresh candidate")
    candidate.model.fit(x, y)
    if candidate.kind == LIGHTGBM:
        snap_thresholds_to_float32(candidate.model)
    return candidate


def average(parts: Sequence[Candidate], x: pd.DataFrame, y: npt.NDArray[np.int64]) -> Candidate:
    """The average of fitted candidates (``x``, ``y``: what they were fitted on; only the
    classes and feature names are read, the members are never refitted)."""
    voting = VotingClassifier([(c.kind, FrozenEstimator(c.model)) for c in parts], voting="soft")
    return Candidate(average_kind([c.kind for c in parts]), voting.fit(x, y), _member_params(parts))


def _member_params(parts: Sequence[Candidate]) -> dict[str, Any]:
    """An average's parameters: each member's, prefixed with its family."""
    return {f"{c.kind}.{k}": v for c in parts for k, v in c.params.items()}


def _float32_floor(value: float) -> float:
    """The largest float32 value <= ``value`` (as a float)."""
    f = np.float32(value)
    if float(f) > value:
        f = np.nextafter(f, np.float32(-np.inf))
    return float(f)


def snap_thresholds_to_float32(model: LGBMClassifier) -> int:
    """Replace every split threshold ``t`` by the largest float32 value ``<= t``.

    For float32 inputs ``x`` (what the models see, see :func:`training.data.inputs`),
    ``x <= t`` and ``x <= floor32(t)`` are the same test, so predictions do not change;
    but ONNX tree operators store thresholds as float32, and LightGBM's midpoint
    thresholds rounded to the *nearest* float32 send a value equal to the rounded
    threshold down the other branch. Snapped, the ONNX export agrees exactly.
    Returns how many thresholds changed.
    """
    booster = model.booster_
    lines = booster.model_to_string().split("\n")
    changed = 0
    # tree_sizes= gives the byte size of each tree's text: stale once edited; optional
    lines = [line for line in lines if not line.startswith("tree_sizes=")]
    for i, line in enumerate(lines):
        if not line.startswith("threshold="):
            continue
        values = []
        for raw in line.removeprefix("threshold=").split():
            value = float(raw)
            snapped = _float32_floor(value)
            changed += snapped != value
            values.append(repr(snapped))
        lines[i] = "threshold=" + " ".join(values)
    model._Booster = Booster(model_str="\n".join(lines))
    return changed
