"""The simulator data path computes exactly what features.reference_features defines."""

from __future__ import annotations

import datetime as dt
import random
import socket
from collections import defaultdict

import pandas as pd
import pytest

from fraud_contracts import features
from training import data, train
from training.settings import TrainingSettings

pytestmark = pytest.mark.unit


def _reference_rows(
    seed: int, days: int, delay: dt.timedelta, n: int
) -> tuple[pd.DataFrame, list[tuple[str, dict[str, float]]]]:
    start = dt.date(2026, 3, 1)
    events = list(data.simulator_events(seed, days, start, delay))
    frame = data.from_simulator(seed=seed, days=days, start=start, label_delay=delay)
    by_user: dict[str, list[features.Event]] = defaultdict(list)
    by_terminal: dict[str, list[features.Event]] = defaultdict(list)
    fraud_terminals = set()
    for e in events:
        tx, label = e.transaction, e.label
        ev = features.Event(tx["event_time"], tx["amount"], label["reported_at"] if label else None)
        by_user[tx["user_id"]].append(ev)
        by_terminal[tx["merchant_id"]].append(ev)
        if label:
            fraud_terminals.add(tx["merchant_id"])
    rng = random.Random(seed)
    # half at random, half at terminals with frauds (where the risk features are non-zero)
    risky = [e for e in events if e.transaction["merchant_id"] in fraud_terminals]
    sample = rng.sample(events, n // 2) + rng.sample(risky, n // 2)
    expected = []
    for e in sample:
        tx = e.transaction
        ctx = features.TransactionContext(
            tx["amount"],
            tx["is_international"],
            dt.datetime.fromtimestamp(tx["event_time"] / 1000, dt.UTC),
        )
        ref = features.reference_features(
            ctx, by_user[tx["user_id"]], by_terminal[tx["merchant_id"]]
        )
        expected.append((tx["transaction_id"], ref))
    return frame, expected


@pytest.mark.parametrize(
    "delay_days", [1, 10], ids=["labels-before-the-delay", "labels-later-than-the-delay"]
)
def test_simulator_features_equal_the_reference_definition(delay_days: int) -> None:
    frame, expected = _reference_rows(7, 24, dt.timedelta(days=delay_days), 300)
    rows = frame.set_index("transaction_id")
    nonzero_risk = 0
    for tx_id, ref in expected:
        row = rows.loc[tx_id]
        for name in features.FEATURE_NAMES:
            assert row[name] == pytest.approx(ref[name], rel=1e-12, abs=1e-12), (tx_id, name)
        nonzero_risk += ref["terminal_risk_30d"] > 0
    assert nonzero_risk >= 20  # the sample exercises the risk features


def test_frame_has_the_gold_mart_columns_and_labels(frame_30d: pd.DataFrame) -> None:
    assert list(frame_30d.columns) == list(data.COLUMNS)
    assert frame_30d["event_time"].is_monotonic_increasing
    assert frame_30d["transaction_id"].is_unique
    fraud = frame_30d[frame_30d["is_fraud"] == 1]
    assert 0.005 < len(fraud) / len(frame_30d) < 0.02
    assert fraud["fraud_scenario"].notna().all()
    assert frame_30d.loc[frame_30d["is_fraud"] == 0, "fraud_scenario"].isna().all()
    assert set(frame_30d["event_date"].unique()) == {
        dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(30)
    }


def test_labels_known_at_hides_labels_reported_later() -> None:
    start = dt.date(2026, 3, 1)
    known_at = dt.datetime(2026, 3, 5, tzinfo=dt.UTC)
    frame = data.from_simulator(seed=3, days=5, start=start, labels_known_at=known_at)
    full = data.from_simulator(seed=3, days=5, start=start)
    late = full["event_time"] >= known_at - dt.timedelta(days=1)
    assert frame.loc[late, "is_fraud"].sum() == 0 < full.loc[late, "is_fraud"].sum()
    assert (frame.loc[~late, "is_fraud"] == full.loc[~late, "is_fraud"]).all()


def test_trino_that_does_not_answer_is_one_clear_error() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = TrainingSettings(source="trino", trino_port=port)
    with pytest.raises(data.MissingDataError, match=f"127.0.0.1:{port} did not answer"):
        data.from_trino(settings)


def test_missing_training_data_ends_fraud_train_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_data(_: TrainingSettings) -> None:
        raise data.MissingDataError("gold.mart_fraud_features does not exist yet: build it")

    monkeypatch.setattr(train, "configure_logging", lambda: None)  # keep pytest's logging
    monkeypatch.setattr(train, "run", no_data)
    assert train.main(["--source", "trino"]) == 2
    err = capsys.readouterr().err
    assert err == "fraud-train: gold.mart_fraud_features does not exist yet: build it\n"
