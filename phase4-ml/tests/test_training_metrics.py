"""Metrics against small hand-computed cases."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from training.metrics import HANDBOOK_BASELINES, card_precision_top_k, evaluate, table

pytestmark = pytest.mark.unit


def test_card_precision_at_k_by_hand() -> None:
    d1, d2 = date(2026, 1, 1), date(2026, 1, 2)
    days = pd.Series([d1, d1, d1, d1, d1, d2, d2, d2])
    cards = pd.Series(["a", "a", "b", "c", "d", "a", "b", "c"])
    labels = [0, 1, 0, 1, 0, 0, 0, 1]
    scores = [0.9, 0.1, 0.8, 0.7, 0.2, 0.3, 0.9, 0.1]
    # day 1: card maxima a 0.9 (fraud), b 0.8, c 0.7 (fraud), d 0.2 -> top 2 {a, b}: 1/2,
    #        a detected
    # day 2 without a: b 0.9, c 0.1 (fraud) -> top 2 {b, c}: 1/2
    assert card_precision_top_k(days, cards, labels, scores, k=2) == pytest.approx(0.5)
    # the variant without removal: day 2 is b 0.9, a 0.3, c 0.1 -> top 2 {b, a}: 0/2
    assert card_precision_top_k(
        days, cards, labels, scores, k=2, remove_detected=False
    ) == pytest.approx(0.25)
    # k larger than the cards of a day still divides by k; day 1 detects a and c, so day 2
    # has only b left: (2/4 + 0/4) / 2 (without removal: (2/4 + 1/4) / 2)
    assert card_precision_top_k(days, cards, labels, scores, k=4) == pytest.approx(0.25)
    assert card_precision_top_k(
        days, cards, labels, scores, k=4, remove_detected=False
    ) == pytest.approx((2 / 4 + 1 / 4) / 2)


def test_evaluate_perfect_and_inverted_scores() -> None:
    n = 400
    test = pd.DataFrame(
        {
            "event_date": [date(2026, 1, 1 + i // 100) for i in range(n)],
            "user_id": [f"u{i}" for i in range(n)],
            "is_fraud": [int(i % 10 == 0) for i in range(n)],
        }
    )
    y = test["is_fraud"].to_numpy().astype(float)
    good = evaluate(test, y, "is_fraud", k=10)
    assert (good.auc, good.average_precision, good.brier) == (1.0, 1.0, 0.0)
    assert good.card_precision_at_100 == pytest.approx(1.0)  # 10 frauds a day, k=10
    bad = evaluate(test, 1.0 - y, "is_fraud", k=10)
    assert bad.auc == 0.0
    assert bad.card_precision_at_100 == 0.0
    assert bad.brier == 1.0
    assert set(good.reliability) == {"predicted", "observed"}


def test_evaluate_needs_both_classes() -> None:
    test = pd.DataFrame(
        {"event_date": [date(2026, 1, 1)] * 3, "user_id": list("abc"), "is_fraud": [0, 0, 0]}
    )
    with pytest.raises(ValueError, match="frauds and genuine"):
        evaluate(test, np.zeros(3), "is_fraud")


def test_table_lists_models_and_handbook_baselines() -> None:
    text = table(
        {
            "mine": {"auc": 0.9, "average_precision": 0.7, "card_precision_at_100": 0.31},
            **HANDBOOK_BASELINES,
        }
    )
    assert "AUC-ROC" in text and "AP" in text and "CP@100" in text
    assert "0.867" in text and "0.658" in text and "0.287" in text
    assert "0.869" in text and "0.687" in text and "0.303" in text
