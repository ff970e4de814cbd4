"""Fixtures of the phase-4 training tests: simulated data, small trained models, MLflow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest

from fraud_infra.stack import Stack, StackError
from fraud_testing.serving import RedisProcess
from training import data, models
from training.settings import TrainingSettings
from training.split import Split, split

START = date(2026, 1, 1)
MLFLOW_SERVICE = "mlflow"


@pytest.fixture(scope="session")
def frame_30d() -> pd.DataFrame:
    """30 simulated days (seed 42 from 2026-01-01): ~300k transactions, ~1 % fraud."""
    return data.from_simulator(seed=42, days=30, start=START)


@pytest.fixture(scope="session")
def split_30d(frame_30d: pd.DataFrame) -> Split:
    return split(frame_30d)


@pytest.fixture(scope="session")
def small_settings() -> TrainingSettings:
    return TrainingSettings(rf_trees=20, rf_max_depth=12, gbm_trees=150, gbm_learning_rate=0.05)


@pytest.fixture(scope="session")
def trained_lightgbm(split_30d: Split, small_settings: TrainingSettings) -> models.Candidate:
    c = models.lightgbm(small_settings)
    return models.fit(c, data.inputs(split_30d.train), split_30d.train["is_fraud"].to_numpy())


@pytest.fixture(scope="session")
def trained_forest(split_30d: Split, small_settings: TrainingSettings) -> models.Candidate:
    c = models.random_forest(small_settings)
    return models.fit(c, data.inputs(split_30d.train), split_30d.train["is_fraud"].to_numpy())


@pytest.fixture(scope="session")
def mlflow_server(native_stack: Stack) -> Iterator[str]:
    """The native ``mlflow`` service's URL; started if needed, stopped only if started here."""
    svc = native_stack.services[MLFLOW_SERVICE]
    info = native_stack.process_info(MLFLOW_SERVICE)
    running = bool(info and info["statename"] == "RUNNING" and native_stack.is_ready(svc.ready))
    started: list[str] = []
    if not running:
        try:
            started = native_stack.up([MLFLOW_SERVICE])
        except StackError as err:
            pytest.fail(f"mlflow did not come up: {err}", pytrace=False)
    try:
        yield svc.url or "http://127.0.0.1:5000"
    finally:
        if MLFLOW_SERVICE in started:
            native_stack.stop([MLFLOW_SERVICE])


@pytest.fixture(scope="module")
def private_redis() -> Iterator[RedisProcess]:
    """A redis-server of the test module's own (never the shared stack's), on a free port."""
    r = RedisProcess()
    r.start()
    try:
        yield r
    finally:
        r.stop()
