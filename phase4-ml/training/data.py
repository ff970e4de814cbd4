"""The training frame: one row per transaction, its features, label and scenario.

Two sources give the same columns (those of ``gold.mart_fraud_features``):
``transaction_id``, ``user_id``, ``merchant_id``, ``event_time`` (UTC), ``event_date``,
every name of :data:`features.FEATURE_NAMES` (float64), ``is_fraud`` (0/1) and
``fraud_scenario`` (None unless fraud).

- ``trino``: the gold mart, built by dbt from bronze (the platform's path).
- ``simulator``: the phase-1 simulator's backfill and the feature definition computed
  here (no engine needed; unit tests and the Trino-less path). ``handbook=True``: the
  simulator's Handbook mode (its three scenarios and parameters only). :func:`compute_features`
  is :func:`features.reference_features` vectorised: events grouped by user / terminal,
  sorted by time, window bounds found by binary search and summed with prefix sums
  (``O(n log n)`` instead of the definition's scan of every earlier event). With ``at``
  (query times, one per transaction) it gives every per-user and per-terminal aggregate
  as of that time instead of the transaction's own (the request features and the
  current amount stay the transaction's): what a batch pipeline's snapshot served
  (``bench/detection.py``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import structlog
from pydantic import SecretStr

from fraud_common.s3 import delta_storage_options
from fraud_contracts import features
from training.settings import TrainingSettings

log = structlog.get_logger(__name__)

ID_COLUMNS = ("transaction_id", "user_id", "merchant_id", "event_time", "event_date")
COLUMNS = (*ID_COLUMNS, *features.FEATURE_NAMES, features.LABEL, "fraud_scenario")

_MS = timedelta(milliseconds=1)
Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


# ============================================================================ features
def _group_windows(group: Int64Array, time_ms: Int64Array) -> tuple[Int64Array, Int64Array, Any]:
    """Sort events by (group, time); returns the order, the sorted composite keys and a
    function giving, for query times per event, the sorted position of the first event
    of the same group at or after that time."""
    order = np.lexsort((time_ms, group))
    t0 = int(time_ms.min()) - 400 * features.DAY_MS  # keeps every offset positive
    span = int(time_ms.max()) - t0 + 400 * features.DAY_MS
    key = group[order] * span + (time_ms[order] - t0)

    def position(g: Int64Array, t: Int64Array) -> Int64Array:
        clipped = np.clip(t - t0, 0, span - 1)
        return np.searchsorted(key, g * span + clipped, side="left").astype(np.int64)

    return order, key, position


def _prefix(values: FloatArray) -> FloatArray:
    out = np.zeros(len(values) + 1)
    np.cumsum(values, out=out[1:])
    return out


def _activity(
    prefix: str,
    group: Int64Array,
    time_ms: Int64Array,
    amount: FloatArray,
    at: Int64Array | None = None,
) -> dict[str, FloatArray]:
    """Count and mean amount of the group's events in ``[a - w, a)`` for every window,
    per event, with ``a`` its query time ``at`` (default: its own time)."""
    at = time_ms if at is None else at
    order, _, position = _group_windows(group, time_ms)
    cents = np.round(amount[order] * 100.0)  # exact integer sums (amounts are cents)
    sums = _prefix(cents)
    hi = position(group, at)
    out: dict[str, FloatArray] = {}
    for suffix, width in features.WINDOWS.items():
        lo = position(group, at - width)
        count = (hi - lo).astype(np.float64)
        total = (sums[hi] - sums[lo]) / 100.0
        out[f"{prefix}_tx_count_{suffix}"] = count
        out[f"{prefix}_avg_amount_{suffix}"] = np.divide(
            total, count, out=np.zeros_like(total), where=count > 0
        )
    return out


def _amount_stats(
    user: Int64Array, time_ms: Int64Array, amount: FloatArray, at: Int64Array | None = None
) -> dict[str, FloatArray]:
    """Population standard deviation and median of the user's amounts in ``[a - 30 d, a)``
    (``0.0`` without any), ``a`` the event's query time ``at`` (default: its own time):
    the standard deviation from exact integer sums of cents and squared cents, the median
    from pandas' rolling window (exact; :func:`_rolling_median`)."""
    order, _, position = _group_windows(user, time_ms)
    cents = np.round(amount[order] * 100.0).astype(np.int64)
    if len(cents) and int(np.abs(cents).max()) >= 10**7:  # squares would overflow int64 sums
        raise ValueError("amounts of 100,000 or more: the cents arithmetic would overflow")
    s1 = np.concatenate([[0], np.cumsum(cents)])
    s2 = np.concatenate([[0], np.cumsum(cents * cents)])
    queries = time_ms if at is None else at
    hi = position(user, queries)
    lo = position(user, queries - features.WINDOWS["30d"])
    n = hi - lo
    numerator = n * (s2[hi] - s2[lo]) - (s1[hi] - s1[lo]) ** 2  # n^2 * variance, in cents^2
    nf = n.astype(np.float64)
    std = np.divide(
        np.sqrt(np.maximum(numerator, 0).astype(np.float64)),
        nf * 100.0,
        out=np.zeros_like(nf),
        where=n > 0,
    )
    if at is None:
        median = _rolling_median(user, time_ms, amount)
    else:
        # the query points as extra rows without an amount: the rolling median skips
        # NaN, and a row's window [a - 30 d, a) excludes every row at or after a
        rows = len(time_ms)
        median = _rolling_median(
            np.concatenate([user, user]),
            np.concatenate([time_ms, at]),
            np.concatenate([amount, np.full(len(at), np.nan)]),
        )[rows:]
    return {"user_std_amount_30d": std, "user_median_amount_30d": median}


