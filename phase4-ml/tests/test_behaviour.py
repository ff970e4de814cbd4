"""Behavioural tests of the trained model: directional expectations and invariances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training import data, models
from training.split import Split

pytestmark = pytest.mark.unit

RISK = ["terminal_risk_1d", "terminal_risk_7d", "terminal_risk_30d"]


def _score(candidate: models.Candidate, frame: pd.DataFrame) -> np.ndarray:
    return candidate.predict(data.inputs(frame))


@pytest.fixture(scope="module")
def genuine_sample(split_30d: Split) -> pd.DataFrame:
    test = split_30d.test
    return test[test["is_fraud"] == 0].sample(2000, random_state=1)


#: a terminal compromised about 9 days ago: yesterday's window (before the delay) all
#: fraud, half of the 7-day one, a fifth of the 30-day one
COMPROMISED = {"terminal_risk_1d": 1.0, "terminal_risk_7d": 0.5, "terminal_risk_30d": 0.2}


@pytest.mark.parametrize(
    ("fixture", "factor"), [("trained_forest", 1.2), ("trained_lightgbm", 5.0)]
)
def test_higher_terminal_risk_raises_the_probability(
    fixture: str, factor: float, genuine_sample: pd.DataFrame, request: pytest.FixtureRequest
) -> None:
    candidate: models.Candidate = request.getfixturevalue(fixture)
    calm, risky = genuine_sample.copy(), genuine_sample.copy()
    calm[RISK] = 0.0
    for name, value in COMPROMISED.items():
        risky[name] = value
    p_calm, p_risky = _score(candidate, calm), _score(candidate, risky)
    assert p_risky.mean() > factor * p_calm.mean()


def test_far_higher_amount_than_usual_raises_the_probability(
    trained_lightgbm: models.Candidate, genuine_sample: pd.DataFrame
) -> None:
    usual = genuine_sample.copy()
    odd = genuine_sample.copy()
    odd["amount"] = usual["amount"] * 5
    odd["amount_to_user_avg_30d"] = usual["amount_to_user_avg_30d"] * 5
    assert _score(trained_lightgbm, odd).mean() > 2 * _score(trained_lightgbm, usual).mean()


def test_scores_do_not_depend_on_identifiers(
    trained_lightgbm: models.Candidate, genuine_sample: pd.DataFrame
) -> None:
    renamed = genuine_sample.copy()
    renamed["user_id"] = np.random.default_rng(0).permutation(renamed["user_id"].to_numpy())
    renamed["transaction_id"] = "x"
    renamed["merchant_id"] = "m"
    np.testing.assert_array_equal(
        _score(trained_lightgbm, renamed), _score(trained_lightgbm, genuine_sample)
    )


def test_training_is_reproducible(split_30d: Split, trained_lightgbm: models.Candidate) -> None:
    from training.settings import TrainingSettings

    settings = TrainingSettings(rf_trees=20, rf_max_depth=12, gbm_trees=150, gbm_learning_rate=0.05)
    again = models.fit(
        models.lightgbm(settings),
        data.inputs(split_30d.train),
        split_30d.train["is_fraud"].to_numpy(),
    )
    x = data.inputs(split_30d.test)
    np.testing.assert_array_equal(again.predict(x), trained_lightgbm.predict(x))
