"""Microbenchmark: per-record fastavro ``Encoder`` versus the columnar ``BatchEncoder``.

Encodes simulator transactions (generated once, outside the timed loops) to the
Confluent wire format, with no Kafka involved, and prints µs/record and records/s of:

- ``Encoder.encode`` called once per record (the producer's former path);
- ``BatchEncoder.encode_many`` over batches of several sizes (column extraction,
  bulk type checks and the per-row join included).

Rounds alternate between the encoders so that a noisy neighbour slows them alike; the
figures are the best round and the median round of CPU time (``time.process_time``).
Run by hand, not in tests::

    .venv/bin/python bench/avro_encode.py [--records 50000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

from fraud_contracts.avro import Encoder, transaction_schema
from fraud_simulator.simulator import Simulator
from producer.batch_encode import BatchEncoder

BATCH_SIZES = (1_000, 2_000, 5_000, 10_000)


def records(n: int, seed: int = 1) -> list[Mapping[str, Any]]:
    """``n`` simulated transactions (whole days from 2025-01-01, cut at ``n``)."""
    out: list[Mapping[str, Any]] = []
    day = date(2025, 1, 1)
    sim = Simulator(seed)
    while len(out) < n:
        out.extend(s.transaction for s in sim.day(day))
        day += timedelta(days=1)
    return out[:n]


def per_record(encoder: Encoder, rows: list[Mapping[str, Any]]) -> Callable[[], object]:
    def run() -> object:
        encode = encoder.encode
        return [encode(r) for r in rows]

    return run


def batched(
    encoder: BatchEncoder, rows: list[Mapping[str, Any]], size: int
) -> Callable[[], object]:
    def run() -> object:
        encode_many = encoder.encode_many
        return [encode_many(rows[i : i + size]) for i in range(0, len(rows), size)]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    rows = records(args.records)
    schema = transaction_schema()
    encoder = Encoder(schema, 1)
    batch_encoder = BatchEncoder(schema, 1)
    expected = [encoder.encode(r) for r in rows]
    for size in BATCH_SIZES:  # warms the memos; the figures are for a warm encoder
        got = [
            b
            for i in range(0, len(rows), size)
            for b in batch_encoder.encode_many(rows[i : i + size])
        ]
        if got != expected:
            raise SystemExit(f"BatchEncoder output differs from Encoder (batch {size})")

    cases: dict[str, Callable[[], object]] = {"Encoder.encode": per_record(encoder, rows)}
    for size in BATCH_SIZES:
        cases[f"BatchEncoder.encode_many({size})"] = batched(batch_encoder, rows, size)
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, run in cases.items():
            start = time.process_time()
            run()
            seconds[name].append(time.process_time() - start)

    n = len(rows)
    base = min(seconds["Encoder.encode"]) / n
    print(f"{n} records, {args.rounds} rounds (CPU time; best / median round)")
    for name, times in seconds.items():
        best, median = min(times) / n, statistics.median(times) / n
        print(
            f"{name:32s} {best * 1e6:6.2f} / {median * 1e6:6.2f} µs/record"
            f"  {1 / best:>10,.0f} records/s  x{base / best:4.1f}"
        )


if __name__ == "__main__":
    main()
