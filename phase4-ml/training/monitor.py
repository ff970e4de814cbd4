"""``fraud-monitor``: how the model in production does on the labels that came back.

Fraud labels arrive late (chargebacks, analyst confirmations). Every
``MONITOR_INTERVAL_SECONDS`` this job joins the prediction log (``predictions`` in
Postgres, one row per scored transaction) with the fraud labels in bronze
(``bronze.fraud_labels`` through Trino), over the predictions of the last
``MONITOR_WINDOW_DAYS`` that are at least ``MONITOR_MIN_AGE_SECONDS`` old (default: the
platform's label delay, so that their labels had time to arrive). Per model version it
computes, with the scores the API returned:

- precision and recall at the serving threshold (a transaction is flagged when its risk
  tier is ``high``, i.e. ``P(fraud) >= SERVING_RISK_HIGH``);
- average precision and AUC-ROC of the scores (when both classes occur);
- how many predictions were labelled and how many of them were frauds.

Each pass appends one row per version to ``model_live_metrics`` (same database; the
history is queryable) and sets the ``fraud_model_live_*`` gauges on
``MONITOR_METRICS_PORT`` (default 8004). ``--once`` runs one pass and prints the table.

Each pass also measures the training/serving skew (:mod:`training.skew`): a sample of
``MONITOR_SKEW_SAMPLE`` predictions of the last ``MONITOR_SKEW_WINDOW_HOURS`` that gold
covers (older than ``MONITOR_SKEW_MIN_AGE_SECONDS``), answered from a current online state,
compared with gold's point-in-time vectors: ``fraud_feature_skew_agreement{feature}``,
``fraud_feature_skew_vectors_agreement``, ``fraud_feature_skew_disagreement{feature}``
and ``fraud_feature_skew_compared``.

And the feature drift (:mod:`training.drift`): the population stability index of each
feature of up to ``MONITOR_DRIFT_SAMPLE`` vectors served in the last
``MONITOR_DRIFT_WINDOW_HOURS`` (answered from a current online state) against as many of
gold's vectors of the ``MONITOR_DRIFT_REFERENCE_DAYS`` before (fetched again once
``MONITOR_DRIFT_REFERENCE_REFRESH_SECONDS`` old): ``fraud_feature_psi{feature}``,
``fraud_feature_psi_max`` and ``fraud_feature_psi_compared`` (the served vectors). With
fewer than ``MONITOR_DRIFT_MIN_ROWS`` on either side, the PSI gauges are NaN (no
measurement: an alert on them cannot fire, and the last measurement does not linger).
A failed drift measurement is logged; the pass goes on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import psycopg
import structlog
from prometheus_client import Gauge, start_http_server
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sklearn.metrics import average_precision_score, roc_auc_score

from fraud_common.logs import configure_logging
from fraud_common.trino import execute
from fraud_contracts import features
from fraud_contracts.names import PREDICTIONS_DATABASE, PREDICTIONS_TABLE
from training import drift, skew

log = structlog.get_logger(__name__)

HIGH_TIER = "high"
TABLE = "model_live_metrics"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    computed_at timestamptz NOT NULL,
    model_version text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL,
    labelled bigint NOT NULL,
    frauds bigint NOT NULL,
    flagged bigint NOT NULL,
    precision double precision,
    recall double precision,
    average_precision double precision,
    auc double precision,
    fraud_amount_caught double precision,
    fraud_amount_missed double precision,
    PRIMARY KEY (computed_at, model_version)
)
"""
#: tables made before the loss amounts existed get their columns
_MIGRATIONS = (
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS fraud_amount_caught double precision",
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS fraud_amount_missed double precision",
)
GAUGES = {
    name: Gauge(f"fraud_model_live_{name}", help_text, ["model_version"])
    for name, help_text in {
        "precision": "Precision of the high tier on labelled live predictions",
        "recall": "Recall of the high tier on labelled live predictions",
        "average_precision": "Average precision of the live scores against the labels",
        "auc": "AUC-ROC of the live scores against the labels",
        "labelled": "Live predictions old enough to be labelled, in the window",
        "frauds": "Of those, the ones labelled fraud",
        "fraud_amount_caught": "Amount of the labelled frauds the high tier flagged (losses "
        "prevented at the serving threshold)",
        "fraud_amount_missed": "Amount of the labelled frauds below the high tier (losses "
        "missed at the serving threshold)",
    }.items()
}
LAST_PASS = Gauge("fraud_model_live_last_pass_timestamp_seconds", "End of the last pass")
SKEW_AGREEMENT = Gauge(
    "fraud_feature_skew_agreement",
    "Share of a feature's served values equal to gold's point-in-time value (float32 tolerance)",
    ["feature"],
)
SKEW_DISAGREEMENT = Gauge(
    "fraud_feature_skew_disagreement",
    "Median relative difference of a feature's served values from gold's, where they differ",
    ["feature"],
)
SKEW_VECTORS = Gauge(
    "fraud_feature_skew_vectors_agreement", "Share of served vectors equal to gold's, whole"
)
SKEW_COMPARED = Gauge(
    "fraud_feature_skew_compared", "Served vectors the last skew measurement compared with gold"
)
PSI = Gauge(
    "fraud_feature_psi",
    "Population stability index of a feature's recently served values against gold's recent "
    "days (NaN: too few rows)",
    ["feature"],
)
PSI_MAX = Gauge("fraud_feature_psi_max", "The largest fraud_feature_psi (NaN: too few rows)")
PSI_COMPARED = Gauge(
    "fraud_feature_psi_compared", "Served vectors the last drift measurement compared"
)


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"MONITOR_{name}")


