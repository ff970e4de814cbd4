"""Per-request feature lookup: one read of the online feature store behind a circuit breaker.

The user's and the terminal's records come from :meth:`FeatureStore.read`
(:mod:`serving.feature_store`: one round trip, records decoded and counted there). The
call goes through a :class:`pybreaker.CircuitBreaker` (closed / open / half-open):
``breaker_fail_max`` consecutive failures (errors or the short read timeout) open it, and
while open no request waits on the store at all; after ``breaker_reset_seconds`` it is
half-open, the next lookup is the trial and success closes it again. pybreaker's
``calling()`` context manager records the outcome of the ``await`` inside it, so the
state machine is the library's, not a home-made one (its ``call_async`` needs Tornado).

On any failure the prediction uses :data:`features.DEFAULTS` for the user and terminal
parts and says so: ``feature_source="fallback"`` and ``fraud_feature_fallback_total``.
A record that is simply absent (new user) is a cache miss, not a fallback: it is the
model's definition of "no history".
"""

from __future__ import annotations

import pybreaker
import structlog

from serving import metrics
from serving.feature_store import FeatureStore, FeatureStoreError, StoredFeatures, open_store
from serving.settings import ServingSettings

log = structlog.get_logger("serving.features")

FALLBACK = StoredFeatures(None, None, "fallback")
_BREAKER_OPEN = metrics.CACHE_ERRORS.labels("breaker_open")


class _BreakerLog(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        metrics.BREAKER_STATE.set(0 if new_state.name == pybreaker.STATE_CLOSED else 1)
        log.warning(
            "feature store breaker state change",
            old=old_state.name if old_state else None,
            new=new_state.name,
        )


class FeatureClient:
    """Store reads with a breaker and a fallback; one instance per process."""

    def __init__(self, settings: ServingSettings, store: FeatureStore | None = None) -> None:
        self.store = store or open_store(settings)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_seconds,
            listeners=[_BreakerLog()],
            name="redis",
        )

    @property
    def breaker_state(self) -> str:
        return str(self.breaker.current_state)

    async def lookup(self, user_id: str, merchant_id: str) -> StoredFeatures:
        """The stored records of a user and a terminal, or :data:`FALLBACK`."""
        try:
            with self.breaker.calling():
                return await self.store.read(user_id, merchant_id)
        except pybreaker.CircuitBreakerError:
            _BREAKER_OPEN.inc()
        except FeatureStoreError as err:
            metrics.CACHE_ERRORS.labels(err.reason).inc()
        metrics.FALLBACKS.inc()
        return FALLBACK

    async def lookup_many(self, pairs: list[tuple[str, str]]) -> list[StoredFeatures]:
        """Records for a batch of (user_id, merchant_id) in one store read."""
        try:
            with self.breaker.calling():
                return await self.store.read_many(pairs)
        except pybreaker.CircuitBreakerError:
            reason = "breaker_open"
        except FeatureStoreError as err:
            reason = err.reason
        metrics.CACHE_ERRORS.labels(reason).inc(len(pairs))
        metrics.FALLBACKS.inc(len(pairs))
        return [FALLBACK] * len(pairs)

    async def ping(self) -> bool:
        return await self.store.ping()

    async def close(self) -> None:
        await self.store.close()
