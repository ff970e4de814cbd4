"""SIGKILL the streaming feature job three times under live load: the online state stays exact.

The job runs as ``python -m serving.feature_stream`` against topics of its own (the stack's
Kafka and registry) and a private Redis. A producer thread sends ~1,000 transactions a
second (about 3 % invalid, of every kind) with their fraud labels, while the job is
killed with SIGKILL at random moments and started again; the load runs until the last
kill and the last start catches up. In the end every valid transaction is on its card and
its terminal exactly once (none lost, none counted twice) and every fraud report on its
terminal, as the bronze writer's kill test asks of bronze.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from fraud_common.paths import repo_root
from fraud_common.settings import PlatformSettings
from fraud_contracts import online
from fraud_simulator.simulator import Simulator
from fraud_testing.serving import RedisProcess
from fraud_testing.wire import Sender

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)

TPS = 1_000
#: the longest the load may run (a bound for a stuck test); it stops at the last kill
PRODUCE_SECONDS = 120
INVALID_EVERY = 33
KILLS = 3


class Job:
    """The job as a subprocess (its own process group: SIGKILL leaves nothing behind)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "serving.feature_stream"],
                cwd=repo_root(),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)


def test_sigkill_three_times_under_load_keeps_the_online_state_exact(
    fresh_topics: PlatformSettings, private_redis: RedisProcess, tmp_path: Path
) -> None:
    send = Sender(fresh_topics)
    client = redis.Redis(port=private_redis.port, password=private_redis.password)
    valid: dict[str, str] = {}  # transaction id -> card
    reports: set[str] = set()
    stop_load = threading.Event()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            sim = Simulator(31)
            bad = 0
            started = time.monotonic()
            while not stop_load.is_set() and time.monotonic() - started < PRODUCE_SECONDS:
                tick = time.monotonic()
                for item in sim.live_batch(dt.datetime.now(dt.UTC), TPS // 10):
                    tx: dict[str, Any] = dict(item.transaction)
                    bad += 1
                    if bad % INVALID_EVERY == 0:  # a value the contract refuses, or no Avro
                        if bad % 2:
                            send.transaction(tx | {"amount": -tx["amount"]})
                        else:
                            send.raw(b"\x00garbage")
                        continue
                    send.transaction(tx)
                    valid[tx["transaction_id"]] = tx["user_id"]
                    if item.label is not None:
                        send.fraud_label(item.label)
                        reports.add(tx["transaction_id"])
                time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
            send.flush()
        except BaseException as err:
            errors.append(err)

    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": fresh_topics.kafka_bootstrap_servers,
        "SCHEMA_REGISTRY_URL": fresh_topics.schema_registry_url,
        "KAFKA_TOPIC_RAW": fresh_topics.kafka_topic_raw,
        "KAFKA_TOPIC_LABELS": fresh_topics.kafka_topic_labels,
        "REDIS_PORT": str(private_redis.port),
        "REDIS_PASSWORD": private_redis.password,
        "FEATURE_STREAM_GROUP_ID": f"test-kill-{uuid.uuid4().hex[:8]}",
        "FEATURE_STREAM_METRICS_PORT": "0",
        "LOG_FORMAT": "json",
    }
    job = Job(env, tmp_path / "job.log")
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    log.info("feature stream kill test seed %s, job log %s", seed, job.log_path)
    feeder = threading.Thread(target=load)

    def applied() -> int:
        raw = client.get(online.STATUS_KEY)
        return online.StreamStatus.from_redis(raw).applied_through_ms if raw else 0

    try:
        job.start()
        feeder.start()
        for kill in range(KILLS):
            mark = applied()
            deadline = time.monotonic() + 60
            while applied() <= mark:  # this start of the job is applying records
                assert job.proc is not None and job.proc.poll() is None, "the job exited"
                assert time.monotonic() < deadline, "the job applied nothing"
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, 3.0))  # mid-batch, mid-commit or between batches
            job.kill()
            log.info("kill %d at %s", kill + 1, time.strftime("%X"))
            job.start()
        assert feeder.is_alive(), "the load ended before the last kill"
        stop_load.set()
        feeder.join(60)
        assert not errors, errors

        def state() -> dict[str, set[str]]:
            out: dict[str, set[str]] = {}
            for key in client.scan_iter(match=online.USER_EVENTS + "*", count=5000):
                out[key.decode()] = {m.decode().split(":", 1)[1] for m in client.zrange(key, 0, -1)}
            return out

        expected: dict[str, set[str]] = {}
        for tx_id, user in valid.items():
            expected.setdefault(online.user_keys(user)[0], set()).add(tx_id)
        deadline = time.monotonic() + 120
        now = state()
        while now != expected and time.monotonic() < deadline:
            time.sleep(1)
            now = state()
        lost = set().union(*expected.values()) - set().union(*now.values())
        extra = set().union(*now.values()) - set().union(*expected.values())
        assert not lost and not extra, f"{len(lost)} lost, {len(extra)} not sent"
        assert now == expected  # each on its own card, once (a set per card)
        on_terminals = sum(
            client.zcard(k) for k in client.scan_iter(match=online.TERMINAL_EVENTS + "*")
        )
        assert on_terminals == len(valid)  # each on one terminal, once
        placed = {
            f.decode()
            for k in client.scan_iter(match=online.TERMINAL_FRAUDS + "*")
            for f in client.hkeys(k)
        }
        assert placed == reports
    finally:
        stop_load.set()
        feeder.join(5)
        job.stop()
        tail = job.log_path.read_text(errors="replace").splitlines()[-20:]
        log.info("job log tail:\n%s", "\n".join(tail))
