"""The prediction log: every prediction in Postgres ``predictions``, none lost or doubled.

Requests never wait on Postgres: :meth:`PredictionLog.submit` appends the row tuple to an
in-memory list (O(1), no formatting, no wake-up) and a background task takes the whole
list every ``log_flush_seconds`` and writes it in batches of up to ``log_batch_rows``
through a small connection pool: one ``COPY`` (binary format, the rows packed in one
pass by :func:`copy_binary`) into a per-connection temporary table, then
``INSERT ... SELECT ... ON CONFLICT (transaction_id) DO NOTHING``, so a replayed or
retried row is never stored twice.

Each row carries the API's ``top_reasons`` as it answered them (the list of reason dicts
the predictor built, stored as is: the request only appends the reference); the writer
turns them into ``jsonb`` while it packs the batch. The column came after the first
release: at its first write a process adds what an older table lacks (:data:`UPGRADES`,
``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``), and rows of a spill file written before the
change are replayed with the defaults of the columns they lack (:func:`_from_spill`).

When Postgres is unreachable, batches are appended to a local spill file (JSON lines,
``fsync``-ed per batch) and, from then on, every new batch goes behind them to keep the
order. Every ``log_retry_seconds`` the writer tries to replay the file from the start;
when it all went in, the file is emptied and writing goes back to Postgres. A replay cut
short is simply repeated (idempotent). Each process has its own file, locked with
``flock``; at start a process also claims and replays files left by dead processes.
Rows still in memory are flushed (or spilled) at shutdown; only a hard kill of the
process can lose the last ``log_flush_seconds`` of rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import os
import struct
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson
import psycopg
import psycopg_pool
import structlog

from serving import metrics
from serving.settings import ServingSettings

log = structlog.get_logger("serving.prediction_log")

COLUMNS = (
    "transaction_id",
    "user_id",
    "merchant_id",
    "amount",
    "probability",
    "risk_tier",
    "model_version",
    "feature_source",
    "features",
    "latency_ms",
    "event_time",
    "predicted_at",
    "top_reasons",
)
#: one prediction, in COLUMNS order (``top_reasons``: the API's list of reason dicts)
Row = tuple[Any, ...]

DDL = """
CREATE TABLE IF NOT EXISTS predictions (
    transaction_id text PRIMARY KEY,
    user_id text NOT NULL,
    merchant_id text NOT NULL,
    amount double precision NOT NULL,
    probability double precision NOT NULL,
    risk_tier text NOT NULL,
    model_version text NOT NULL,
    feature_source text NOT NULL,
    features double precision[] NOT NULL,
    latency_ms double precision NOT NULL,
    event_time timestamptz,
    predicted_at timestamptz NOT NULL,
    top_reasons jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS predictions_predicted_at ON predictions (predicted_at);
"""
#: columns added after the first release: column -> the statement adding it to a table an
#: older DDL created (a constant default: no table rewrite). Run only when the column is
#: missing, as ``ALTER TABLE`` takes an exclusive lock even when it has nothing to do.
UPGRADES: dict[str, str] = {
    "top_reasons": (
        "ALTER TABLE predictions ADD COLUMN IF NOT EXISTS top_reasons jsonb NOT NULL DEFAULT '[]'"
    ),
}
#: the value a row written before a column existed (an old spill file) gets, COLUMNS order
_ADDED_DEFAULTS: tuple[Any, ...] = ((),)
_COLUMNS_OF_TABLE = (
    "SELECT attname FROM pg_attribute WHERE attrelid = 'predictions'::regclass"
    " AND attnum > 0 AND NOT attisdropped"
)
_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS predictions_stage "
    "(LIKE predictions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_COLS = ", ".join(COLUMNS)
_COPY = f"COPY predictions_stage ({_COLS}) FROM STDIN (FORMAT BINARY)"
_MERGE = (
    f"INSERT INTO predictions ({_COLS}) SELECT {_COLS} FROM predictions_stage "  # noqa: S608
    "ON CONFLICT (transaction_id) DO NOTHING"
)


class PredictionLog:
    """Asynchronous, batched, spill-backed writer of prediction rows (one per process)."""

    def __init__(self, settings: ServingSettings, dsn: str | None = None) -> None:
        self.settings = settings
        self.dsn = dsn or settings.postgres_dsn()
        self._rows: list[Row] = []
        self.pool: psycopg_pool.AsyncConnectionPool | None = None
        self.spill_dir = settings.spill_dir
        self._own_path = self.spill_dir / f"spill-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._own: IO[bytes] | None = None
        self._claimed: list[tuple[Path, IO[bytes]]] = []  # files of dead processes, in order
        self._spilled_rows = 0
        self._table_ready = False
        self._next_retry = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self._own = self._own_path.open("ab+")
        fcntl.flock(self._own, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._claim_orphans()
        self.pool = psycopg_pool.AsyncConnectionPool(
            self.dsn,
            min_size=1,
            max_size=self.settings.log_pool_max,
            open=False,
            timeout=2.0,
            reconnect_timeout=0,  # keep trying forever: an outage is expected, not fatal
            kwargs={"autocommit": False},
        )
        await self.pool.open(wait=False)
        self._task = asyncio.create_task(self._run(), name="prediction-log")

    async def stop(self) -> None:
        """Write (or spill) everything still queued, then close.

        The writer task is asked to stop, not cancelled: a cancel landing inside a
        ``COPY`` would roll its transaction back and drop the batch it had already taken
        from the queue (seen as missing rows after a shutdown under load). It finishes
        the batch in hand (a write, or a spill if Postgres fails) and exits.
        """
        self._stopping = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        rest = self._drain()
        if rest:
            await self._write(rest)
        if self.pool is not None:
            await self.pool.close()
        for _, handle in self._claimed:  # not replayed yet: unlocked for the next process
            handle.close()
        if self._own is not None:
            empty = self._own_path.stat().st_size == 0
            self._own.close()
            if empty:
                self._own_path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ producer side
    def submit(self, row: Row) -> None:
        """Queue one prediction (never blocks, never raises on a Postgres outage)."""
        self._rows.append(row)

    @property
    def backlog(self) -> int:
        return len(self._rows) + self._spilled_rows

    @property
    def spilling(self) -> bool:
        return self._spilled_rows > 0 or bool(self._claimed)

    # ------------------------------------------------------------------ writer task
    def _drain(self) -> list[Row]:
        batch, self._rows = self._rows, []
        return batch

    async def _run(self) -> None:
        limit = self.settings.log_batch_rows
        idle = 0.0
        while not self._stopping:
            await asyncio.sleep(self.settings.log_flush_seconds)
            batch = self._drain()
            if not batch:
                idle += self.settings.log_flush_seconds
                if self.spilling and idle >= self.settings.log_retry_seconds:
                    idle = 0.0
                    await self._write([])  # nothing new: just try the replay
                continue
            idle = 0.0
            for i in range(0, len(batch), limit):
                await self._write(batch[i : i + limit])
            self._report()

    async def _write(self, batch: Sequence[Row]) -> None:
        if self.spilling:
            if batch:
                self._spill(batch)
            if time.monotonic() >= self._next_retry:
                await self._replay()
            return
        try:
            await self._insert(batch)
            metrics.LOG_WRITTEN.labels("direct").inc(len(batch))
        except Exception as err:  # never lose rows: whatever failed, they go to disk
            log.warning("postgres unavailable; spilling predictions", error=str(err)[:200])
            self._spill(batch)
            self._next_retry = time.monotonic() + self.settings.log_retry_seconds

    def _report(self) -> None:
        metrics.LOG_BACKLOG.labels("memory").set(len(self._rows))
        metrics.LOG_BACKLOG.labels("spill").set(self._spilled_rows)

    # ------------------------------------------------------------------ Postgres
    async def _insert(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        assert self.pool is not None
        async with self.pool.connection() as conn:
            if not self._table_ready:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('predictions'))")
                    await conn.execute(DDL)
                    await self._upgrade(conn)
                self._table_ready = True
            async with conn.transaction():
                await conn.execute(_STAGE)
                async with conn.cursor() as cur, cur.copy(_COPY) as copy:
                    await copy.write(copy_binary(rows))
                await conn.execute(_MERGE)

    @staticmethod
    async def _upgrade(conn: psycopg.AsyncConnection[Any]) -> None:
        """Add the columns an older ``predictions`` table lacks (in the DDL's transaction)."""
        cur = await conn.execute(_COLUMNS_OF_TABLE)
        present = {name for (name,) in await cur.fetchall()}
        for column, statement in UPGRADES.items():
            if column not in present:
                await conn.execute(statement)
                log.info("predictions table upgraded", added_column=column)

    # ------------------------------------------------------------------ spill file
    def _spill(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        assert self._own is not None
        self._own.write(b"".join(orjson.dumps(row) + b"\n" for row in rows))
        self._own.flush()
        os.fsync(self._own.fileno())
        self._spilled_rows += len(rows)
        metrics.LOG_SPILLED.inc(len(rows))

    async def _replay(self) -> None:
        """Write the spilled rows back in order; on success empty the files."""
        self._next_retry = time.monotonic() + self.settings.log_retry_seconds
        try:
            while self._claimed:
                path, handle = self._claimed[0]
                await self._replay_file(handle)
                handle.close()
                path.unlink(missing_ok=True)
                self._claimed.pop(0)
            if self._spilled_rows:
                assert self._own is not None
                n = await self._replay_file(self._own)
                self._own.truncate(0)
                self._own.seek(0)
                os.fsync(self._own.fileno())
                log.info("spilled predictions replayed", rows=n)
                self._spilled_rows = 0
        except Exception as err:  # retried later; the files stay as they are
            log.info("postgres still unavailable", error=str(err)[:200])

    async def _replay_file(self, handle: IO[bytes]) -> int:
        handle.seek(0)
        chunk: list[Row] = []
        n = 0
        for line in handle:
            if not line.endswith(b"\n"):
                break  # torn last line of a crashed writer: never acknowledged as written
            chunk.append(_from_spill(line))
            if len(chunk) >= 5_000:
                await self._insert(chunk)
                n += len(chunk)
                chunk = []
        await self._insert(chunk)
        n += len(chunk)
        metrics.LOG_WRITTEN.labels("replay").inc(n)
        handle.seek(0, os.SEEK_END)
        return n

    def _claim_orphans(self) -> None:
        """Take over spill files of processes that are gone (their lock is free)."""
        files = sorted(self.spill_dir.glob("spill-*.jsonl"), key=lambda p: p.stat().st_mtime)
        for path in files:
            if path == self._own_path:
                continue
            handle = path.open("ab+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()  # a live process owns it
                continue
            if path.stat().st_size == 0:
                handle.close()
                path.unlink(missing_ok=True)
                continue
            log.info("claimed spill file of a previous process", path=str(path))
            self._claimed.append((path, handle))


def _from_spill(line: bytes) -> Row:
    """A spilled row; one written before the last columns existed gets their defaults."""
    values = orjson.loads(line)
    missing = len(COLUMNS) - len(values)
    if missing > 0:
        values.extend(_ADDED_DEFAULTS[len(_ADDED_DEFAULTS) - missing :])
    return tuple(values)


#: ``COPY ... (FORMAT BINARY)`` stream: signature, flags, header extension length
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_BINARY_TRAILER = struct.pack(">h", -1)
_FIELDS = struct.pack(">h", len(COLUMNS))
_NULL = struct.pack(">i", -1)
_LENGTH = struct.Struct(">i")
_FLOAT8 = struct.Struct(">id")  # length 8, value
_TIMESTAMP = struct.Struct(">iq")  # length 8, microseconds since 2000-01-01 UTC
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_FLOAT8_OID = 701
_ARRAY_STRUCTS: dict[int, struct.Struct] = {}
_JSONB_VERSION = b"\x01"  # jsonb's binary format: a version byte, then the JSON text
_EMPTY_JSONB = _LENGTH.pack(3) + _JSONB_VERSION + b"[]"


def _text_field(value: str) -> bytes:
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def _timestamp_field(value: dt.datetime | str | None) -> bytes:
    if value is None:
        return _NULL
    if isinstance(value, str):  # a row replayed from the spill file (orjson's RFC 3339)
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:  # the API stores UTC; a naive value is UTC
        value = value.replace(tzinfo=dt.UTC)
    return _TIMESTAMP.pack(8, (value - _PG_EPOCH) // _MICROSECOND)


def _float8_array_field(values: Sequence[float]) -> bytes:
    """A one-dimensional ``float8[]`` without NULLs: dimension header, then (length, value)
    pairs, the whole field prefixed with its length."""
    n = len(values)
    packer = _ARRAY_STRUCTS.get(n)
    if packer is None:
        packer = _ARRAY_STRUCTS[n] = struct.Struct(">iiiiii" + "id" * n)
    args: list[float | int] = [8] * (2 * n)
    args[1::2] = values
    return packer.pack(20 + 12 * n, 1, 0, _FLOAT8_OID, n, 1, *args)


def _jsonb_field(value: Sequence[Any]) -> bytes:
    """A ``jsonb`` value (the reasons' list; empty for most predictions: a constant)."""
    if not value:
        return _EMPTY_JSONB
    data = orjson.dumps(value)
    return _LENGTH.pack(len(data) + 1) + _JSONB_VERSION + data


def copy_binary(rows: Sequence[Row]) -> bytes:
    """Rows (COLUMNS order) as a ``COPY ... FROM STDIN (FORMAT BINARY)`` stream.

    PostgreSQL's binary tuple format (signature, per row: field count, then each field's
    length and big-endian value; ``-1`` = NULL): numbers and timestamps are packed, not
    printed and parsed, and text needs no escaping: less work than the text format on
    the scoring API's event loop. ``jsonb`` is sent as its version byte and the JSON text
    (orjson's, so a reason reads back as the API answered it: shortest round-trip floats).
    """
    text, float8, ts, array = _text_field, _FLOAT8.pack, _timestamp_field, _float8_array_field
    jsonb = _jsonb_field
    out = [_BINARY_HEADER]
    out.extend(
        b"".join(
            (
                _FIELDS,
                text(r[0]),
                text(r[1]),
                text(r[2]),
                float8(8, r[3]),
                float8(8, r[4]),
                text(r[5]),
                text(r[6]),
                text(r[7]),
                array(r[8]),
                float8(8, r[9]),
                ts(r[10]),
                ts(r[11]),
                jsonb(r[12]),
            )
        )
        for r in rows
    )
    out.append(_BINARY_TRAILER)
    return b"".join(out)