class MonitorSettings(BaseSettings):
    """``MONITOR_*``, plus the platform-wide Postgres and Trino names."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="ignore", populate_by_name=True)

    postgres_host: str = Field(default="127.0.0.1", validation_alias=_env("POSTGRES_HOST"))
    postgres_port: int = Field(default=5432, validation_alias=_env("POSTGRES_PORT"))
    predictions_db_password: SecretStr = Field(validation_alias=_env("PREDICTIONS_DB_PASSWORD"))
    trino_host: str = Field(default="127.0.0.1", validation_alias=_env("TRINO_HOST"))
    trino_port: int = Field(default=8085, validation_alias=_env("TRINO_PORT"))
    trino_catalog: str = Field(default="delta", validation_alias=_env("TRINO_CATALOG"))
    window_days: float = Field(default=7.0, gt=0)
    min_age_seconds: float = Field(default=features.LABEL_DELAY_MS / 1000, ge=0)
    interval_seconds: float = Field(default=300.0, gt=0)
    metrics_port: int = Field(default=8004, ge=0, description="Prometheus endpoint; 0: none")
    metrics_host: str = Field(
        default="127.0.0.1", description="its address (compose: 0.0.0.0, inside the network)"
    )
    skew_window_hours: float = Field(default=1.0, gt=0, description="predictions compared")
    skew_min_age_seconds: float = Field(
        default=1800.0, ge=0, description="... once this old: fraud_pipeline has put them in gold"
    )
    skew_sample: int = Field(default=5_000, ge=1, description="predictions per measurement")
    drift_window_hours: float = Field(default=1.0, gt=0, description="served vectors measured")
    drift_reference_days: float = Field(
        default=7.0, gt=0, description="gold's days before that window: the reference"
    )
    drift_sample: int = Field(default=20_000, ge=1, description="vectors sampled per side")
    drift_min_rows: int = Field(default=200, ge=1, description="per side, else no PSI")
    drift_reference_refresh_seconds: float = Field(
        default=3600.0, gt=0, description="the reference sample is fetched again once this old"
    )

    def dsn(self) -> str:
        return (
            f"host={self.postgres_host} port={self.postgres_port} "
            f"dbname={PREDICTIONS_DATABASE} user={PREDICTIONS_DATABASE} "
            f"password={self.predictions_db_password.get_secret_value()} connect_timeout=5"
        )


@dataclass(frozen=True)
class LiveQuality:
    model_version: str
    labelled: int
    frauds: int
    flagged: int
    precision: float | None
    recall: float | None
    average_precision: float | None
    auc: float | None
    fraud_amount_caught: float = 0.0
    fraud_amount_missed: float = 0.0


def quality(
    model_version: str,
    scores: np.ndarray,
    flagged: np.ndarray,
    fraud: np.ndarray,
    amounts: np.ndarray | None = None,
) -> LiveQuality:
    """The live metrics of one version from its labelled predictions; with ``amounts``,
    also the money of the frauds flagged (losses prevented) and not flagged (missed)."""
    tp = int(np.sum(flagged & fraud))
    money = np.zeros(len(fraud)) if amounts is None else amounts
    both_classes = 0 < int(fraud.sum()) < len(fraud)
    return LiveQuality(
        model_version=model_version,
        labelled=len(fraud),
        frauds=int(fraud.sum()),
        flagged=int(flagged.sum()),
        precision=tp / int(flagged.sum()) if flagged.any() else None,
        recall=tp / int(fraud.sum()) if fraud.any() else None,
        average_precision=float(average_precision_score(fraud, scores)) if both_classes else None,
        auc=float(roc_auc_score(fraud, scores)) if both_classes else None,
        fraud_amount_caught=float(money[flagged & fraud].sum()),
        fraud_amount_missed=float(money[~flagged & fraud].sum()),
    )


def fraud_ids(settings: MonitorSettings, since: dt.datetime) -> set[str]:
    """Transactions labelled fraud whose event happened since ``since`` (bronze)."""
    sql = (
        f"SELECT DISTINCT transaction_id FROM {settings.trino_catalog}.bronze.fraud_labels "  # noqa: S608
        f"WHERE is_fraud AND event_time >= from_iso8601_timestamp('{since.isoformat()}')"
    )
    return {row[0] for row in execute(settings, sql, user="fraud-monitor")}


def one_pass(settings: MonitorSettings, now: dt.datetime | None = None) -> list[LiveQuality]:
    now = now or dt.datetime.now(dt.UTC)
    end = now - dt.timedelta(seconds=settings.min_age_seconds)
    start = end - dt.timedelta(days=settings.window_days)
    with psycopg.connect(settings.dsn()) as conn:
        rows = conn.execute(
            f"SELECT model_version, transaction_id, probability, risk_tier, amount "  # noqa: S608
            f"FROM {PREDICTIONS_TABLE} WHERE event_time >= %s AND event_time < %s",
            (start, end),
        ).fetchall()
        frauds = fraud_ids(settings, start) if rows else set()
        by_version: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_version.setdefault(str(row[0]), []).append(row)
        results = [
            quality(
                version,
                np.array([r[2] for r in part], dtype=np.float64),
                np.array([r[3] == HIGH_TIER for r in part]),
                np.array([r[1] in frauds for r in part]),
                np.array([r[4] for r in part], dtype=np.float64),
            )
            for version, part in sorted(by_version.items())
        ]
        conn.execute(_DDL)
        for statement in _MIGRATIONS:
            conn.execute(statement)
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {TABLE} (computed_at, model_version, window_start, window_end, "  # noqa: S608
                "labelled, frauds, flagged, precision, recall, average_precision, auc, "
                "fraud_amount_caught, fraud_amount_missed) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        now,
                        q.model_version,
                        start,
                        end,
                        q.labelled,
                        q.frauds,
                        q.flagged,
                        q.precision,
                        q.recall,
                        q.average_precision,
                        q.auc,
                        q.fraud_amount_caught,
                        q.fraud_amount_missed,
                    )
                    for q in results
                ],
            )
    for q in results:
        for name, gauge in GAUGES.items():
            value = getattr(q, name)
            if value is not None:
                gauge.labels(model_version=q.model_version).set(value)
    try:
        export_drift(measure_drift(settings, now))
    except (psycopg.Error, OSError, RuntimeError) as err:  # the quality and skew still count
        log.error("drift measurement failed", error=str(err))
    export_skew(measure_skew(settings, now))
    LAST_PASS.set(time.time())
    log.info("live quality", **{q.model_version: asdict(q) for q in results})
    return results


def measure_skew(settings: MonitorSettings, now: dt.datetime) -> skew.Skew:
    """The skew of a sample of recent predictions gold covers (see the module docstring)."""
    start, end = skew.window(now, settings.skew_window_hours, settings.skew_min_age_seconds)
    with psycopg.connect(settings.dsn()) as conn:
        logged = conn.execute(skew.SAMPLE_SQL, (start, end, settings.skew_sample)).fetchall()
    if not logged:
        return skew.Skew(0, 1.0)
    return skew.measure(
        [(str(t), list(v)) for t, v in logged],
        lambda sql: execute(settings, sql, user="fraud-monitor"),
        settings.trino_catalog,
    )


def export_skew(result: skew.Skew) -> None:
    """The gauges of a measurement (none per feature while nothing was compared)."""
    SKEW_COMPARED.set(result.compared)
    if not result.compared:
        return
    SKEW_VECTORS.set(result.vectors_agree)
    for name in features.FEATURE_NAMES:
        SKEW_AGREEMENT.labels(feature=name).set(result.agree[name])
        SKEW_DISAGREEMENT.labels(feature=name).set(result.disagreement[name])
    log.info(
        "training/serving skew",
        compared=result.compared,
        vectors_agree=round(result.vectors_agree, 5),
        worst={k: round(v, 5) for k, v in sorted(result.agree.items(), key=lambda x: x[1])[:3]},
    )


#: the reference sample, kept across passes
REFERENCE = drift.ReferenceCache()


def measure_drift(settings: MonitorSettings, now: dt.datetime) -> drift.Drift:
    """The PSI of the recently served vectors against gold's (see the module docstring)."""
    start, end = skew.window(now, settings.drift_window_hours, 0.0)
    with psycopg.connect(settings.dsn()) as conn:
        logged = conn.execute(skew.SAMPLE_SQL, (start, end, settings.drift_sample)).fetchall()
    current = drift.as_vectors([list(v) for _, v in logged])
    if current.shape[0] < settings.drift_min_rows:  # too few to judge: gold not asked
        return drift.Drift(0, current.shape[0])
    ref_start, ref_end = drift.reference_window(start, settings.drift_reference_days)
    reference = REFERENCE.get(
        lambda: drift.reference_vectors(
            lambda sql: execute(settings, sql, user="fraud-monitor"),
            settings.trino_catalog,
            ref_start,
            ref_end,
            settings.drift_sample,
        ),
        settings.drift_reference_refresh_seconds,
    )
    return drift.measure(reference, current, settings.drift_min_rows)


