"""One prediction end to end: features from the online store, the model, metrics, the log row.

A transaction's features are the online state's at its event time (``event_time``, else
the time the request arrived): the card's and the terminal's events strictly before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from serving import metrics, vectors
from serving.feature_client import FeatureClient
from serving.feature_store import StoredFeatures
from serving.prediction_log import PredictionLog
from serving.predictor import MlflowRegistry, ModelCache, Predictor, Registry
from serving.schemas import PredictRequest
from serving.settings import ServingSettings

log = structlog.get_logger("serving")

_TIERS = ("low", "medium", "high")
_TIER_COUNTERS = {tier: metrics.PREDICTIONS.labels(tier) for tier in _TIERS}


class NotReadyError(RuntimeError):
    pass


class ScoringService:
    """Everything a request needs, created once per worker process by the app's lifespan."""

    def __init__(
        self,
        settings: ServingSettings,
        registry: Registry | None = None,
        feature_client: FeatureClient | None = None,
        prediction_log: PredictionLog | None = None,
    ) -> None:
        self.settings = settings
        self.features = feature_client or FeatureClient(settings)
        self.log = prediction_log or (PredictionLog(settings) if settings.log_enabled else None)
        if registry is None and settings.mlflow_tracking_uri:  # "" = local cache only
            registry = MlflowRegistry(settings.mlflow_tracking_uri)
        self.predictor = Predictor(
            registry,
            ModelCache(Path(settings.model_cache_dir), settings.model_name),
            settings.model_alias,
            backend=settings.scoring_backend,
            name=settings.model_name,
        )
        self._poll: asyncio.Task[None] | None = None
        self._flush: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.predictor.refresh)
        self._export_version()
        if self.log is not None:
            await self.log.start()
        await self.features.watch_stream()
        self._poll = asyncio.create_task(self._poll_registry(), name="model-poll")
        self._flush = asyncio.create_task(self._flush_metrics(), name="metrics-flush")
        self._watch = asyncio.create_task(self._watch_stream(), name="stream-watch")

    async def stop(self) -> None:
        for task in (self._poll, self._flush, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        metrics.HOT.flush()
        if self.log is not None:
            await self.log.stop()
        await self.features.close()

    async def _poll_registry(self) -> None:
        while True:
            await asyncio.sleep(self.settings.model_poll_seconds)
            try:
                if await asyncio.to_thread(self.predictor.refresh):
                    self._export_version()
            except Exception:  # the poller must survive anything
                log.exception("model poll failed")

    async def _watch_stream(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stream_watch_seconds)
            await self.features.watch_stream()

    async def _flush_metrics(self) -> None:
        while True:
            await asyncio.sleep(metrics.HotCounters.FLUSH_SECONDS)
            metrics.HOT.flush()

    def _export_version(self) -> None:
        model = self.predictor.model
        version = model.info.version if model else "0"
        metrics.MODEL_VERSION.set(float(version) if version.isdigit() else 0.0)
        metrics.MODEL_CREATED.set((model.info.created_at or 0.0) if model else 0.0)

    def tier(self, p: float) -> str:
        if p >= self.settings.risk_high:
            return "high"
        if p >= self.settings.risk_medium:
            return "medium"
        return "low"

    @property
    def reasons_threshold(self) -> float:
        """Smallest probability whose answer carries top reasons."""
        return {
            "low": 0.0,
            "medium": self.settings.risk_medium,
            "high": self.settings.risk_high,
        }[self.settings.reasons_min_tier]

    # ------------------------------------------------------------------ scoring
    async def score_one(self, r: PredictRequest) -> dict[str, Any]:
        """Score one transaction: one feature-store read, one one-row model call (plus the reasons'
        variants for medium/high risk), O(1) hand-off to the prediction log (the row holds
        a reference to the answer's top reasons, serialized later by the log's writer)."""
        start = time.perf_counter()
        model = self.predictor.model
        if model is None:
            raise NotReadyError(self.predictor.last_error or "no model loaded")
        now = dt.datetime.now(dt.UTC)
        at = r.event_time or now
        found = await self.features.lookup(r.user_id, r.merchant_id, at)
        row = vectors.vector(r.amount, r.is_international, at, found.user, found.terminal)
        x = np.array((row,), dtype=np.float32)
        probs, reasons = self.predictor.score_with_reasons(
            x, self.settings.top_reasons, self.reasons_threshold
        )
        elapsed = time.perf_counter() - start
        p = float(probs[0])
        tier = self.tier(p)
        metrics.HOT.inc(_TIER_COUNTERS[tier])
        metrics.HOT.observe(metrics.LATENCY, elapsed)
        latency_ms = round(elapsed * 1000, 3)
        version = model.info.version
        if self.log is not None:
            self.log.submit(
                (
                    r.transaction_id,
                    r.user_id,
                    r.merchant_id,
                    r.amount,
                    p,
                    tier,
                    version,
                    found.source,
                    x[0].tolist(),
                    latency_ms,
                    r.event_time,
                    now,
                    reasons[0],  # the answer's own list: the log's writer serializes it
                )
            )
        return {
            "transaction_id": r.transaction_id,
            "fraud_probability": round(p, 6),
            "risk_tier": tier,
            "model_version": version,
            "latency_ms": latency_ms,
            "feature_source": found.source,
            "top_reasons": reasons[0],
        }

    async def score(self, requests: list[PredictRequest]) -> list[dict[str, Any]]:
        """Score transactions (one feature-store read and one model call for all of them)."""
        if len(requests) == 1:
            return [await self.score_one(requests[0])]
        start = time.perf_counter()
        model = self.predictor.model
        if model is None:
            raise NotReadyError(self.predictor.last_error or "no model loaded")
        now = dt.datetime.now(dt.UTC)
        lookups = await self.features.lookup_many(
            [(r.user_id, r.merchant_id, r.event_time or now) for r in requests]
        )
        x = np.array(
            [self._vector(r, found, now) for r, found in zip(requests, lookups, strict=True)],
            dtype=np.float32,
        ).reshape(len(requests), vectors.N_FEATURES)
        probs, reasons = self.predictor.score_with_reasons(
            x, self.settings.top_reasons, self.reasons_threshold
        )
        elapsed = time.perf_counter() - start
        latency_ms = round(elapsed * 1000, 3)
        version = model.info.version
        out = []
        for i, r in enumerate(requests):
            p = float(probs[i])
            tier = self.tier(p)
            metrics.HOT.inc(_TIER_COUNTERS[tier])
            metrics.HOT.observe(metrics.LATENCY, elapsed)
            source = lookups[i].source
            if self.log is not None:
                self.log.submit(
                    (
                        r.transaction_id,
                        r.user_id,
                        r.merchant_id,
                        r.amount,
                        p,
                        tier,
                        version,
                        source,
                        x[i].tolist(),
                        latency_ms,
                        r.event_time,
                        now,
                        reasons[i],
                    )
                )
            out.append(
                {
                    "transaction_id": r.transaction_id,
                    "fraud_probability": round(p, 6),
                    "risk_tier": tier,
                    "model_version": version,
                    "latency_ms": latency_ms,
                    "feature_source": source,
                    "top_reasons": reasons[i],
                }
            )
        return out

    @staticmethod
    def _vector(r: PredictRequest, found: StoredFeatures, now: dt.datetime) -> list[float]:
        """The model input of ``r`` (equal to ``features.to_array(build_features(...))``)."""
        return vectors.vector(
            r.amount, r.is_international, r.event_time or now, found.user, found.terminal
        )