def _rolling_median(user: Int64Array, time_ms: Int64Array, amount: FloatArray) -> FloatArray:
    """Per row: the median of the user's non-NaN amounts in ``[t - 30 d, t)`` (0.0 without
    any), by pandas' time-based rolling window (closed left: rows at ``t`` itself are
    out, whatever their order)."""
    order = np.lexsort((time_ms, user))
    sorted_times = pd.to_datetime(time_ms[order], unit="ms")
    rolling = (
        pd.Series(amount[order], index=sorted_times)
        .groupby(user[order], sort=True)
        .rolling(pd.Timedelta(milliseconds=features.WINDOWS["30d"]), closed="left")
        .median()
    )
    median = np.empty(len(order))
    median[order] = np.nan_to_num(rolling.to_numpy(), nan=0.0)  # grouped in sorted order
    return median


def _risk(
    terminal: Int64Array,
    time_ms: Int64Array,
    reported_ms: Int64Array,
    delay: int,
    at: Int64Array | None = None,
) -> dict[str, FloatArray]:
    """Share of the terminal's transactions in ``[a - D - w, a - D)`` reported as fraud
    before ``a``, the event's query time ``at`` (default: its own time; ``reported_ms``
    < 0: never reported; ``delay``: D in ms)."""
    order, key, position = _group_windows(terminal, time_ms)
    # the query points, sorted like the events (the same when ``at`` is None)
    queries = (order, key, position) if at is None else _group_windows(terminal, at)
    at = time_ms if at is None else at
    is_fraud = (reported_ms[order] >= 0).astype(np.float64)
    frauds = _prefix(is_fraud)
    end = position(terminal, at - delay)
    # frauds reported later than D after the event are still unknown at some a: those
    # events are few (none when the reporting delay <= D); subtract them exactly.
    late = np.flatnonzero((reported_ms >= 0) & (reported_ms - time_ms > delay))
    out: dict[str, FloatArray] = {}
    for suffix, width in features.RISK_WINDOWS.items():
        start = position(terminal, at - delay - width)
        count = (end - start).astype(np.float64)
        fraud_count = frauds[end] - frauds[start]
        if len(late):
            fraud_count = fraud_count - _unknown_frauds(
                *queries, terminal, time_ms, reported_ms, late, width, delay
            )
        out[f"terminal_risk_{suffix}"] = np.divide(
            fraud_count, count, out=np.zeros_like(count), where=count > 0
        )
    return out


