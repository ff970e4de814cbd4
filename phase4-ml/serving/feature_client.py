"""Per-request feature lookup: one read of the online feature store behind a circuit breaker.

The user's and the terminal's values at the transaction's time come from
:meth:`FeatureStore.read` (:mod:`serving.feature_store`: one round trip, the contract's
definition over the card's and the terminal's events before it). The
call goes through a :class:`pybreaker.CircuitBreaker` (closed / open / half-open):
``breaker_fail_max`` consecutive failures (errors or the short read timeout) open it, and
while open no request waits on the store at all; after ``breaker_reset_seconds`` it is
half-open, the next lookup is the trial and success closes it again. pybreaker's
``calling()`` context manager records the outcome of the ``await`` inside it, so the
state machine is the library's, not a home-made one (its ``call_async`` needs Tornado).

On any failure the prediction uses :data:`features.DEFAULTS` for the user and terminal
parts and says so: ``feature_source="fallback"`` and ``fraud_feature_fallback_total``.
A card without events (new user) is a cache miss, not a fallback: it is the model's
definition of "no history".

Whether the state is current is the streaming job's heartbeat
(:class:`fraud_contracts.online.StreamStatus`), read once a second
(:meth:`FeatureClient.watch_stream`): while it is older than
``stream_stale_seconds`` or the job's backlog exceeds ``stream_max_backlog``, answers
come from the state as it is, flagged ``feature_source="stale"`` and counted in
``fraud_feature_stale_total``; the job catches up by itself when it returns.
"""

from __future__ import annotations

import datetime as dt
import time

import pybreaker
import structlog

from serving import metrics
from serving.feature_store import (
    FeatureStore,
    FeatureStoreError,
    Lookup,
    StoredFeatures,
    open_store,
)
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
        self.settings = settings
        self.store = store or open_store(settings)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_seconds,
            listeners=[_BreakerLog()],
            name="redis",
        )
        #: whether the streaming job's heartbeat says the state is current
        self.fresh = False

    @property
    def breaker_state(self) -> str:
        return str(self.breaker.current_state)

    async def watch_stream(self) -> bool:
        """Read the streaming job's heartbeat and set :attr:`fresh` (never raises)."""
        try:
            status = await self.store.stream_status()
        except FeatureStoreError:
            status = None
        age = time.time() - status.updated_ms / 1000 if status else float("inf")
        self.fresh = bool(
            status is not None
            and age <= self.settings.stream_stale_seconds
            and status.backlog <= self.settings.stream_max_backlog
        )
        metrics.STREAM_FRESH.set(1.0 if self.fresh else 0.0)
        return self.fresh

    def _mark(self, found: StoredFeatures) -> StoredFeatures:
        if self.fresh:
            return found
        metrics.STALE.inc()
        return StoredFeatures(found.user, found.terminal, "stale")

    async def lookup(self, user_id: str, merchant_id: str, at: dt.datetime) -> StoredFeatures:
        """The values of a user and a terminal at ``at``, or :data:`FALLBACK`."""
        try:
            with self.breaker.calling():
                return self._mark(await self.store.read(user_id, merchant_id, at))
        except pybreaker.CircuitBreakerError:
            _BREAKER_OPEN.inc()
        except FeatureStoreError as err:
            metrics.CACHE_ERRORS.labels(err.reason).inc()
        metrics.FALLBACKS.inc()
        return FALLBACK

    async def lookup_many(self, lookups: list[Lookup]) -> list[StoredFeatures]:
        """Values for a batch of transactions in one pipelined store read."""
        try:
            with self.breaker.calling():
                return [self._mark(f) for f in await self.store.read_many(lookups)]
        except pybreaker.CircuitBreakerError:
            reason = "breaker_open"
        except FeatureStoreError as err:
            reason = err.reason
        metrics.CACHE_ERRORS.labels(reason).inc(len(lookups))
        metrics.FALLBACKS.inc(len(lookups))
        return [FALLBACK] * len(lookups)

    async def ping(self) -> bool:
        return await self.store.ping()

    async def close(self) -> None:
        await self.store.close()
