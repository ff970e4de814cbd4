"""The names the phases meet by: topics, tables, MLflow's registry entries.

Each name is the one the original description uses, so that a user finds in the code
what they read about. Components read the topic and endpoint *values* from their
settings (an environment may rename a topic); these are the defaults and the fixed
names of the lakehouse and the model registry. The Redis key layout of the online
feature state is part of :mod:`fraud_contracts.online`, and the DLQ record headers of
:mod:`fraud_contracts.dlq`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# ---------------------------------------------------------------- Kafka (phase 1 -> 2)
TOPIC_RAW: Final = "transactions.raw"
TOPIC_DLQ: Final = "transactions.dlq"
TOPIC_LABELS: Final = "transactions.labels"
#: the Schema Registry subjects of the two value schemas (TopicNameStrategy)
SUBJECT_SUFFIX: Final = "-value"

# ---------------------------------------------------------------- lakehouse (phase 2 -> 3)
#: medallion layers: Trino schemas of catalog ``delta`` and top-level prefixes of the bucket
LAYERS: Final = ("bronze", "silver", "gold")
#: bronze table -> its directory in the bucket (written by phase 2's Spark job only)
BRONZE_TABLES: Final[Mapping[str, str]] = {
    "transactions": "bronze/transactions",
    "fraud_labels": "bronze/fraud_labels",
}
#: gold marts other phases read (phase 3 -> 4, 5)
MART_FRAUD_FEATURES: Final = "mart_fraud_features"
MART_HOURLY_METRICS: Final = "mart_hourly_metrics"
MART_USER_RISK_PROFILES: Final = "mart_user_risk_profiles"
MART_TERMINAL_RISK_PROFILES: Final = "mart_terminal_risk_profiles"

# ---------------------------------------------------------------- MLflow (training -> serving)
MODEL_NAME: Final = "fraud_classifier"
#: registry aliases (never the deprecated stages): candidate, serving, rollback target
ALIAS_STAGING: Final = "staging"
ALIAS_PRODUCTION: Final = "production"
ALIAS_PREVIOUS_PRODUCTION: Final = "previous_production"
#: the model version's ONNX export, relative to its run's artifacts
ONNX_ARTIFACT: Final = "onnx/model.onnx"
#: version tag holding :func:`fraud_contracts.features.fingerprint` of the training features
FEATURE_FINGERPRINT_TAG: Final = "feature_fingerprint"

# ---------------------------------------------------------------- prediction log (phase 4 -> 5)
PREDICTIONS_DATABASE: Final = "predictions"
PREDICTIONS_TABLE: Final = "predictions"
