"""Behavioural tests of the trained model: directional expectations and invariances.

The invariance to identifiers is tested where identifiers exist: in the scoring API, which
turns a transaction's user and terminal identifiers into stored feature records (the
model itself never sees an identifier).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from fraud_contracts import features
from fraud_testing.serving import (
    ApiThread,
    RedisProcess,
    StreamHeartbeat,
    card_history,
    seed_cache,
)
from serving.feature_store import FraudReport, RedisFeatureStore
from serving.main import create_app
from serving.service import ScoringService
from serving.settings import ServingSettings
from training import data, models
from training.split import Split

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


@pytest.mark.unit
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


@pytest.mark.unit
def test_far_higher_amount_than_usual_raises_the_probability(
    trained_lightgbm: models.Candidate, genuine_sample: pd.DataFrame
) -> None:
    usual = genuine_sample.copy()
    odd = genuine_sample.copy()
    odd["amount"] = usual["amount"] * 5
    odd["amount_to_user_avg_30d"] = usual["amount_to_user_avg_30d"] * 5
    assert _score(trained_lightgbm, odd).mean() > 2 * _score(trained_lightgbm, usual).mean()


@pytest.mark.unit
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


# ---------------------------------------------------------------- through the scoring API
#: a night-time transaction (the API recomputes the calendar features from event_time)
EVENT_TIME = "2026-03-07T02:30:00Z"


@pytest.fixture(scope="module")
def scoring_api(
    trained_lightgbm: models.Candidate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, RedisFeatureStore]]:
    """The trained model behind the real API (uvicorn, ScoringService, feature store) with
    a private redis-server as its store."""
    redis_server = RedisProcess()
    redis_server.start()
    tmp = tmp_path_factory.mktemp("behaviour")
    seed_cache(tmp / "models", trained_lightgbm.model)
    settings = ServingSettings(
        redis_port=redis_server.port,
        redis_password=redis_server.password,
        redis_timeout_seconds=2.0,
        log_enabled=False,
        mlflow_tracking_uri="",  # the model cache only
        model_cache_dir=tmp / "models",
        spill_dir=tmp / "spill",
        reasons_min_tier="low",  # every answer carries its reasons: compared below
    )
    store = RedisFeatureStore.from_settings(settings)
    try:
        with (
            StreamHeartbeat(store.writer()),  # the online state counts as current
            ApiThread(create_app(ScoringService(settings))) as api,
        ):
            yield api.url, store
    finally:
        redis_server.stop()


def _predict(url: str, **tx: object) -> dict[str, Any]:
    body = {"is_international": False, "event_time": EVENT_TIME} | tx
    r = requests.post(f"{url}/predict", json=body, timeout=10)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    assert answer["feature_source"] == "redis"
    return answer


@pytest.mark.e2e
def test_identifiers_matter_only_through_the_records_they_point_at(
    scoring_api: tuple[str, RedisFeatureStore], genuine_sample: pd.DataFrame
) -> None:
    """Two transactions whose identifiers differ but whose cards and terminals have the
    same history score the same; pointing the same transaction at a terminal whose recent
    transactions were frauds, or at a card without history, changes its score."""
    url, store = scoring_api
    row = genuine_sample.sort_values("user_tx_count_30d").iloc[-1]  # a user with history
    at = features.to_ms(dt.datetime.fromisoformat(EVENT_TIME))
    avg = float(row["user_avg_amount_30d"])
    n_user = max(int(row["user_tx_count_30d"]), 3)
    # the same spending history on two cards, the same traffic at two terminals, and a
    # terminal whose recent transactions were reported as frauds (before the day's delay)
    amounts = [round(avg * (0.6 + 0.8 * i / n_user), 2) for i in range(n_user)]
    txs = [
        *card_history("U-a", "M-home", at, amounts, tag="a:"),
        *card_history("U-b", "M-home", at, amounts, tag="b:"),
    ]
    for terminal in ("M-a", "M-b", "M-compromised"):
        txs += card_history(f"U-{terminal}", terminal, at, [30.0] * 40, tag=f"{terminal}:")
    frauds = [t for t in txs if t.merchant_id == "M-compromised"][-20:]
    reports = [FraudReport(t.transaction_id, t.user_id, t.event_ms + 3_600_000) for t in frauds]
    store.writer().write(txs, reports, now_ms=at)
    user = {"user_avg_amount_30d": sum(amounts) / len(amounts)}
    tx = {"amount": round(user["user_avg_amount_30d"], 2)}  # the user's usual amount
    first = _predict(url, transaction_id="t-1", user_id="U-a", merchant_id="M-a", **tx)
    renamed = _predict(url, transaction_id="t-2", user_id="U-b", merchant_id="M-b", **tx)
    assert renamed["transaction_id"] == "t-2"
    for field in ("fraud_probability", "risk_tier", "top_reasons"):
        assert renamed[field] == first[field], field

    compromised = _predict(
        url, transaction_id="t-3", user_id="U-a", merchant_id="M-compromised", **tx
    )
    assert compromised["fraud_probability"] > first["fraud_probability"]
    new_user = _predict(url, transaction_id="t-4", user_id="U-unknown", merchant_id="M-a", **tx)
    assert new_user["fraud_probability"] != first["fraud_probability"]
