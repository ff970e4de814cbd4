"""``fraud-producer``: simulated payment transactions into Kafka (backfill or live).

    fraud-producer --mode backfill --days 30          N days of history, as fast as possible
    fraud-producer --mode backfill --days 30 --history-end 2026-12-07T12:00:00+00:00
                                                      ... ending at an instant (make demo: now)
    fraud-producer --mode live --traffic history      the history's process, continued live
    fraud-producer --mode live --tps 100              uniform load at a steady rate

Every option also reads from the environment (``PRODUCER_*``; see settings.py).
Both schemas are registered (subject compatibility BACKWARD) before the first message;
the producer refuses to start if the registry rejects them. SIGTERM/SIGINT stop it
gracefully: outstanding deliveries are flushed and the final counts are logged.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
from prometheus_client import start_http_server

from fraud_common.logs import configure_logging
from fraud_contracts import dlq
from fraud_contracts.avro import (
    FRAUD_LABEL_AVSC,
    TRANSACTION_AVSC,
    Encoder,
    FraudLabel,
    SchemaValidationError,
    fraud_label_schema,
    schema_text,
    transaction_schema,
)
from fraud_contracts.registry import CachedSchemaLookup, RegistryError, SchemaRegistry
from fraud_simulator.simulator import (
    LabelBuffer,
    SimulatedTransaction,
    Simulator,
    from_millis,
    to_millis,
)
from producer import metrics, resume
from producer.malformed import Malformed, Malformer, quality_problems
from producer.producer import TransactionProducer
from producer.settings import ProducerSettings

log = structlog.get_logger("producer")

#: transactions encoded and produced together in backfill mode (column-wise encoding)
BATCH = 5_000


@dataclass
class Stop:
    """Set by SIGTERM/SIGINT; the loops check it between records."""

    requested: bool = False

    def install(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stop requested", signal=signal.Signals(signum).name)
            self.requested = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def register_schemas(settings: ProducerSettings) -> tuple[int, int]:
    """Set BACKWARD compatibility and register both subjects; returns their ids."""
    registry = SchemaRegistry(settings.schema_registry_url)
    ids = []
    for topic, path in (
        (settings.topic_raw, TRANSACTION_AVSC),
        (settings.topic_labels, FRAUD_LABEL_AVSC),
    ):
        subject = f"{topic}-value"
        registry.set_compatibility(subject, "BACKWARD")
        ids.append(registry.register(subject, schema_text(path)))
        log.info("schema registered", subject=subject, schema_id=ids[-1])
    return ids[0], ids[1]


class Run:
    """One producer run: routes simulated records (and injected malformed ones)."""

    def __init__(self, settings: ProducerSettings, producer: TransactionProducer) -> None:
        self.settings = settings
        self.producer = producer
        self.malformer = (
            Malformer(settings.seed, settings.malformed_fraction)
            if settings.malformed_fraction > 0
            else None
        )
        self.simulator = Simulator(
            settings.seed,
            label_delay=timedelta(seconds=settings.label_delay_seconds),
            # a restarted live producer must not repeat its previous run's transaction ids
            live_run=time.time_ns() // 1_000_000 if settings.mode == "live" else 0,
        )
        self.stop = Stop()
        self.transactions = 0
        self._last_progress = time.monotonic()
        self._last_acked = 0

    # ------------------------------------------------------------------ routing
    def emit_batch(self, events: Sequence[SimulatedTransaction], now_ms: int) -> None:
        """Send simulated transactions, and malformed variants beside some of them."""
        records = [e.transaction for e in events]
        variants: list[Malformed] = []
        if self.malformer is not None:
            for record in records:
                bad = self.malformer.maybe(record)
                if bad is not None:
                    variants.append(bad)
        self.route(records, now_ms)
        self.transactions += len(records)
        for bad in variants:
            self.emit_malformed(bad, now_ms)

    def route(self, records: Sequence[Mapping[str, Any]], now_ms: int) -> None:
        """Validate records (contract rules, then Avro types); send them or DLQ them."""
        p = self.producer
        good: list[Mapping[str, Any]] = []
        for record in records:
            problems = quality_problems(record, now_ms)
            if not problems:
                good.append(record)
                continue
            p.counts.generated += 1
            rules = ",".join(problems)
            try:
                value = p.tx_encoder.encode(record)
            except SchemaValidationError:
                value = repr(dict(record)).encode()
            p.to_dlq(
                value,
                "quality",
                f"failed rules: {rules}",
                key=_user_key(record),
                extra={dlq.RULES: rules},
            )
        p.send_transactions(good)  # wrong types fail encoding -> DLQ (schema_validation)

    def emit_malformed(self, bad: Malformed, now_ms: int) -> None:
        p = self.producer
        if self.settings.malformed_target == "raw":
            # unvalidated, to exercise the streaming job's DLQ paths
            if bad.payload is not None:
                p.send_raw(bad.payload)
            elif bad.kind == "bad_value" and bad.record is not None:
                p.send_raw(p.tx_encoder.encode(bad.record), _user_key(bad.record))
            else:
                p.send_raw(repr(bad.record).encode())
            return
        if bad.payload is not None:  # bytes that are not a transaction at all
            p.counts.generated += 1
            p.to_dlq(bad.payload, "not_avro", f"not a transaction record ({bad.defect})")
            return
        assert bad.record is not None
        self.route([bad.record], now_ms)

    # ------------------------------------------------------------------ modes
    def backfill(self) -> None:
        s = self.settings
        now_ms = to_millis(datetime.now(UTC))
        events: Iterator[SimulatedTransaction]
        if s.history_end is not None:
            # The history ends at an instant (make demo: now); the live producer's
            # --traffic history goes on from there, and sends the labels held back here.
            end = s.history_end if s.history_end.tzinfo else s.history_end.replace(tzinfo=UTC)
            end_ms = min(to_millis(end), now_ms)
            start = end.astimezone(UTC).date() - timedelta(days=s.days)
            events = self.simulator.between(
                to_millis(datetime(start.year, start.month, start.day, tzinfo=UTC)), end_ms
            )
            labels_until = end_ms
        else:
            # By default the history ends one label delay before today, so every label of
            # it has been reported by now (a label must never arrive "from the future").
            delay_days = math.ceil(s.label_delay_seconds / 86_400)
            start = s.start_date or (datetime.now(UTC).date() - timedelta(days=s.days + delay_days))
            events = self.simulator.backfill(s.days, start)
            labels_until = 2**62
        log.info(
            "backfill starting",
            days=s.days,
            start_date=str(start),
            history_end=str(s.history_end) if s.history_end else None,
            seed=s.seed,
        )
        limit = s.max_records if s.max_records is not None else 2**62
        held = 0
        while not self.stop.requested and self.transactions < limit:
            batch = list(islice(events, min(BATCH, limit - self.transactions)))
            if not batch:
                break
            self.emit_batch(batch, now_ms)
            for event in batch:
                if event.label is None:
                    continue
                if event.label["reported_at"] <= labels_until:
                    self.producer.send_label(event.label)
                else:
                    held += 1
            self.producer.poll(0)
            self.progress()
        if held:
            log.info(
                "labels held back for the live producer (reported after the history)", count=held
            )

    def live(self) -> None:
        if self.settings.traffic == "history":
            self.live_history()
        else:
            self.live_uniform()

    def live_history(self) -> None:
        """The history's day process, from just after its newest transaction on the raw
        topic (or now, if there is none or it is older than ``max_catchup_hours``): events
        already due are sent at up to ``tps`` (catching up), later ones when the wall clock
        reaches their event time. See :mod:`producer.resume` for the labels."""
        s = self.settings
        metrics.CONFIGURED_TPS.set(s.tps)
        lookup = CachedSchemaLookup(SchemaRegistry(s.schema_registry_url))
        now_ms = to_millis(datetime.now(UTC))
        newest = resume.newest_transaction(s, lookup, now_ms, self.in_history())
        start = now_ms if newest is None else min(newest[0] + 1, now_ms)
        floor = now_ms - int(s.max_catchup_hours * 3_600_000)
        if start < floor:
            log.warning(
                "the history's stream stopped too long ago: resuming within the catch-up "
                "limit leaves a gap",
                stopped_at=str(from_millis(start)),
                gap_hours=round((floor - start) / 3_600_000, 1),
            )
            start = floor
        labels = LabelBuffer()
        for label in self.unsent_labels(lookup, newest):
            labels.push(label)
        log.info(
            "live starting",
            traffic="history",
            resume_at=str(from_millis(start)),
            catch_up_seconds=round((now_ms - start) / 1000),
            max_tps=s.tps,
            pending_labels=len(labels),
            seed=s.seed,
            label_delay_seconds=s.label_delay_seconds,
        )
        events = self.simulator.between(start)
        upcoming = next(events)
        tick = max(0.005, min(0.1, 100.0 / s.tps))
        tokens, last = 0.0, time.monotonic()
        while not self.stop.requested and not self.reached_max():
            clock = time.monotonic()
            tokens = min(tokens + (clock - last) * s.tps, max(s.tps * tick, 1.0))
            last = clock
            now_ms = to_millis(datetime.now(UTC))
            room = int(tokens)
            if s.max_records is not None:
                room = min(room, s.max_records - self.transactions)
            batch: list[SimulatedTransaction] = []
            while len(batch) < room and upcoming.transaction["event_time"] <= now_ms:
                batch.append(upcoming)
                upcoming = next(events)
            tokens -= len(batch)
            self.send_tick(batch, labels, now_ms)
            self.producer.poll(tick)
            self.progress()
        self.send_labels_left(labels)

    def in_history(self) -> Callable[[int, str], bool]:
        """Whether ``(event_time, transaction_id)`` is one of the history's transactions
        (this seed's day process; each day generated once)."""
        days: dict[date, frozenset[str]] = {}

        def known(event_time: int, transaction_id: str) -> bool:
            day = from_millis(event_time).date()
            if day not in days:
                days[day] = frozenset(
                    e.transaction["transaction_id"] for e in self.simulator.day(day)
                )
            return transaction_id in days[day]

        return known

    def unsent_labels(
        self, lookup: CachedSchemaLookup, newest: tuple[int, str] | None
    ) -> list[FraudLabel]:
        """Labels of the history's transactions up to ``newest`` (its newest on the raw
        topic) that are not on the labels topic: held back by the backfill, or pending in a
        producer that crashed."""
        delay_ms = int(self.settings.label_delay_seconds * 1000)
        if newest is None or delay_ms == 0:
            return []
        until = newest[0] + 1  # what was sent ends there (a gap after it was never sent)
        since = until - delay_ms
        recent = [e.label for e in self.simulator.between(since, until) if e.label is not None]
        if not recent:
            return []
        sent = resume.labels_sent(self.settings, lookup, since)
        return [label for label in recent if label["transaction_id"] not in sent]

    def live_uniform(self) -> None:
        s = self.settings
        metrics.CONFIGURED_TPS.set(s.tps)
        labels = LabelBuffer()
        began = time.monotonic()
        tick = max(0.005, min(0.1, 100.0 / s.tps))  # ~100 records per tick at high rates
        log.info("live starting", tps=s.tps, seed=s.seed, label_delay_seconds=s.label_delay_seconds)
        while not self.stop.requested and not self.reached_max():
            due = int((time.monotonic() - began) * s.tps) - self.transactions
            if s.max_records is not None:
                due = min(due, s.max_records - self.transactions)
            now = datetime.now(UTC)
            batch = (
                self.simulator.live_batch(now, due, window=timedelta(seconds=tick))
                if due > 0
                else []
            )
            self.send_tick(batch, labels, to_millis(now))
            self.producer.poll(tick)
            self.progress()
        self.send_labels_left(labels)

    def send_tick(
        self, batch: Sequence[SimulatedTransaction], labels: LabelBuffer, now_ms: int
    ) -> None:
        """One tick of a live loop: the batch (its frauds' labels queued until reported),
        then every label now due."""
        if batch:
            self.emit_batch(batch, now_ms)
            for event in batch:
                if event.label is not None:
                    labels.push(event.label)
        for label in labels.pop_due(now_ms):
            self.producer.send_label(label)
        metrics.PENDING_LABELS.set(len(labels))

    def send_labels_left(self, labels: LabelBuffer) -> None:
        """On shutdown, labels not yet due are sent with their scheduled ``reported_at``.

        They are never lost; consumers use ``reported_at`` (not arrival time) for
        point-in-time correctness, so an early arrival changes nothing downstream.
        """
        left = labels.pop_due(2**62)
        for label in left:
            self.producer.send_label(label)
        if left:
            log.info("pending labels sent at shutdown", count=len(left))

    def reached_max(self) -> bool:
        m = self.settings.max_records
        return m is not None and self.transactions >= m

    def progress(self, force: bool = False) -> None:
        now = time.monotonic()
        elapsed = now - self._last_progress
        if not force and elapsed < self.settings.progress_interval_seconds:
            return
        acked = self.producer.counts.acked[self.settings.topic_raw]
        rate = (acked - self._last_acked) / elapsed if elapsed > 0 else 0.0
        metrics.ACHIEVED_TPS.set(rate)
        log.info(
            "progress",
            generated=self.producer.counts.generated,
            acked_raw=acked,
            tps=round(rate),
            dlq=sum(self.producer.counts.dlq.values()),
            in_flight=len(self.producer.client),
        )
        self._last_progress, self._last_acked = now, acked


def _user_key(record: Mapping[str, Any]) -> bytes | None:
    user = record.get("user_id")
    return user.encode() if isinstance(user, str) and user else None


def parse_args(argv: list[str] | None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="fraud-producer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mode", choices=["live", "backfill"])
    p.add_argument("--traffic", choices=["uniform", "history"])
    p.add_argument("--tps", type=float)
    p.add_argument("--max-catchup-hours", type=float)
    p.add_argument("--history-end", type=datetime.fromisoformat)
    p.add_argument("--days", type=int)
    p.add_argument("--start-date", type=date.fromisoformat)
    p.add_argument("--max-records", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--label-delay-seconds", type=float)
    p.add_argument("--malformed-fraction", type=float)
    p.add_argument("--malformed-target", choices=["dlq", "raw"])
    p.add_argument("--metrics-port", type=int)
    p.add_argument("--counts-file", type=Path, help="write the final counts here as JSON")
    args = vars(p.parse_args(argv))
    return {k: v for k, v in args.items() if v is not None}


def run(
    settings: ProducerSettings,
    make_producer: Callable[
        [ProducerSettings, Encoder, Encoder], TransactionProducer
    ] = TransactionProducer,
) -> dict[str, Any]:
    """Register schemas, produce in the configured mode, flush; returns the final counts."""
    tx_id, label_id = register_schemas(settings)
    producer = make_producer(
        settings, Encoder(transaction_schema(), tx_id), Encoder(fraud_label_schema(), label_id)
    )
    job = Run(settings, producer)
    job.stop.install()
    began = time.monotonic()
    try:
        job.backfill() if settings.mode == "backfill" else job.live()
    finally:
        remaining = producer.flush(120)
        job.progress(force=True)
        counts = producer.counts.as_dict()
        counts["unflushed"] = remaining
        counts["seconds"] = round(time.monotonic() - began, 3)
        log.info("producer finished", **counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    counts_file: Path | None = args.pop("counts_file", None)
    settings = ProducerSettings(**args)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    try:
        counts = run(settings)
    except RegistryError as err:
        log.error("schema registry refused the data contract; not starting", error=str(err))
        return 2
    if counts_file is not None:
        counts_file.write_text(json.dumps(counts, indent=2))
    return 0 if counts["unflushed"] == 0 and counts["dlq_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
