"""Live model quality: the metrics of one version on a hand-computed example."""

from __future__ import annotations

import numpy as np
import pytest

from training.monitor import quality

pytestmark = pytest.mark.unit


def test_quality_on_a_hand_computed_example() -> None:
    scores = np.array([0.9, 0.8, 0.2, 0.75, 0.1])
    flagged = scores >= 0.7  # the high tier
    fraud = np.array([True, False, True, False, False])
    amounts = np.array([120.0, 30.0, 55.5, 10.0, 1.0])
    q = quality("3", scores, flagged, fraud, amounts)
    assert (q.labelled, q.frauds, q.flagged) == (5, 2, 3)
    # the flagged fraud (120.0) is prevented, the fraud scored 0.2 (55.5) is missed
    assert (q.fraud_amount_caught, q.fraud_amount_missed) == (120.0, 55.5)
    assert q.precision == pytest.approx(1 / 3)  # one of three flagged is a fraud
    assert q.recall == pytest.approx(1 / 2)  # one of two frauds is flagged
    # positives 0.9 and 0.2 against negatives 0.8, 0.75, 0.1: 3 + 1 of 6 pairs ordered
    assert q.auc == pytest.approx(4 / 6)
    # ranks of the positives 1 and 4: precision 1/1 and 2/4, averaged
    assert q.average_precision == pytest.approx((1 + 0.5) / 2)


def test_quality_without_frauds_reports_no_ranking_metrics() -> None:
    scores = np.array([0.9, 0.1])
    q = quality("1", scores, scores >= 0.7, np.array([False, False]))
    assert q.precision == 0.0 and q.recall is None
    assert q.auc is None and q.average_precision is None
