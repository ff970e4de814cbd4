"""Training, evaluation and promotion settings, read from the environment (``TRAINING_``).

The tracking server is MLflow's own variable, ``MLFLOW_TRACKING_URI`` (default: the
native stack's server on :5000). Trino's address comes from the platform-wide names
(``TRINO_HOST``, ``TRINO_PORT``, ``TRINO_CATALOG``) shared with every other component.
CLI options override these values.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraud_contracts import names


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"TRAINING_{name}")


class TrainingSettings(BaseSettings):
    """Everything ``fraud-train``, ``fraud-evaluate`` and ``fraud-promote`` need."""

    model_config = SettingsConfigDict(env_prefix="TRAINING_", extra="ignore", populate_by_name=True)

    mlflow_tracking_uri: str = Field(
        "http://127.0.0.1:5000", validation_alias=_env("MLFLOW_TRACKING_URI")
    )
    experiment: str = "fraud-detection"
    #: the registered model every stage works on (its aliases: fraud_contracts.names)
    model_name: str = names.MODEL_NAME

    # ---------------------------------------------------------------- data
    source: Literal["trino", "simulator"] = "trino"
    trino_host: str = Field("127.0.0.1", validation_alias=_env("TRINO_HOST"))
    trino_port: int = Field(8085, validation_alias=_env("TRINO_PORT"))
    trino_catalog: str = Field("delta", validation_alias=_env("TRINO_CATALOG"))
    trino_user: str = "fraud-training"
    table: str = Field("gold.mart_fraud_features", description="schema.table in the catalog")
    #: simulator source: same seed and days as the producer's backfill give the same data
    seed: int = 42
    days: int = Field(30, ge=1, description="simulator source: simulated days")
    start_date: date | None = Field(None, description="simulator start (default: today - days)")
    label_delay_seconds: float = Field(
        86_400.0, ge=0, description="simulator source: when a fraud's label is reported"
    )

    # ---------------------------------------------------------------- split (Handbook)
    burn_in_days: int = Field(7, ge=0, description="first days dropped: windows not filled")
    train_days: int | None = Field(
        None, ge=1, description="training period; None: every day between burn-in and delay"
    )
    test_days: int = Field(7, ge=1)

    # ---------------------------------------------------------------- models
    rf_trees: int = Field(100, ge=1)
    rf_max_depth: int | None = Field(20, ge=1)
    gbm_trees: int = Field(400, ge=1)
    gbm_learning_rate: float = Field(0.02, gt=0)
    gbm_num_leaves: int = Field(15, ge=2)
    gbm_min_child_samples: int = Field(100, ge=1)
    gbm_scale_pos_weight: float = Field(3.0, gt=0, description="weight of the fraud class")
    n_jobs: int = Field(2, ge=1, description="RandomForest threads (2-core machine)")
    model_seed: int = 7

    # ---------------------------------------------------------------- gate
    auc_threshold: float = Field(0.90, ge=0, le=1, description="staging needs AUC >= this")
    #: a challenger may trail production by at most this much AUC and AP and stay "not worse"
    gate_tolerance: float = Field(0.0, ge=0)
    top_k: int = Field(100, ge=1, description="k of Card Precision@k")