def _unknown_frauds(
    order: Int64Array,
    key: Int64Array,
    position: Any,
    terminal: Int64Array,
    time_ms: Int64Array,
    reported_ms: Int64Array,
    late: Int64Array,
    width: int,
    delay: int,
) -> FloatArray:
    """Per query: frauds in its risk window whose label comes at or after it.

    A late fraud at ``te`` reported at ``tr`` counts for the terminal's queries at ``a``
    with ``te + D < a <= te + D + w`` and ``a <= tr``: a range of sorted positions.
    ``order``, ``key`` and ``position`` sort the query points (:func:`_group_windows`).
    """
    g = terminal[late]
    te = time_ms[late]
    first = position(g, te + delay + 1)  # t > te + D
    last = position(g, np.minimum(te + delay + width, reported_ms[late]) + 1)  # t <= bound
    diff = np.zeros(len(key) + 1)
    np.add.at(diff, first, 1.0)
    np.add.at(diff, last, -1.0)
    per_sorted = np.cumsum(diff[:-1])
    out = np.empty(len(key))
    out[order] = per_sorted
    return out


def compute_features(
    user: Int64Array,
    terminal: Int64Array,
    time_ms: Int64Array,
    amount: FloatArray,
    is_international: npt.NDArray[np.bool_],
    reported_ms: Int64Array,
    label_delay_ms: int = features.LABEL_DELAY_MS,
    at: Int64Array | None = None,
) -> dict[str, FloatArray]:
    """Every feature of every transaction, as :func:`features.reference_features` defines.

    Integer codes for users and terminals; ``reported_ms`` is when the transaction's fraud
    label was reported (-1: not a fraud). ``label_delay_ms``: the terminal-risk delay D
    (the contract's; the Handbook protocol measures with its own 7 days).

    ``at``: per transaction, the time its per-user and per-terminal aggregates are taken
    at (windows ``[a - w, a)``, terminal risk with labels reported before ``a``; default:
    the transaction's own time, the point-in-time features). The request features stay
    the transaction's, and the derived features divide its amount by the statistics as
    of ``a``: the vector a snapshot taken at ``a`` serves (:func:`features.build_features`
    of :func:`features.reference_records` at ``a``). ``at`` later than the transaction
    would let it see itself and later events: an error.
    """
    if at is not None:
        at = np.asarray(at, dtype=np.int64)
        if at.shape != time_ms.shape:
            raise ValueError(f"at has shape {at.shape}, the events {time_ms.shape}")
        if np.any(at > time_ms):
            raise ValueError("query times later than their transaction: not point in time")
    out: dict[str, FloatArray] = {
        "amount": amount.astype(np.float64),
        "is_international": is_international.astype(np.float64),
    }
    days = time_ms // features.DAY_MS
    out["is_weekend"] = (((days + 3) % 7) >= 5).astype(np.float64)  # 1970-01-01: Thursday
    out["is_night"] = (
        (time_ms % features.DAY_MS) < features.NIGHT_END_HOUR * features.HOUR_MS
    ).astype(np.float64)
    out.update(_activity("user", user, time_ms, amount, at))
    stats = _amount_stats(user, time_ms, amount, at)
    avg, count = out["user_avg_amount_30d"], out["user_tx_count_30d"]
    out["amount_to_user_avg_30d"] = np.divide(
        out["amount"], avg, out=np.ones_like(avg), where=avg > 0
    )
    std, median = stats["user_std_amount_30d"], stats["user_median_amount_30d"]
    out["amount_zscore_30d"] = np.divide(
        out["amount"] - avg,
        std,
        out=np.zeros_like(std),
        where=(count >= features.ZSCORE_MIN_COUNT) & (std >= features.ZSCORE_MIN_STD),
    )
    out["amount_to_user_median_30d"] = np.divide(
        out["amount"], median, out=np.ones_like(median), where=median > 0
    )
    out.update(_activity("terminal", terminal, time_ms, amount, at))
    out.update(_risk(terminal, time_ms, reported_ms, label_delay_ms, at))
    return {name: out[name] for name in features.FEATURE_NAMES}


# ============================================================================ sources
def simulator_events(
    seed: int, days: int, start: date, label_delay: timedelta, handbook: bool = False
) -> Iterable[Any]:
    """The phase-1 simulator's backfill (imported lazily: the producer package)."""
    from fraud_simulator.simulator import Simulator

    sim = (
        Simulator.handbook(seed, start=start, label_delay=label_delay)
        if handbook
        else Simulator(seed, start=start, label_delay=label_delay)
    )
    events: Iterable[Any] = sim.backfill(days, start)
    return events


