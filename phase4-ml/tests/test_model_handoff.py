"""Training -> serving hand-off through the registry only: the real ``fraud-api`` (two
workers, empty model cache) resolves ``<model>@production`` from the running MLflow,
downloads the ONNX artifact, and when the alias moves while it serves under load it swaps
models with zero failed requests, every answer carrying the new ``model_version`` within
one poll interval (plus the download-and-load time).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.tracking import MlflowClient

from fraud_contracts import features, names
from fraud_testing.serving import free_port, train_model
from training.export import convert

pytestmark = pytest.mark.integration

POLL_SECONDS = 3.0
#: a worker's swap = its next poll + resolving the alias + downloading and loading the ONNX
LOAD_ALLOWANCE_SECONDS = 3.0
CLIENTS = 4
TX = {
    "transaction_id": "handoff-1",
    "user_id": "U000001",
    "amount": 250.0,
    "merchant_id": "M00001",
    "is_international": True,
    "event_time": "2026-03-07T02:30:00Z",
}


@dataclass(frozen=True)
class Registered:
    name: str
    versions: tuple[str, str]


def _register(client: MlflowClient, name: str, seed: int, kind: str) -> str:
    """A small model logged as training does: ONNX artifact, fingerprint tag, version."""
    onnx = convert(train_model(kind, seed=seed), len(features.FEATURE_NAMES))
    with mlflow.start_run(run_name=f"handoff-{kind}") as run, tempfile.TemporaryDirectory() as d:
        path = Path(d) / Path(names.ONNX_ARTIFACT).name
        path.write_bytes(onnx)
        mlflow.log_artifact(str(path), artifact_path=str(Path(names.ONNX_ARTIFACT).parent))
    version = client.create_model_version(
        name,
        f"runs:/{run.info.run_id}/{Path(names.ONNX_ARTIFACT).parent}",
        run_id=run.info.run_id,
        tags={names.FEATURE_FINGERPRINT_TAG: features.fingerprint()},
    )
    return str(version.version)


@pytest.fixture(scope="module")
def registered(mlflow_server: str) -> Iterator[Registered]:
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_experiment("integration-tests")
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    name = f"fraud_classifier_handoff_{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    try:
        first = _register(client, name, 0, "random_forest")
        second = _register(client, name, 1, "hist_gradient_boosting")
        client.set_registered_model_alias(name, names.ALIAS_PRODUCTION, first)
        yield Registered(name, (first, second))
    finally:
        client.delete_registered_model(name)


@pytest.fixture(scope="module")
def api(
    registered: Registered,
    mlflow_server: str,
    platform_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """``fraud-api`` as the stack runs it, on a free port, with an empty model cache."""
    tmp = tmp_path_factory.mktemp("handoff-api")
    port = free_port()
    env = {
        **os.environ,
        **platform_env,
        "MLFLOW_TRACKING_URI": mlflow_server,
        "SERVING_MODEL_NAME": registered.name,
        "SERVING_MODEL_POLL_SECONDS": str(POLL_SECONDS),
        "SERVING_MODEL_CACHE_DIR": str(tmp / "models"),
        "SERVING_SPILL_DIR": str(tmp / "spill"),
        "SERVING_LOG_ENABLED": "false",  # the shared prediction log stays the demo's
        "SERVING_PORT": str(port),
        "SERVING_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
        "LOG_FORMAT": "json",
    }
    (tmp / "metrics").mkdir()
    log = (tmp / "fraud-api.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("fraud-api"))], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "fraud-api did not become ready:\n"
                    + (tmp / "fraud-api.log").read_text()[-3000:],
                    pytrace=False,
                )
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass(frozen=True)
class Answer:
    at: float
    status: int
    version: str | None


def _load(url: str, stop: threading.Event, out: list[Answer]) -> None:
    with requests.Session() as s:
        while not stop.is_set():
            try:
                r = s.post(f"{url}/predict", json=TX, timeout=5)
                version = r.json().get("model_version") if r.status_code == 200 else None
                out.append(Answer(time.monotonic(), r.status_code, version))
            except requests.RequestException as err:
                out.append(Answer(time.monotonic(), 0, repr(err)))


def test_api_downloads_the_production_model_and_swaps_under_load(
    registered: Registered, api: str, mlflow_server: str
) -> None:
    first, second = registered.versions
    ready = requests.get(f"{api}/ready", timeout=5).json()
    assert ready["model_version"] == first, ready

    answers: list[Answer] = []
    stop = threading.Event()
    clients = [
        threading.Thread(target=_load, args=(api, stop, answers), daemon=True)
        for _ in range(CLIENTS)
    ]
    for c in clients:
        c.start()
    try:
        time.sleep(2.0)
        client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
        client.set_registered_model_alias(registered.name, names.ALIAS_PRODUCTION, second)
        moved = time.monotonic()
        time.sleep(POLL_SECONDS + LOAD_ALLOWANCE_SECONDS + 2.0)
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=10)

    failed = [a for a in answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed, e.g. {failed[:3]}"
    before = [a for a in answers if a.at < moved]
    after = [a for a in answers if a.at >= moved]
    assert len(before) > 20 and len(after) > 100, (len(before), len(after))
    assert {a.version for a in before} == {first}
    assert {a.version for a in after} == {first, second}, "the alias move was not picked up"
    last_old = max(a.at for a in after if a.version == first)
    swap_delay = last_old - moved
    print(
        f"hand-off: {len(answers)} answers, {len(failed)} failed, last v{first} answer "
        f"{swap_delay:.2f} s after the alias moved (poll {POLL_SECONDS:.0f} s)"
    )
    assert swap_delay <= POLL_SECONDS + LOAD_ALLOWANCE_SECONDS, (
        f"answers of version {first} until {swap_delay:.1f} s after the alias moved"
    )
    # both workers swapped: the tail of the run answers with the new version only
    tail = [a for a in after if a.at > moved + POLL_SECONDS + LOAD_ALLOWANCE_SECONDS]
    assert tail and {a.version for a in tail} == {second}
