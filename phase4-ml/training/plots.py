"""Evaluation figures logged with every model: ROC, precision-recall, calibration,
feature importances (matplotlib, no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure
from sklearn.metrics import auc, precision_recall_curve, roc_curve

from training.metrics import Scores


def roc(labels: npt.ArrayLike, scores: npt.ArrayLike, title: str) -> Figure:
    fpr, tpr, _ = roc_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC = {auc(fpr, tpr):.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC — {title}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def precision_recall(labels: npt.ArrayLike, scores: npt.ArrayLike, title: str, ap: float) -> Figure:
    precision, recall, _ = precision_recall_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(recall, precision, label=f"AP = {ap:.3f}")
    ax.axhline(float(np.mean(np.asarray(labels))), linestyle="--", color="grey", label="fraud rate")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall — {title}")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def calibration(scores: Scores, title: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 5))
    curve = scores.reliability
    ax.plot(curve["predicted"], curve["observed"], marker="o", label=f"Brier = {scores.brier:.4f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed fraud rate",
        title=f"Reliability — {title}",
        xscale="symlog",
        yscale="symlog",
    )
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def importances(values: dict[str, float], title: str) -> Figure:
    names = sorted(values, key=values.__getitem__)
    fig, ax = plt.subplots(figsize=(6, 7))
    ax.barh(names, [values[n] for n in names])
    ax.set(xlabel="share of importance", title=f"Feature importance — {title}")
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