def from_simulator(
    seed: int = 42,
    days: int = 30,
    start: date | None = None,
    label_delay: timedelta = timedelta(days=1),
    labels_known_at: datetime | None = None,
    handbook: bool = False,
    risk_delay: timedelta | None = None,
) -> pd.DataFrame:
    """The training frame of ``days`` simulated days.

    ``is_fraud`` is the label as known at ``labels_known_at`` (default: every label, the
    simulator's ground truth); risk features use labels only once reported, with the
    delay ``risk_delay`` (default: the feature contract's). ``handbook``: the simulator's
    Handbook mode.
    """
    first = start or (datetime.now(UTC).date() - timedelta(days=days))
    t0 = time.monotonic()
    tx_ids: list[str] = []
    users: list[str] = []
    merchants: list[str] = []
    times: list[int] = []
    amounts: list[float] = []
    intl: list[bool] = []
    reported: list[int] = []
    scenarios: list[str | None] = []
    for event in simulator_events(seed, days, first, label_delay, handbook):
        tx, label = event.transaction, event.label
        tx_ids.append(tx["transaction_id"])
        users.append(tx["user_id"])
        merchants.append(tx["merchant_id"])
        times.append(tx["event_time"])
        amounts.append(tx["amount"])
        intl.append(tx["is_international"])
        reported.append(label["reported_at"] if label is not None else -1)
        scenarios.append(label["scenario"] if label is not None else None)
    t1 = time.monotonic()
    delay_ms = features.LABEL_DELAY_MS if risk_delay is None else risk_delay // _MS
    frame = build_frame(
        tx_ids,
        users,
        merchants,
        times,
        amounts,
        intl,
        reported,
        scenarios,
        labels_known_at,
        delay_ms,
    )
    log.info(
        "simulated training data",
        rows=len(frame),
        days=days,
        start=str(first),
        handbook=handbook,
        frauds=int(frame[features.LABEL].sum()),
        simulate_s=round(t1 - t0, 1),
        features_s=round(time.monotonic() - t1, 1),
    )
    return frame


def build_frame(
    tx_ids: list[str],
    users: list[str],
    merchants: list[str],
    times: list[int],
    amounts: list[float],
    intl: list[bool],
    reported: list[int],
    scenarios: list[str | None],
    labels_known_at: datetime | None = None,
    label_delay_ms: int = features.LABEL_DELAY_MS,
) -> pd.DataFrame:
    """The frame of raw transaction columns (epoch-ms times; reported -1: no fraud)."""
    user_codes, _ = pd.factorize(pd.Series(users))
    term_codes, _ = pd.factorize(pd.Series(merchants))
    time_ms = np.asarray(times, dtype=np.int64)
    reported_ms = np.asarray(reported, dtype=np.int64)
    values = compute_features(
        user_codes.astype(np.int64),
        term_codes.astype(np.int64),
        time_ms,
        np.asarray(amounts, dtype=np.float64),
        np.asarray(intl, dtype=bool),
        reported_ms,
        label_delay_ms,
    )
    event_time = pd.to_datetime(time_ms, unit="ms", utc=True)
    known = reported_ms >= 0
    if labels_known_at is not None:
        known &= reported_ms <= features.to_ms(labels_known_at)
    frame = pd.DataFrame(
        {
            "transaction_id": tx_ids,
            "user_id": users,
            "merchant_id": merchants,
            "event_time": event_time,
            "event_date": event_time.date,
            **values,
            features.LABEL: known.astype(np.int64),
            "fraud_scenario": pd.Series(scenarios, dtype=object),
        }
    )
    return frame.sort_values(["event_time", "transaction_id"], kind="stable").reset_index(drop=True)


class MissingDataError(RuntimeError):
    """The training data is not there; the message says what provides it."""


