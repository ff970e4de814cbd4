"""The online feature store: every card's and terminal's recent events, for real-time scoring.

One interface (:class:`FeatureStore`, :mod:`serving.feature_store.base`) and one module
per backend (:mod:`serving.feature_store.redis`), as Feast's online stores. Both sides use
the layout of :mod:`fraud_contracts.online`:

- the streaming feature job (``fraud-feature-stream``, :mod:`serving.feature_stream`)
  writes each transaction and fraud report as it arrives on Kafka
  (:class:`~serving.feature_store.events.EventWriter`);
- the scoring API (:mod:`serving.feature_client`) reads one transaction's user and
  terminal values with :meth:`FeatureStore.read` (a batch's with
  :meth:`FeatureStore.read_many`), behind its circuit breaker: the contract's
  definition over the events strictly before the transaction.
"""

from __future__ import annotations

from serving.feature_store.base import (
    FeatureSource,
    FeatureStore,
    FeatureStoreError,
    Lookup,
    StoredFeatures,
    Values,
)
from serving.feature_store.events import EventWriter, FraudReport, TransactionEvent
from serving.feature_store.redis import RedisFeatureStore
from serving.settings import ServingSettings

__all__ = [
    "EventWriter",
    "FeatureSource",
    "FeatureStore",
    "FeatureStoreError",
    "FraudReport",
    "Lookup",
    "RedisFeatureStore",
    "StoredFeatures",
    "TransactionEvent",
    "Values",
    "open_store",
]


def open_store(settings: ServingSettings) -> FeatureStore:
    """The store the settings point at (Redis: the platform's only backend)."""
    return RedisFeatureStore.from_settings(settings)
