"""Live model quality, training/serving skew and feature drift, on hand-computed examples."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import psycopg
import pytest
from prometheus_client import REGISTRY

from fraud_contracts import features
from training import drift, monitor, skew
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


def test_skew_counts_agreeing_values_per_feature_and_whole_vectors() -> None:
    n = len(features.FEATURE_NAMES)
    gold = np.tile(np.linspace(0.5, 300.0, n), (4, 1))
    served = gold.astype(np.float32).astype(np.float64)  # the API logs the float32 input
    served[1, 0] *= 1.5  # one value of row 1 differs by 50 %
    served[2, 3] += 1.0  # one of row 2, by 1/value
    result = skew.compare(served, gold)
    assert result.compared == 4
    assert result.vectors_agree == pytest.approx(2 / 4)
    first, fourth = features.FEATURE_NAMES[0], features.FEATURE_NAMES[3]
    assert result.agree[first] == pytest.approx(3 / 4)
    assert result.disagreement[first] == pytest.approx(0.5, rel=1e-6)
    assert result.agree[fourth] == pytest.approx(3 / 4)
    assert result.disagreement[fourth] == pytest.approx(1.0 / gold[2, 3], rel=1e-5)
    others = [v for k, v in result.agree.items() if k not in {first, fourth}]
    assert others == [1.0] * (n - 2)
    with pytest.raises(ValueError, match="shapes differ"):
        skew.compare(served[:, 1:], gold)


def test_skew_measures_only_what_gold_holds() -> None:
    n = len(features.FEATURE_NAMES)
    row = [float(i) for i in range(n)]

    def query(sql: str) -> list[tuple[object, ...]]:
        assert "gold.mart_fraud_features" in sql and "'t''3'" in sql  # quoted
        return [("t1", *row), ("t2", *row[:-1], 99.0)]

    logged = [("t1", row), ("t2", row), ("t'3", row)]  # t'3 is not in gold yet
    result = skew.measure(logged, query, "delta")
    assert result.compared == 2
    assert result.vectors_agree == pytest.approx(0.5)
    assert result.agree[features.FEATURE_NAMES[-1]] == pytest.approx(0.5)


class Connection:
    """A psycopg connection that answers every statement with ``rows``."""

    def __init__(self, rows: list[tuple[object, ...]]) -> None:
        self.rows = rows
        self.statements: list[tuple[str, Any]] = []

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: Any = None) -> Connection:
        self.statements.append((sql, params))
        return self

    def fetchall(self) -> list[tuple[object, ...]]:
        return self.rows


def psi_gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_drift_pass_samples_served_vectors_and_keeps_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = len(features.FEATURE_NAMES)
    r = np.random.default_rng(1)
    gold = r.lognormal(1.0, 1.0, (2_000, n))
    served = r.lognormal(1.0, 1.0, (300, n))
    served[:, features.FEATURE_NAMES.index("amount")] *= 4.0  # drifted
    conn = Connection([(f"t{i}", list(v)) for i, v in enumerate(served)])
    queries: list[str] = []

    def query(_settings: object, sql: str, user: str) -> list[list[float]]:
        queries.append(sql)
        return [list(map(float, row)) for row in gold]

    monkeypatch.setattr(psycopg, "connect", lambda dsn: conn)
    monkeypatch.setattr(monitor, "execute", query)
    monkeypatch.setattr(monitor, "REFERENCE", drift.ReferenceCache())
    settings = monitor.MonitorSettings(predictions_db_password="x")  # type: ignore[arg-type]
    now = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    result = monitor.measure_drift(settings, now)
    (sql, params), (gold_sql,) = conn.statements[0], queries
    assert sql == skew.SAMPLE_SQL  # served from a current online state only
    assert params == (now - dt.timedelta(hours=1), now, settings.drift_sample)
    assert "from_iso8601_timestamp('2026-11-30T11:00:00+00:00')" in gold_sql  # 7 days before
    assert (result.reference_rows, result.current_rows) == (2_000, 300)
    assert result.worst == "amount" and result.max_psi > drift.SIGNIFICANT
    monitor.measure_drift(settings, now + dt.timedelta(minutes=5))
    assert len(queries) == 1  # the reference is kept across passes

    monitor.export_drift(result)
    assert psi_gauge("fraud_feature_psi_compared") == 300
    assert psi_gauge("fraud_feature_psi_max") == pytest.approx(result.max_psi)
    assert psi_gauge("fraud_feature_psi", feature="amount") == pytest.approx(result.max_psi)
    assert psi_gauge("fraud_feature_psi", feature="is_night") is None  # never measured

    conn.rows = conn.rows[: settings.drift_min_rows - 1]  # a quiet hour: too few to judge
    small = monitor.measure_drift(settings, now + dt.timedelta(minutes=10))
    monitor.export_drift(small)
    assert psi_gauge("fraud_feature_psi_compared") == settings.drift_min_rows - 1
    assert math.isnan(psi_gauge("fraud_feature_psi_max") or 0.0)
    assert math.isnan(psi_gauge("fraud_feature_psi", feature="amount") or 0.0)