def _query(settings: TrainingSettings, sql: str) -> list[list[Any]]:
    """Rows of one Trino query; a missing table or an unreachable Trino is a
    :class:`MissingDataError` that names what provides it."""
    import trino
    import trino.exceptions

    conn = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host=settings.trino_host,
        port=settings.trino_port,
        user=settings.trino_user,
        catalog=settings.trino_catalog,
    )
    try:
        cur = conn.cursor()
        cur.execute(sql)
        rows: list[list[Any]] = cur.fetchall()
    except trino.exceptions.TrinoUserError as err:
        if err.error_name in {"TABLE_NOT_FOUND", "SCHEMA_NOT_FOUND"}:
            raise MissingDataError(
                f"{settings.table} does not exist yet: build the gold layer first "
                "(`make demo`, or `fraud-dbt build` once bronze holds data)"
            ) from err
        raise
    except (trino.exceptions.HttpError, trino.exceptions.TrinoConnectionError) as err:
        raise MissingDataError(
            f"Trino at {settings.trino_host}:{settings.trino_port} did not answer ({err}): "
            "start it with `make local-up`"
        ) from err
    finally:
        conn.close()
    return rows


@dataclass
class _ObjectStore:
    """The object store's address and credentials, as :mod:`fraud_common.s3` takes them."""

    s3_endpoint_url: str
    s3_access_key: SecretStr
    s3_secret_key: SecretStr
    s3_region: str


def _delta_rows(settings: TrainingSettings) -> pd.DataFrame | None:
    """The table's current Delta snapshot read with delta-rs, its location from Trino's
    catalog; None when that is not possible here (no object-store credentials, or a
    table delta-rs cannot read), and the caller queries instead."""
    if not settings.read_delta or settings.s3_access_key is None or settings.s3_secret_key is None:
        return None
    (ddl,) = _query(settings, f"SHOW CREATE TABLE {settings.table}")[0]
    match = re.search(r"location = '([^']+)'", str(ddl))
    if match is None:
        return None
    # delta-kernel logs a harmless warning per log file read ("receiver end of channel
    # dropped"); its logger reads RUST_LOG when deltalake is first imported
    os.environ.setdefault("RUST_LOG", "error")
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

    store = _ObjectStore(
        settings.s3_endpoint_url, settings.s3_access_key, settings.s3_secret_key, settings.s3_region
    )
    try:
        table = DeltaTable(match.group(1), storage_options=delta_storage_options(store))
        frame: pd.DataFrame = table.to_pyarrow_table(columns=list(COLUMNS)).to_pandas()
    except (DeltaError, OSError) as err:
        log.warning(
            "delta-rs cannot read the table: querying it", table=settings.table, reason=str(err)
        )
        return None
    return frame.sort_values(["event_time", "transaction_id"], kind="stable")


def from_trino(settings: TrainingSettings) -> pd.DataFrame:
    """``gold.mart_fraud_features`` of the lakehouse behind Trino, in event-time order:
    its Delta files read directly when possible (:func:`_delta_rows`), else a query."""
    t0 = time.monotonic()
    frame = _delta_rows(settings)
    how = "delta"
    if frame is None:
        columns = ", ".join(COLUMNS)
        query = f"SELECT {columns} FROM {settings.table} ORDER BY event_time, transaction_id"  # noqa: S608
        frame = pd.DataFrame(_query(settings, query), columns=list(COLUMNS))
        how = "query"
    frame = frame.reset_index(drop=True)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True).dt.as_unit("ns")
    frame["event_date"] = frame["event_time"].dt.date
    for name in features.FEATURE_NAMES:
        frame[name] = frame[name].astype(np.float64)
    frame[features.LABEL] = frame[features.LABEL].astype(np.int64)
    log.info(
        "loaded training data",
        source="trino",
        read=how,
        table=settings.table,
        rows=len(frame),
        frauds=int(frame[features.LABEL].sum()),
        seconds=round(time.monotonic() - t0, 1),
    )
    return frame


def load(settings: TrainingSettings) -> pd.DataFrame:
    """The training frame from the configured source."""
    if settings.source == "trino":
        return from_trino(settings)
    return from_simulator(
        seed=settings.seed,
        days=settings.days,
        start=settings.start_date,
        label_delay=timedelta(seconds=settings.label_delay_seconds),
        handbook=settings.simulator_mode == "handbook",
        risk_delay=timedelta(days=settings.delay_days),
    )


def inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The model input: features in contract order as float32 columns.

    float32 is what ONNX Runtime scores; the models are fitted on the same float32 values,
    so sklearn/LightGBM and the compiled ONNX model see identical numbers.
    """
    return frame[list(features.FEATURE_NAMES)].astype(np.float32)
