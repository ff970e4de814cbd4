"""Model selection on prequential validation folds, never on the test window.

Every candidate family is fitted on each validation fold's training days and scored on
its validation days (training/split.py: folds before the final training window's end,
each with the label delay); with ``average``, the mean of all families' probabilities is
one more option, scored on the same folds from the same fits. The option with the highest
mean average precision over the folds wins (ties: mean AUC); only that one is then
fitted on the final training window and scored, once, on the test window. The
hyperparameters of each family are fixed beforehand (settings defaults, from the offline
search ``fraud-tune``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import structlog

from fraud_contracts import features
from training import data, models
from training.metrics import evaluate
from training.split import Split

log = structlog.get_logger("training.select")

#: headline metrics averaged over the folds
METRICS = ("auc", "average_precision", "card_precision_at_100")


@dataclass(frozen=True)
class Validation:
    """One candidate family's scores on the validation folds."""

    kind: str
    folds: list[dict[str, float]]
    fit_seconds: float
    #: P(fraud) on each fold's validation rows (what an average is computed from)
    predictions: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)

    def mean(self, metric: str) -> float:
        return float(np.mean([f[metric] for f in self.folds]))

    def std(self, metric: str) -> float:
        return float(np.std([f[metric] for f in self.folds]))

    def key(self) -> tuple[float, float]:
        """What selection maximises: mean AP, then mean AUC."""
        return (self.mean("average_precision"), self.mean("auc"))

    def summary(self) -> dict[str, float]:
        """Mean and standard deviation of every metric (``val_<metric>``, ``..._std``);
        empty without folds."""
        out: dict[str, float] = {}
        if not self.folds:
            return out
        for m in METRICS:
            out[f"val_{m}"] = self.mean(m)
            out[f"val_{m}_std"] = self.std(m)
        return out


def score_on(candidate: models.Candidate, fold: Split, k: int) -> dict[str, float]:
    """Fit ``candidate`` on the fold's training rows; its metrics on the fold's test rows."""
    return predict_on(candidate, fold, k)[0]


def predict_on(
    candidate: models.Candidate, fold: Split, k: int
) -> tuple[dict[str, float], np.ndarray]:
    """:func:`score_on`, with the predictions it scored."""
    models.fit(candidate, data.inputs(fold.train), fold.train[features.LABEL].to_numpy())
    p = candidate.predict(data.inputs(fold.test))
    return evaluate(fold.test, p, features.LABEL, k=k).headline(), p


def validate(
    make: Callable[[], models.Candidate], folds: Sequence[Split], k: int = 100
) -> Validation:
    """The scores of fresh candidates from ``make`` on every fold."""
    t0 = time.monotonic()
    scores, predictions = [], []
    kind = ""
    for fold in folds:
        candidate = make()
        kind = candidate.kind
        score, p = predict_on(candidate, fold, k)
        scores.append(score)
        predictions.append(p)
    return Validation(kind, scores, time.monotonic() - t0, predictions)


def average(validations: Sequence[Validation], folds: Sequence[Split], k: int = 100) -> Validation:
    """The validation of the mean of the families' probabilities, from their fold
    predictions (the same fits: what the average of those fitted models would score)."""
    scores, predictions = [], []
    for i, fold in enumerate(folds):
        p = np.mean([v.predictions[i] for v in validations], axis=0)
        scores.append(evaluate(fold.test, p, features.LABEL, k=k).headline())
        predictions.append(p)
    kind = models.average_kind([v.kind for v in validations])
    return Validation(kind, scores, sum(v.fit_seconds for v in validations), predictions)


def choose(validations: Sequence[Validation]) -> Validation:
    """The best validation (highest mean AP, then mean AUC)."""
    if not validations:
        raise ValueError("no candidate to choose from")
    return max(validations, key=Validation.key)


def select(
    kinds: Sequence[str],
    build: Callable[[str], models.Candidate],
    folds: Sequence[Split],
    k: int = 100,
    with_average: bool = False,
) -> tuple[Validation, list[Validation]]:
    """Validate every family of ``kinds`` (and, ``with_average``, the mean of all of them
    when there are several); the chosen one and all of them.

    Without folds (too little history for one) nothing can be compared: the first of
    ``kinds`` is taken, unvalidated (the caller tags it so).
    """
    if not folds:
        log.warning("no validation fold fits: the first candidate is taken", model=kinds[0])
        return Validation(kinds[0], [], 0.0), []
    results = []
    for kind in kinds:
        v = validate(partial(build, kind), folds, k)
        log.info(
            "validated",
            model=kind,
            folds=len(folds),
            val_ap=round(v.mean("average_precision"), 4),
            val_auc=round(v.mean("auc"), 4),
            val_cp100=round(v.mean("card_precision_at_100"), 4),
            seconds=round(v.fit_seconds, 1),
        )
        results.append(v)
    if with_average and len(results) > 1:
        v = average(results, folds, k)
        log.info(
            "validated",
            model=v.kind,
            folds=len(folds),
            val_ap=round(v.mean("average_precision"), 4),
            val_auc=round(v.mean("auc"), 4),
            val_cp100=round(v.mean("card_precision_at_100"), 4),
        )
        results.append(v)
    return choose(results), results
