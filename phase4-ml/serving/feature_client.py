"""Per-request feature lookup: one Redis round trip behind a circuit breaker.

The user's and the terminal's records (``user_features:{user_id}``,
``terminal_features:{merchant_id}``, see :mod:`features`) are read with one ``MGET``
through :class:`serving.redis_lite.LiteRedis` (one pipelined connection per process,
redis-py's exception classes) and parsed by :mod:`serving.vectors`.
The call goes through a :class:`pybreaker.CircuitBreaker` (closed / open / half-open):
``breaker_fail_max`` consecutive failures (errors or the short socket timeout) open it,
and while open no request waits on Redis at all; after ``breaker_reset_seconds`` it is
half-open, the next lookup is the trial and success closes it again. pybreaker's
``calling()`` context manager records the outcome of the ``await`` inside it, so the
state machine is the library's, not a home-made one (its ``call_async`` needs Tornado).

On any failure the prediction uses :data:`features.DEFAULTS` for the user and terminal
parts and says so: ``feature_source="fallback"`` and ``fraud_feature_fallback_total``.
A record that is simply absent (new user) is a cache miss, not a fallback: it is the
model's definition of "no history".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pybreaker
import redis.asyncio as aioredis
import structlog

from fraud_contracts.features import TerminalFeatures, UserFeatures
from serving import metrics, vectors
from serving.redis_lite import LiteRedis
from serving.settings import ServingSettings
from serving.vectors import Values

log = structlog.get_logger("serving.features")

FeatureSource = Literal["redis", "fallback"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """The user's and terminal's stored values (contract order, see :mod:`serving.vectors`)."""

    user: Values | None
    terminal: Values | None
    source: FeatureSource


_FALLBACK = Lookup(None, None, "fallback")
_HIT = {k: metrics.CACHE_HITS.labels(k) for k in ("user", "terminal")}
_MISS = {k: metrics.CACHE_MISSES.labels(k) for k in ("user", "terminal")}
_BREAKER_OPEN = metrics.CACHE_ERRORS.labels("breaker_open")
_BAD_RECORD = metrics.CACHE_ERRORS.labels("bad_record")


class _BreakerLog(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        metrics.BREAKER_STATE.set(0 if new_state.name == pybreaker.STATE_CLOSED else 1)
        log.warning(
            "redis breaker state change",
            old=old_state.name if old_state else None,
            new=new_state.name,
        )


class FeatureClient:
    """Async Redis lookups with a breaker; one instance per process."""

    def __init__(
        self, settings: ServingSettings, client: aioredis.Redis | LiteRedis | None = None
    ) -> None:
        self.prefix = settings.redis_key_prefix
        self._user_prefix = f"{self.prefix}{UserFeatures.KEY_PREFIX}"
        self._terminal_prefix = f"{self.prefix}{TerminalFeatures.KEY_PREFIX}"
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        self.redis: aioredis.Redis | LiteRedis = client or LiteRedis(
            settings.redis_host,
            settings.redis_port,
            password=password,
            db=settings.redis_db,
            timeout=settings.redis_timeout_seconds,
            connect_timeout=max(settings.redis_timeout_seconds, 0.5),
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_seconds,
            listeners=[_BreakerLog()],
            name="redis",
        )

    @property
    def breaker_state(self) -> str:
        return str(self.breaker.current_state)

    def keys(self, user_id: str, merchant_id: str) -> tuple[str, str]:
        return self._user_prefix + user_id, self._terminal_prefix + merchant_id

    async def lookup(self, user_id: str, merchant_id: str) -> Lookup:
        """The stored records of a user and a terminal, or a fallback lookup."""
        try:
            with self.breaker.calling():
                raw_user, raw_terminal = await self.redis.mget(self.keys(user_id, merchant_id))
        except pybreaker.CircuitBreakerError:
            _BREAKER_OPEN.inc()
            metrics.FALLBACKS.inc()
            return _FALLBACK
        except (aioredis.RedisError, OSError) as err:
            metrics.CACHE_ERRORS.labels(type(err).__name__).inc()
            metrics.FALLBACKS.inc()
            return _FALLBACK
        return Lookup(
            self._parse(raw_user, vectors.parse_user, "user"),
            self._parse(raw_terminal, vectors.parse_terminal, "terminal"),
            "redis",
        )

    async def lookup_many(self, pairs: list[tuple[str, str]]) -> list[Lookup]:
        """Records for a batch of (user_id, merchant_id) in one MGET."""
        keys = [k for user_id, merchant_id in pairs for k in self.keys(user_id, merchant_id)]
        try:
            with self.breaker.calling():
                raws = await self.redis.mget(keys) if keys else []
        except (pybreaker.CircuitBreakerError, aioredis.RedisError, OSError) as err:
            reason = (
                "breaker_open"
                if isinstance(err, pybreaker.CircuitBreakerError)
                else type(err).__name__
            )
            metrics.CACHE_ERRORS.labels(reason).inc(len(pairs))
            metrics.FALLBACKS.inc(len(pairs))
            return [_FALLBACK] * len(pairs)
        return [
            Lookup(
                self._parse(raws[2 * i], vectors.parse_user, "user"),
                self._parse(raws[2 * i + 1], vectors.parse_terminal, "terminal"),
                "redis",
            )
            for i in range(len(pairs))
        ]

    @staticmethod
    def _parse(
        raw: bytes | str | None, parse: Callable[[bytes | str], Values], label: str
    ) -> Values | None:
        if raw is None:
            metrics.HOT.inc(_MISS[label])
            return None
        try:
            record = parse(raw)
        except (ValueError, KeyError, TypeError):
            # a record of another feature version (or corrupt): treat as absent, loudly
            _BAD_RECORD.inc()
            return None
        metrics.HOT.inc(_HIT[label])
        return record

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())  # type: ignore[misc]
        except (aioredis.RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.redis.aclose()