def export_drift(result: drift.Drift) -> None:
    """The gauges of a measurement (PSI NaN while a side had too few rows)."""
    PSI_COMPARED.set(result.current_rows)
    PSI_MAX.set(result.max_psi)
    for name in drift.MEASURED:
        PSI.labels(feature=name).set(result.psi.get(name, math.nan))
    log.info(
        "feature drift",
        reference_rows=result.reference_rows,
        current_rows=result.current_rows,
        max_psi=round(result.max_psi, 5),
        worst=result.worst,
        drifting={k: round(v, 5) for k, v in result.psi.items() if v > drift.SIGNIFICANT},
    )


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(prog="fraud-monitor", description=__doc__.split("\n")[0])
    parser.add_argument("--once", action="store_true", help="one pass, print it, exit")
    args = parser.parse_args(argv)
    settings = MonitorSettings()  # type: ignore[call-arg]  # the password comes from the env
    if args.once:
        for q in one_pass(settings):
            sys.stdout.write(f"{asdict(q)}\n")
        return 0
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        try:
            one_pass(settings)
        except (psycopg.Error, OSError, RuntimeError) as err:  # an engine is down: try later
            log.error("monitoring pass failed", error=str(err))
        deadline = time.monotonic() + settings.interval_seconds
        while not stopping and time.monotonic() < deadline:
            time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
