"""MLflow model-registry helpers shared by train, evaluate and promote (aliases only)."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from training.settings import TrainingSettings


def client(settings: TrainingSettings) -> MlflowClient:
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)


def version_by_alias(c: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version ``alias`` points to, or None (no such alias or model)."""
    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def latest_version(c: MlflowClient, name: str) -> ModelVersion | None:
    """The highest version number of the registered model, or None."""
    try:
        versions = c.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    return max(versions, key=lambda v: int(v.version), default=None)


def get_version(c: MlflowClient, name: str, version: str | None) -> ModelVersion:
    """``version`` of the model (default: the latest); a clear error when none exists."""
    found = c.get_model_version(name, version) if version else latest_version(c, name)
    if found is None:
        raise LookupError(f"registered model {name!r} has no version yet: run fraud-train")
    return found


def load_model(name: str, version: str) -> Any:
    """The fitted sklearn-API estimator of a model version (predict_proba)."""
    return mlflow.sklearn.load_model(f"models:/{name}/{version}")


def add_data_options(p: argparse.ArgumentParser) -> None:
    """CLI options choosing the training data (shared by fraud-train and fraud-evaluate)."""
    p.add_argument("--source", choices=["trino", "simulator"])
    p.add_argument("--table", help="schema.table in the Trino catalog (trino source)")
    p.add_argument("--days", type=int, help="simulated days (simulator source)")
    p.add_argument("--start-date", type=date.fromisoformat, help="simulator start (UTC)")
    p.add_argument("--seed", type=int, help="simulator seed")
    p.add_argument("--label-delay-seconds", type=float, help="simulator label reporting delay")
    p.add_argument("--tracking-uri", dest="mlflow_tracking_uri", help="MLflow tracking URI")
    p.add_argument("--experiment")
    p.add_argument("--model-name")


def present(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if v is not None}
