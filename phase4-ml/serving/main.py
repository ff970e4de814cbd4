"""``fraud-api``: the real-time scoring API (FastAPI on uvicorn).

    fraud-api                                   127.0.0.1:8000, SERVING_WORKERS processes
    SERVING_SCORING_BACKEND=sklearn fraud-api   same API scoring with plain predict_proba

Endpoints: ``POST /predict``, ``POST /predict/batch``, ``GET /health`` (liveness),
``GET /ready`` (model loaded, Redis breaker), ``GET /model``, ``GET /metrics``, docs at
``/docs``. Settings: see settings.py (platform names such as ``REDIS_HOST`` plus
``SERVING_*``).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from fraud_common.logs import configure_logging
from fraud_contracts import features
from serving import metrics
from serving.schemas import (
    BATCH_MAX,
    BatchRequest,
    BatchResponse,
    PredictRequest,
    PredictResponse,
)
from serving.service import NotReadyError, ScoringService
from serving.settings import ServingSettings, get_settings

log = structlog.get_logger("serving")

JSON = "application/json"


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def get_service(request: Request) -> ScoringService:
    svc: ScoringService = request.app.state.service
    return svc


Service = Annotated[ScoringService, Depends(get_service)]


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json")]
_MAX_BODY = 64 * 1024  # one transaction is a few hundred bytes
_PREDICT_422 = metrics.REQUEST_ERRORS.labels("/predict", "422")
_PREDICT_503 = metrics.REQUEST_ERRORS.labels("/predict", "503")
_PREDICT_500 = metrics.REQUEST_ERRORS.labels("/predict", "500")


def _error_default(value: Any) -> str:
    return str(value)


def validation_detail(err: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors in FastAPI's 422 shape: ``loc`` starts with ``"body"``."""
    return [
        {
            "type": e["type"],
            "loc": ["body", *e["loc"]],
            "msg": e["msg"],
            "input": e.get("input"),
            **({"ctx": e["ctx"]} if "ctx" in e else {}),
        }
        for e in err.errors(include_url=False)
    ]


class ScoringApp:
    """``POST /predict`` answered directly on ASGI; everything else by the FastAPI app.

    FastAPI's request machinery (dependency solving, a thread hop for sync dependencies,
    body re-parsing, several middlewares) costs more CPU than the whole prediction. The
    hot path here validates the body with the **same** pydantic model
    (``PredictRequest.model_validate_json``, errors in FastAPI's 422 shape naming the
    field), scores it and writes the orjson body. The FastAPI app declares the route for
    the OpenAPI document only (``/docs``, ``/openapi.json``) and handles the rest (batch,
    health, readiness, metrics, docs, lifespan).
    """

    def __init__(self, api: FastAPI) -> None:
        self.api = api

    @property
    def state(self) -> Any:
        return self.api.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/predict" and scope["method"] == "POST":
            await self._predict(receive, send)
        else:
            await self.api(scope, receive, send)

    async def _predict(self, receive: Receive, send: Send) -> None:
        status, body = 200, b""
        try:
            raw = await _read_body(receive)
            if raw is None:
                status, body = 413, orjson.dumps({"detail": "request body too large"})
            else:
                status, body = await self._answer(raw)
        except Exception:
            log.exception("POST /predict failed")
            _PREDICT_500.inc()
            status, body = 500, b'{"detail":"internal error"}'
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, raw: bytes) -> tuple[int, bytes]:
        try:
            request = PredictRequest.model_validate_json(raw)
        except ValidationError as err:
            _PREDICT_422.inc()
            detail = validation_detail(err)
            return 422, orjson.dumps({"detail": detail}, default=_error_default)
        svc: ScoringService = self.api.state.service
        try:
            result = await svc.score_one(request)
        except NotReadyError as err:
            _PREDICT_503.inc()
            return 503, orjson.dumps({"detail": f"not ready: {err}"})
        return 200, orjson.dumps(result)


