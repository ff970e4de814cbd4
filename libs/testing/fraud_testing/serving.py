"""Test and benchmark helpers: a small model in the local model cache, throwaway engines,
an online state seeded with histories (:func:`card_history`) and kept "fresh"
(:class:`StreamHeartbeat`).

Outage tests must not touch the shared native stack, so :class:`RedisProcess` and
:class:`PostgresProcess` run private instances on free ports (Postgres from the Debian
binaries, as the ``postgres`` user when running as root, like the stack's setup script).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fraud_contracts import features, names, online
from serving.feature_store import EventWriter, TransactionEvent
from serving.predictor import ModelCache, ModelInfo
from training.export import convert

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def synthetic_data(n: int = 20_000, seed: int = 0) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Feature vectors with a learnable fraud signal (amount, terminal risk, night)."""
    rng = np.random.default_rng(seed)
    names = features.FEATURE_NAMES
    x = np.zeros((n, len(names)))
    col = {name: i for i, name in enumerate(names)}
    x[:, col["amount"]] = rng.lognormal(3.5, 1.0, n)
    x[:, col["is_international"]] = rng.random(n) < 0.1
    x[:, col["is_weekend"]] = rng.random(n) < 2 / 7
    x[:, col["is_night"]] = rng.random(n) < 0.25
    for name in features.USER_FEATURES + features.TERMINAL_ACTIVITY_FEATURES:
        scale = {"1h": 0.2, "24h": 2, "7d": 10, "30d": 40}[name.rsplit("_", 1)[1]]
        x[:, col[name]] = rng.poisson(scale, n) if "count" in name else rng.lognormal(3.5, 0.5, n)
    for name in features.TERMINAL_RISK_FEATURES:
        x[:, col[name]] = rng.beta(0.3, 20, n)
    x[:, col["amount_to_user_avg_30d"]] = x[:, col["amount"]] / x[:, col["user_avg_amount_30d"]]
    logit = (
        0.9 * (x[:, col["amount"]] > 220)
        + 30 * x[:, col["terminal_risk_7d"]]
        + 0.8 * x[:, col["is_night"]]
        + 0.5 * np.log(x[:, col["amount_to_user_avg_30d"]])
        - 4.0
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def train_model(kind: str = "random_forest", seed: int = 0) -> Any:
    """A model fitted on :func:`synthetic_data`: a RandomForest of 100 trees, a
    HistGradientBoosting model, or (``average``) fraud-train's average of its three
    families with their default hyperparameters."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    x, y = synthetic_data(seed=seed)
    if kind == "average":
        from training import models
        from training.settings import TrainingSettings

        kinds = TrainingSettings.model_fields["candidates"].default
        settings = TrainingSettings.model_validate({"model_seed": seed})
        candidate = models.build(models.average_kind(kinds), settings)
        return models.fit(candidate, x.astype(np.float32), y).model
    if kind == "random_forest":
        model: Any = RandomForestClassifier(
            n_estimators=100, max_depth=12, n_jobs=1, random_state=seed, class_weight="balanced"
        )
    else:
        model = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    return model.fit(x.astype(np.float32), y)


def seed_cache(
    cache_dir: Path,
    model: Any,
    version: str = "1",
    name: str = names.MODEL_NAME,
    fingerprint: str | None = None,
) -> ModelInfo:
    """Put ``model`` (ONNX + joblib) into the API's local model cache as ``version``."""
    import joblib

    info = ModelInfo(
        name=name,
        version=version,
        alias=names.ALIAS_PRODUCTION,
        run_id="local",
        fingerprint=fingerprint or features.fingerprint(),
        metrics={},
    )
    onnx_bytes = convert(model, len(features.FEATURE_NAMES))

    def fill(d: Path) -> None:
        (d / "model.onnx").write_bytes(onnx_bytes)
        joblib.dump(model, d / "model.joblib")

    ModelCache(cache_dir, name).store(info, fill)
    return info


class RedisProcess:
    """A private redis-server on a free port (stop/start keep the port)."""

    def __init__(self, password: str = "test-password") -> None:  # noqa: S107
        self.port = free_port()
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                self.password,
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class PostgresProcess:
    """A private PostgreSQL cluster in a temporary directory, on a free port."""

    def __init__(self, password: str = "test-password") -> None:  # noqa: S107
        self.port = free_port()
        self.password = password
        self.root = Path(tempfile.mkdtemp(prefix="fraud-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(password)
        if self.as_root:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "predictions",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def _user(self) -> dict[str, Any]:
        return {"user": "postgres", "group": "postgres"} if self.as_root else {}

    def _run(self, *args: str) -> None:
        subprocess.run(list(args), check=True, capture_output=True, cwd=self.root, **self._user())

    def dsn(self, dbname: str = "postgres") -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={dbname} user=predictions "
            f"password={self.password} connect_timeout=3"
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.root}",
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.root,
            **self._user(),
        )
        deadline = time.monotonic() + 30
        import psycopg

        while True:
            try:
                with psycopg.connect(self.dsn(), autocommit=True) as conn:
                    if not conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = 'predictions'"
                    ).fetchone():
                        conn.execute("CREATE DATABASE predictions")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            self.proc.wait(timeout=30)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


class ApiThread:
    """The app served by uvicorn in a background thread of the test process, with the
    options ``fraud-api`` uses."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        from serving.main import SERVER_OPTIONS

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            **SERVER_OPTIONS,  # the API's server: uvloop, its HTTP protocol, keep-alive
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ApiThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("API did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


# ---------------------------------------------------------------- the online state
def card_history(
    user_id: str,
    merchant_id: str,
    end_ms: int,
    amounts: list[float],
    days: float = 30.0,
    tag: str = "",
) -> list[TransactionEvent]:
    """Transactions of one card at one terminal, spread evenly over the ``days`` before
    ``end_ms`` (ids ``<tag><user>-<i>``), for seeding the online state."""
    span = int(days * features.DAY_MS)
    step = span // (len(amounts) + 1)
    return [
        TransactionEvent(
            f"{tag}{user_id}-{i}", user_id, merchant_id, end_ms - span + step * (i + 1), a
        )
        for i, a in enumerate(amounts)
    ]


class StreamHeartbeat:
    """Writes a fresh streaming-job heartbeat every second into a store's Redis (what the
    ``fraud-feature-stream`` job does), so the API calls its answers fresh; a context
    manager (tests without the job)."""

    def __init__(self, writer: EventWriter, backlog: int = 0) -> None:
        self.writer = writer
        self.backlog = backlog
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def beat(self) -> None:
        now = int(time.time() * 1000)
        self.writer.set_status(online.StreamStatus(now, self.backlog, now), ttl_ms=60_000)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.beat()

    def __enter__(self) -> StreamHeartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
