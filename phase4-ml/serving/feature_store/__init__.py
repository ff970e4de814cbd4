"""The online feature store: per-user and per-terminal records for real-time scoring.

One interface (:class:`FeatureStore`, :mod:`serving.feature_store.base`) and one module
per backend (:mod:`serving.feature_store.redis`), as Feast's online stores. Both sides use
it:

- the feature writer (``fraud-feature-writer``, :mod:`serving.feature_writer`) stores the
  gold marts' records with :meth:`FeatureStore.write`;
- the scoring API (:mod:`serving.feature_client`) reads one transaction's user and
  terminal records with :meth:`FeatureStore.read` (a batch's with
  :meth:`FeatureStore.read_many`), behind its circuit breaker.

The key layout is the contract's (:mod:`fraud_contracts.features`:
``user_features:{user_id}``, ``terminal_features:{merchant_id}``), the value the record's
JSON (:mod:`serving.feature_store.records`).
"""

from __future__ import annotations

from serving.feature_store.base import (
    FeatureSource,
    FeatureStore,
    FeatureStoreError,
    KeyLayout,
    Record,
    StoredFeatures,
    Values,
)
from serving.feature_store.redis import RedisFeatureStore
from serving.settings import ServingSettings

__all__ = [
    "FeatureSource",
    "FeatureStore",
    "FeatureStoreError",
    "KeyLayout",
    "Record",
    "RedisFeatureStore",
    "StoredFeatures",
    "Values",
    "open_store",
]


def open_store(settings: ServingSettings, *, chunk: int = 5_000) -> FeatureStore:
    """The store the settings point at (Redis: the platform's only backend); writes go in
    batches of ``chunk`` records."""
    return RedisFeatureStore.from_settings(settings, chunk=chunk)