async def _read_body(receive: Receive) -> bytes | None:
    message = await receive()
    body: bytes = message.get("body", b"")
    more = message.get("more_body", False)
    if not more:
        return body
    chunks = [body]
    size = len(body)
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def create_app(service: ScoringService | None = None) -> ScoringApp:
    """The app; tests pass their own service (own Redis, Postgres, registry)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging()
        svc = service or ScoringService(get_settings())
        app.state.service = svc
        await svc.start()
        # everything loaded so far (modules, model, settings) lives as long as the process:
        # move it out of the garbage collector's generations, so the collections that
        # per-request allocations trigger do not traverse it again and again
        gc.collect()
        gc.freeze()
        log.info("fraud-api ready" if svc.predictor.ready else "fraud-api started, not ready")
        try:
            yield
        finally:
            await svc.stop()

    app = FastAPI(
        title="Fraud scoring API",
        version="1.0.0",
        description="Real-time card-fraud scores from the production model and the "
        "Redis feature store.",
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        metrics.REQUEST_ERRORS.labels(request.url.path, "422").inc()
        return await request_validation_exception_handler(request, exc)

    not_ready: dict[int | str, dict[str, Any]] = {503: {"description": "no model loaded yet"}}

    @app.post(
        "/predict",
        response_model=None,
        responses={200: {"model": PredictResponse}, **not_ready},
        summary="Score one transaction",
        description="The fraud probability, risk tier and top reasons of one transaction.",
    )
    async def predict(body: PredictRequest) -> Response:
        """OpenAPI documentation only: :class:`ScoringApp` answers ``POST /predict`` before
        a request reaches this app (same ``PredictRequest`` validation, same 422 body), so
        this route puts the operation in ``/openapi.json`` and ``/docs`` and never runs."""
        raise RuntimeError("POST /predict is answered by ScoringApp")

    @app.post(
        "/predict/batch",
        response_model=None,
        responses={200: {"model": BatchResponse}, **not_ready},
        summary=f"Score up to {BATCH_MAX:,} transactions in one call",
    )
    async def predict_batch(body: BatchRequest, svc: Service) -> Response:
        try:
            results = await svc.score(body.transactions)
        except NotReadyError as err:
            metrics.REQUEST_ERRORS.labels("/predict/batch", "503").inc()
            return _json({"detail": f"not ready: {err}"}, 503)
        return _json({"predictions": results})

    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", responses=not_ready, summary="Readiness: a model is loaded")
    async def ready(svc: Service) -> Response:
        model = svc.predictor.model
        body = {
            "ready": model is not None,
            "model_version": model.info.version if model else None,
            "model_source": model.source if model else None,
            "reason": None if model else svc.predictor.last_error,
            "redis_breaker": svc.features.breaker_state,
            "prediction_log_backlog": svc.log.backlog if svc.log else 0,
            "prediction_log_spilling": svc.log.spilling if svc.log else False,
        }
        return _json(body, 200 if model is not None else 503)

    @app.get("/model", responses=not_ready, summary="The loaded model")
    async def model_info(svc: Service) -> Response:
        model = svc.predictor.model
        if model is None:
            return _json({"detail": f"not ready: {svc.predictor.last_error}"}, 503)
        info = model.info
        return _json(
            {
                "name": info.name,
                "version": info.version,
                "alias": info.alias,
                "run_id": info.run_id,
                "fingerprint": info.fingerprint,
                "feature_contract": features.fingerprint(),
                "feature_names": list(features.FEATURE_NAMES),
                "metrics": info.metrics,
                "source": model.source,
                "backend": svc.settings.scoring_backend,
                "loaded_at": model.loaded_at,
            }
        )

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return ScoringApp(app)


app = create_app()


#: uvicorn options of the API (``fraud-api`` and the tests' in-process server)
SERVER_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    # uvicorn's httptools protocol, one socket write per response (serving/http_protocol.py)
    "http": "serving.http_protocol:HttpToolsProtocol",
    "access_log": False,
    # no X-Forwarded-* rewriting (no proxy in front), no Server/Date headers: per-request
    # work the scoring path does not need
    "proxy_headers": False,
    "server_header": False,
    "date_header": False,
    # keep idle keep-alive connections longer than clients do: with uvicorn's 5 s a client
    # reusing a connection the server is just closing gets "connection reset" (seen in
    # bench/scoring_load.py)
    "timeout_keep_alive": 75,
    "timeout_graceful_shutdown": 10,
}


def run() -> None:
    """Console script: uvicorn with uvloop + httptools, N worker processes."""
    import uvicorn

    settings = ServingSettings()
    configure_logging()
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # workers share their metrics through files in a fresh directory
        path = tempfile.mkdtemp(prefix="fraud-api-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    elif os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)
    log.info("starting fraud-api", port=settings.port, workers=settings.workers)
    uvicorn.run(
        "serving.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        # uvicorn restarts a worker that does not answer its health check in time (default
        # 5 s); importing mlflow/sklearn and loading a model on a busy machine takes longer
        timeout_worker_healthcheck=60,
        **(SERVER_OPTIONS | ({"http": settings.http_protocol} if settings.http_protocol else {})),
    )
