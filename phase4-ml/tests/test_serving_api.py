"""The scoring API without external services: validation, fallback, readiness, fuzzing.

Redis points at a closed port (every lookup falls back), the prediction log is off and
the model comes from the local cache (no MLflow): what is left is the API itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from fraud_contracts import features, names
from fraud_testing.serving import ApiThread, free_port, seed_cache, train_model
from serving.main import create_app
from serving.predictor import ModelCache, Predictor
from serving.schemas import BATCH_MAX
from serving.service import ScoringService
from serving.settings import ServingSettings

pytestmark = pytest.mark.unit

TX = {
    "transaction_id": "t-1",
    "user_id": "U000001",
    "amount": 250.0,
    "merchant_id": "M00001",
    "is_international": True,
    "event_time": "2026-03-07T02:30:00Z",
}


@pytest.fixture(scope="module")
def model() -> Any:
    return train_model("hist_gradient_boosting")


def _settings(tmp: Path, **extra: Any) -> ServingSettings:
    return ServingSettings(
        redis_port=free_port(),  # nothing listens: every lookup fails fast
        redis_password=None,
        log_enabled=False,
        model_cache_dir=tmp / "models",
        spill_dir=tmp / "spill",
        breaker_fail_max=2,
        mlflow_tracking_uri="",  # no registry: the local model cache only
        **extra,
    )


def _api(settings: ServingSettings) -> ApiThread:
    return ApiThread(create_app(ScoringService(settings, registry=None)))


@pytest.fixture(scope="module")
def api(model: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("api")
    seed_cache(tmp / "models", model)
    with _api(_settings(tmp)) as server:
        yield server.url


def test_predict_answers_with_fallback_features(api: str) -> None:
    r = requests.post(f"{api}/predict", json=TX, timeout=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["transaction_id"] == "t-1"
    assert 0.0 <= body["fraud_probability"] <= 1.0
    assert body["risk_tier"] in {"low", "medium", "high"}
    assert body["model_version"] == "1"
    assert body["feature_source"] == "fallback"
    assert body["latency_ms"] > 0
    for reason in body["top_reasons"]:
        assert reason["feature"] in features.FEATURE_NAMES
        assert reason["contribution"] > 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": -5}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"amount": None}, "amount"),
        ({"user_id": ""}, "user_id"),
        ({"merchant_id": "M 1\u0000"}, "merchant_id"),
        ({"transaction_id": "x" * 65}, "transaction_id"),
        ({"is_international": "maybe"}, "is_international"),
        ({"event_time": "yesterday"}, "event_time"),
        ({"event_time": "1970-01-01T00:00:00Z"}, "event_time"),
        ({"currency": "euro"}, "currency"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api: str, change: dict[str, Any], field: str) -> None:
    r = requests.post(f"{api}/predict", json=TX | change, timeout=5)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", field]]


@pytest.mark.parametrize(
    "field", ["transaction_id", "user_id", "amount", "merchant_id", "is_international"]
)
def test_missing_required_field_is_named(api: str, field: str) -> None:
    body = {k: v for k, v in TX.items() if k != field}
    r = requests.post(f"{api}/predict", json=body, timeout=5)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", field]


def test_batch_scores_each_transaction(api: str) -> None:
    txs = [TX | {"transaction_id": f"b-{i}", "amount": 10.0 * (i + 1)} for i in range(5)]
    r = requests.post(f"{api}/predict/batch", json={"transactions": txs}, timeout=5)
    assert r.status_code == 200, r.text
    out = r.json()["predictions"]
    assert [p["transaction_id"] for p in out] == [t["transaction_id"] for t in txs]
    single = requests.post(f"{api}/predict", json=txs[3], timeout=5).json()
    assert out[3]["fraud_probability"] == single["fraud_probability"]
    empty = requests.post(f"{api}/predict/batch", json={"transactions": []}, timeout=5)
    assert empty.status_code == 422


def test_ready_model_and_metrics(api: str) -> None:
    for _ in range(3):  # enough failures to open the breaker (fail_max=2)
        requests.post(f"{api}/predict", json=TX, timeout=5)
    ready = requests.get(f"{api}/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["redis_breaker"] == "open"
    model = requests.get(f"{api}/model", timeout=5).json()
    assert model["fingerprint"] == features.fingerprint() == model["feature_contract"]
    assert model["version"] == "1" and model["alias"] == names.ALIAS_PRODUCTION
    text = requests.get(f"{api}/metrics", timeout=5).text
    for name in (
        "fraud_predictions_total",
        "fraud_prediction_latency_seconds_bucket",
        "fraud_model_version 1.0",
        "fraud_redis_cache_errors_total",
        "fraud_feature_fallback_total",
        "fraud_request_errors_total",
        "fraud_redis_cache_hits_total",
        "fraud_redis_cache_misses_total",
    ):
        assert name in text, name
    assert requests.get(f"{api}/docs", timeout=5).status_code == 200
    openapi = requests.get(f"{api}/openapi.json", timeout=5).json()
    assert {"/predict", "/predict/batch"} <= set(openapi["paths"])  # documented
    batch = openapi["components"]["schemas"]["BatchRequest"]["properties"]["transactions"]
    assert batch["maxItems"] == BATCH_MAX


def test_not_ready_without_a_model(tmp_path: Path) -> None:
    with _api(_settings(tmp_path)) as server:
        assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
        ready = requests.get(f"{server.url}/ready", timeout=5)
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert requests.post(f"{server.url}/predict", json=TX, timeout=5).status_code == 503
        assert requests.get(f"{server.url}/model", timeout=5).status_code == 503


def test_model_of_another_feature_contract_is_refused(model: Any, tmp_path: Path) -> None:
    seed_cache(tmp_path / "models", model, fingerprint="0000000000000000")
    predictor = Predictor(
        None, ModelCache(tmp_path / "models", names.MODEL_NAME), names.ALIAS_PRODUCTION
    )
    assert predictor.refresh() is False
    assert not predictor.ready
    assert "fingerprint" in (predictor.last_error or "")


def test_reasons_are_occlusion_deltas(model: Any, tmp_path: Path) -> None:
    seed_cache(tmp_path / "models", model)
    predictor = Predictor(
        None, ModelCache(tmp_path / "models", names.MODEL_NAME), names.ALIAS_PRODUCTION
    )
    predictor.refresh()
    from fraud_testing.serving import synthetic_data

    x, _ = synthetic_data(200, seed=5)
    x = x.astype(np.float32)
    probs, reasons = predictor.score_with_reasons(x, 3)
    assert np.allclose(probs, predictor.predict(x))
    defaults = [features.DEFAULTS[n] for n in features.FEATURE_NAMES]
    for i in range(0, 200, 37):
        for reason in reasons[i]:
            j = features.FEATURE_NAMES.index(str(reason["feature"]))
            variant = x[i].copy()
            variant[j] = defaults[j]
            drop = probs[i] - predictor.predict(variant.reshape(1, -1))[0]
            assert reason["contribution"] == pytest.approx(drop, abs=1e-6)
        contributions = [r["contribution"] for r in reasons[i]]
        assert contributions == sorted(contributions, reverse=True)


def test_openapi_fuzz_finds_no_server_error(api: str) -> None:
    """Property-based fuzzing of every operation in /openapi.json: never a 5xx."""
    import schemathesis
    from schemathesis import checks

    schema = schemathesis.openapi.from_url(f"{api}/openapi.json")
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy()
        from hypothesis import HealthCheck, given, settings

        @given(case=strategy)
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            response = case.call(base_url=api, timeout=10)
            if response.status_code >= 500:
                failures.append((case.operation.label, response.status_code, case.body))

        run()
    assert not failures, failures[:5]
    assert checks is not None
