"""Write Superset's assets bundle (``assets/``): databases, datasets, charts, dashboards.

The bundle is Superset's own export/import format (v1: one YAML file per object, linked
by UUID); ``superset_init.py`` zips it and imports it at every start. The UUIDs derive
from the objects' names, so re-running this script reproduces the same files and an
import updates the objects in place. Edit the definitions below, then run

    .venv/bin/python phase5-analytics/superset/build_assets.py

and commit ``assets/``. The database files carry no credentials: the init renders their
``sqlalchemy_uri`` from the environment (native or compose host names) and passes the
read-only role's password to the import.

Datasets are virtual (SQL) datasets: the Trino ones read the lakehouse's silver and gold
schemas (catalog ``delta``), the prediction-log ones read Postgres database
``predictions`` through the read-only role ``predictions_reader``.
"""

# ruff: noqa: S608  (the datasets' SQL is this file's own constants, no input)
from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"
NAMESPACE = uuid.UUID("6f1c2f47-3f0e-4d7a-9a53-5b1f0c2e9a11")
VERSION = "1.0.0"


def uid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{name}"))


# ----------------------------------------------------------------------------- databases
#: name -> (file stem, placeholder URI: the init replaces it, see superset_init.py)
DATABASES: dict[str, dict[str, Any]] = {
    "Lakehouse (Trino)": {
        "file": "lakehouse_trino",
        "sqlalchemy_uri": "trino://superset@trino:8085/delta",
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_dml": False,
        "extra": {"schemas_allowed_for_file_upload": [], "allows_virtual_table_explore": True},
    },
    "Prediction log (Postgres, read-only)": {
        "file": "prediction_log",
        "sqlalchemy_uri": "postgresql+psycopg2://predictions_reader:XXXXXXXXXX@postgres:5432/predictions",
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_dml": False,
        "extra": {"allows_virtual_table_explore": True},
    },
}
TRINO = "Lakehouse (Trino)"
PREDICTIONS = "Prediction log (Postgres, read-only)"


# ----------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class Dataset:
    name: str
    database: str
    schema: str
    sql: str
    #: column -> SQL type as the engine reports it; TIMESTAMP/DATE ones are temporal
    columns: dict[str, str]
    description: str
    main_dttm_col: str | None = None


_AMOUNT_BAND = """CASE
           WHEN t.amount < 10 THEN '1: under 10'
           WHEN t.amount < 50 THEN '2: 10-50'
           WHEN t.amount < 200 THEN '3: 50-200'
           WHEN t.amount < 1000 THEN '4: 200-1000'
           ELSE '5: 1000 and more'
       END"""


def _rounded(x: str) -> str:
    """SQL: numeric ``x`` as short text: one decimal from 10 up (amounts), three from 0.1
    (ratios, flags), three significant digits below (small shares, score drops); NULL
    stays NULL."""
    digits = (
        f"CASE WHEN abs({x}) >= 10 THEN 1 WHEN {x} = 0 THEN 0"
        f" ELSE greatest(3, 2 - floor(log(abs({x})))::int) END"
    )
    return f"trim_scale(round({x}, {digits}))::text"


#: the API's top reasons as it answered them (``top_reasons``, jsonb: a list of
#: ``{feature, value, contribution}`` in the answer's order, the largest score drop first)
#: as one line of text, "feature = value (+score drop)" joined by "; " (a JSON null value,
#: from a NaN feature, shows as "?"); '' for an empty list.
_REASONS = f"""coalesce((SELECT string_agg(
                      f || ' = ' || coalesce({_rounded("v")}, '?')
                      || ' (+' || {_rounded("c")} || ')',
                      '; ' ORDER BY n)
           FROM jsonb_array_elements(top_reasons) WITH ORDINALITY AS e(r, n),
                LATERAL (SELECT r ->> 'feature', (r ->> 'value')::numeric,
                                (r ->> 'contribution')::numeric) AS x(f, v, c)), '')"""

DATASETS: list[Dataset] = [
    Dataset(
        name="tx_hourly_by_channel",
        database=TRINO,
        schema="silver",
        description="Transactions per hour, channel and origin (silver.int_transactions_enriched).",
        main_dttm_col="hour_start",
        sql="""SELECT CAST(date_trunc('hour', t.event_time) AS timestamp(3)) AS hour_start,
       t.channel,
       CASE WHEN t.is_international THEN 'international' ELSE 'domestic' END AS origin,
       count(*) AS tx_count,
       sum(t.amount) AS amount
FROM delta.silver.int_transactions_enriched AS t
GROUP BY 1, 2, 3""",
        columns={
            "hour_start": "TIMESTAMP(3)",
            "channel": "VARCHAR",
            "origin": "VARCHAR",
            "tx_count": "BIGINT",
            "amount": "DOUBLE",
        },
    ),
    Dataset(
        name="hourly_metrics",
        database=TRINO,
        schema="gold",
        description="Hourly volume and amount (gold.mart_hourly_metrics).",
        main_dttm_col="hour_start",
        sql="""SELECT CAST(hour_start AS timestamp(3)) AS hour_start,
       tx_count, total_amount, avg_amount, p95_amount, active_users, active_merchants,
       international_tx_count, fraud_count, fraud_amount
FROM delta.gold.mart_hourly_metrics""",
        columns={
            "hour_start": "TIMESTAMP(3)",
            "tx_count": "BIGINT",
            "total_amount": "DOUBLE",
            "avg_amount": "DOUBLE",
            "p95_amount": "DOUBLE",
            "active_users": "BIGINT",
            "active_merchants": "BIGINT",
            "international_tx_count": "BIGINT",
            "fraud_count": "BIGINT",
            "fraud_amount": "DOUBLE",
        },
    ),
    Dataset(
        name="terminal_activity",
        database=TRINO,
        schema="silver",
        description="Transactions and amount per terminal (merchant), with its current risk.",
        sql="""SELECT t.merchant_id,
       coalesce(max(t.merchant_name), t.merchant_id) AS merchant_name,
       max(t.merchant_category) AS merchant_category,
       count(*) AS tx_count,
       sum(t.amount) AS amount,
       max(r.terminal_risk_30d) AS terminal_risk_30d
FROM delta.silver.int_transactions_enriched AS t
LEFT JOIN delta.gold.mart_terminal_risk_profiles AS r ON r.merchant_id = t.merchant_id
GROUP BY t.merchant_id""",
        columns={
            "merchant_id": "VARCHAR",
            "merchant_name": "VARCHAR",
            "merchant_category": "VARCHAR",
            "tx_count": "BIGINT",
            "amount": "DOUBLE",
            "terminal_risk_30d": "DOUBLE",
        },
    ),
    Dataset(
        name="tx_labelled",
        database=TRINO,
        schema="silver",
        description=(
            "Transactions with their reported fraud labels (silver.int_fraud_labels) per day, "
            "hour of day, amount band and scenario; a transaction without a reported label "
            "counts as legitimate."
        ),
        main_dttm_col="day",
        sql=f"""SELECT CAST(date_trunc('day', t.event_time) AS timestamp(3)) AS day,
       hour(t.event_time) AS hour_of_day,
       {_AMOUNT_BAND} AS amount_band,
       coalesce(l.fraud_scenario, 'none') AS fraud_scenario,
       count(*) AS tx_count,
       count_if(coalesce(l.is_fraud, false)) AS fraud_count,
       sum(t.amount) AS amount,
       coalesce(sum(CASE WHEN l.is_fraud THEN t.amount END), 0) AS fraud_amount
FROM delta.silver.int_transactions_enriched AS t
LEFT JOIN delta.silver.int_fraud_labels AS l ON l.transaction_id = t.transaction_id
GROUP BY 1, 2, 3, 4""",
        columns={
            "day": "TIMESTAMP(3)",
            "hour_of_day": "BIGINT",
            "amount_band": "VARCHAR",
            "fraud_scenario": "VARCHAR",
            "tx_count": "BIGINT",
            "fraud_count": "BIGINT",
            "amount": "DOUBLE",
            "fraud_amount": "DOUBLE",
        },
    ),
    Dataset(
        name="label_delays",
        database=TRINO,
        schema="silver",
        description="Hours between a transaction and its fraud report (silver.int_fraud_labels).",
        sql="""SELECT l.fraud_scenario,
       CAST(l.reported_ms - l.event_ms AS double) / 3600000 AS delay_hours
FROM delta.silver.int_fraud_labels AS l
WHERE l.is_fraud""",
        columns={"fraud_scenario": "VARCHAR", "delay_hours": "DOUBLE"},
    ),
    Dataset(
        name="live_model_quality",
        database=PREDICTIONS,
        schema="public",
        description=(
            "fraud-monitor's latest pass per model version: labelled frauds caught (risk tier "
            "high, the serving threshold) and missed, in count and amount (losses prevented "
            "and missed)."
        ),
        sql="""SELECT DISTINCT ON (model_version)
       model_version,
       computed_at AT TIME ZONE 'UTC' AS computed_at,
       frauds,
       flagged,
       round(coalesce(recall, 0) * frauds)::bigint AS frauds_caught,
       frauds - round(coalesce(recall, 0) * frauds)::bigint AS frauds_missed,
       coalesce(fraud_amount_caught, 0) AS losses_prevented,
       coalesce(fraud_amount_missed, 0) AS losses_missed,
       precision,
       recall
FROM model_live_metrics
ORDER BY model_version, computed_at DESC""",
        columns={
            "model_version": "TEXT",
            "computed_at": "TIMESTAMP WITHOUT TIME ZONE",
            "frauds": "BIGINT",
            "flagged": "BIGINT",
            "frauds_caught": "BIGINT",
            "frauds_missed": "BIGINT",
            "losses_prevented": "DOUBLE PRECISION",
            "losses_missed": "DOUBLE PRECISION",
            "precision": "DOUBLE PRECISION",
            "recall": "DOUBLE PRECISION",
        },
    ),
    Dataset(
        name="high_risk_feed",
        database=PREDICTIONS,
        schema="public",
        description=(
            "The latest high-risk predictions with the top reasons the scoring API answered "
            "(occlusion: feature = value (+score drop))."
        ),
        main_dttm_col="predicted_at",
        sql=f"""SELECT predicted_at AT TIME ZONE 'UTC' AS predicted_at,
       transaction_id,
       user_id,
       merchant_id,
       round(amount::numeric, 2)::double precision AS amount,
       round(probability::numeric, 3)::double precision AS probability,
       model_version,
       {_REASONS} AS top_reasons
FROM predictions
WHERE risk_tier = 'high'
ORDER BY predicted_at DESC
LIMIT 500""",
        columns={
            "predicted_at": "TIMESTAMP WITHOUT TIME ZONE",
            "transaction_id": "TEXT",
            "user_id": "TEXT",
            "merchant_id": "TEXT",
            "amount": "DOUBLE PRECISION",
            "probability": "DOUBLE PRECISION",
            "model_version": "TEXT",
            "top_reasons": "TEXT",
        },
    ),
    Dataset(
        name="predictions_recent",
        database=PREDICTIONS,
        schema="public",
        description=(
            "Predictions of the last six hours of scoring (up to the latest prediction): "
            "time, risk tier, score, model version."
        ),
        main_dttm_col="predicted_at",
        sql="""SELECT predicted_at AT TIME ZONE 'UTC' AS predicted_at,
       risk_tier,
       probability,
       model_version
FROM predictions
WHERE predicted_at >= (SELECT max(predicted_at) FROM predictions) - interval '6 hours'""",
        columns={
            "predicted_at": "TIMESTAMP WITHOUT TIME ZONE",
            "risk_tier": "TEXT",
            "probability": "DOUBLE PRECISION",
            "model_version": "TEXT",
        },
    ),
]
DATASETS_BY_NAME = {d.name: d for d in DATASETS}


# ----------------------------------------------------------------------------- charts
def sql_metric(expression: str, label: str) -> dict[str, Any]:
    return {
        "expressionType": "SQL",
        "sqlExpression": expression,
        "label": label,
        "hasCustomLabel": True,
        "optionName": f"metric_{uuid.uuid5(NAMESPACE, expression + label).hex[:12]}",
    }


def where(sql: str) -> dict[str, Any]:
    return {
        "expressionType": "SQL",
        "clause": "WHERE",
        "sqlExpression": sql,
        "filterOptionName": f"filter_{uuid.uuid5(NAMESPACE, sql).hex[:12]}",
    }


FRAUD_RATE = sql_metric("CAST(SUM(fraud_count) AS DOUBLE) / NULLIF(SUM(tx_count), 0)", "fraud rate")
TX = sql_metric("SUM(tx_count)", "transactions")
#: a rate's y axis fits its data (ECharts' default ran to 120 % for rates of about 1 %)
RATE_AXIS: dict[str, Any] = {
    "y_axis_format": ".2%",
    "truncateYAxis": True,
    "y_axis_bounds": [0, None],
}
AMOUNT = sql_metric("SUM(amount)", "amount")
PREDICTIONS_COUNT = sql_metric("COUNT(*)", "predictions")

_TIMESERIES = {
    "time_range": "No filter",
    "x_axis_time_format": "smart_date",
    "rich_tooltip": True,
    "show_legend": True,
    "legendOrientation": "top",
    "legendType": "scroll",
    "truncate_metric": True,
    "y_axis_format": "SMART_NUMBER",
    "row_limit": 10000,
    "adhoc_filters": [],
    "groupby": [],
    "annotation_layers": [],
    "color_scheme": "supersetColors",
}


@dataclass(frozen=True)
class Chart:
    name: str
    dataset: str
    viz_type: str
    params: dict[str, Any]
    width: int = 6
    height: int = 50
    description: str = ""


def line(x: str, grain: str, metrics: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {**_TIMESERIES, "x_axis": x, "time_grain_sqla": grain, "metrics": metrics, **extra}


def categorical(x: str, metrics: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        **_TIMESERIES,
        "x_axis": x,
        "metrics": metrics,
        "x_axis_sort": x,
        "x_axis_sort_asc": True,
        **extra,
    }


DASHBOARDS: dict[str, tuple[str, str, list[list[Chart]]]] = {
    "Transaction Overview": (
        "transaction-overview",
        "Volume and amount per hour and day, by channel and origin, and the busiest terminals "
        "(lakehouse via Trino).",
        [
            [
                Chart(
                    "Transactions (total)",
                    "hourly_metrics",
                    "big_number_total",
                    {"metric": TX, "time_range": "No filter", "y_axis_format": "SMART_NUMBER"},
                    width=3,
                    height=25,
                ),
                Chart(
                    "Amount (total)",
                    "hourly_metrics",
                    "big_number_total",
                    {
                        "metric": sql_metric("SUM(total_amount)", "amount"),
                        "time_range": "No filter",
                        "y_axis_format": "SMART_NUMBER",
                    },
                    width=3,
                    height=25,
                ),
                Chart(
                    "Transactions and amount per hour",
                    "hourly_metrics",
                    "echarts_timeseries_line",
                    line(
                        "hour_start",
                        "PT1H",
                        [TX, sql_metric("SUM(total_amount)", "amount")],
                        seriesType="line",
                    ),
                    width=6,
                    height=50,
                ),
            ],
            [
                Chart(
                    "Transactions per day by channel",
                    "tx_hourly_by_channel",
                    "echarts_timeseries_bar",
                    line("hour_start", "P1D", [TX], groupby=["channel"], stack="Stack"),
                ),
                Chart(
                    "Amount per day by channel",
                    "tx_hourly_by_channel",
                    "echarts_timeseries_bar",
                    line("hour_start", "P1D", [AMOUNT], groupby=["channel"], stack="Stack"),
                ),
            ],
            [
                Chart(
                    "Transactions per hour: international vs domestic",
                    "tx_hourly_by_channel",
                    "echarts_timeseries_line",
                    line("hour_start", "PT1H", [TX], groupby=["origin"]),
                ),
                Chart(
                    "Amount per day: international vs domestic",
                    "tx_hourly_by_channel",
                    "echarts_timeseries_bar",
                    line("hour_start", "P1D", [AMOUNT], groupby=["origin"], stack="Stack"),
                ),
            ],
            [
                Chart(
                    "Top terminals by amount",
                    "terminal_activity",
                    "table",
                    {
                        "query_mode": "aggregate",
                        "groupby": ["merchant_id", "merchant_name", "merchant_category"],
                        "metrics": [
                            AMOUNT,
                            TX,
                            sql_metric("MAX(terminal_risk_30d)", "terminal risk 30d"),
                        ],
                        "timeseries_limit_metric": AMOUNT,
                        "order_desc": True,
                        "row_limit": 15,
                        "time_range": "No filter",
                        "adhoc_filters": [],
                        "table_timestamp_format": "smart_date",
                    },
                    width=12,
                    height=50,
                ),
            ],
        ],
    ),
    "Fraud Analytics": (
        "fraud-analytics",
        "Fraud from the reported labels (chargebacks, analyst confirmations): rate over time, "
        "by scenario, amount band and hour of day, how late labels arrive, and the model's "
        "catch at the serving threshold.",
        [
            [
                Chart(
                    "Fraud rate per day (reported labels)",
                    "tx_labelled",
                    "echarts_timeseries_line",
                    line("day", "P1D", [FRAUD_RATE], **RATE_AXIS),
                ),
                Chart(
                    "Reported frauds per day by scenario",
                    "tx_labelled",
                    "echarts_timeseries_bar",
                    line(
                        "day",
                        "P1D",
                        [sql_metric("SUM(fraud_count)", "frauds")],
                        groupby=["fraud_scenario"],
                        stack="Stack",
                        adhoc_filters=[where("fraud_scenario <> 'none'")],
                    ),
                ),
            ],
            [
                Chart(
                    "Fraud rate by amount band",
                    "tx_labelled",
                    "echarts_timeseries_bar",
                    categorical("amount_band", [FRAUD_RATE], **RATE_AXIS),
                    width=4,
                ),
                Chart(
                    "Fraud rate by hour of day",
                    "tx_labelled",
                    "echarts_timeseries_bar",
                    categorical("hour_of_day", [FRAUD_RATE], **RATE_AXIS),
                    width=4,
                ),
                Chart(
                    "Label delay (hours from transaction to report)",
                    "label_delays",
                    "histogram_v2",
                    {
                        "column": "delay_hours",
                        "groupby": [],
                        "bins": 24,
                        "normalize": False,
                        "cumulative": False,
                        "row_limit": 100000,
                        "adhoc_filters": [],
                        "time_range": "No filter",
                        "x_axis_title": "hours",
                        "y_axis_title": "frauds",
                        "color_scheme": "supersetColors",
                    },
                    width=4,
                ),
            ],
            [
                Chart(
                    "Losses prevented vs missed at the serving threshold",
                    "live_model_quality",
                    "echarts_timeseries_bar",
                    categorical(
                        "model_version",
                        [
                            sql_metric("SUM(losses_prevented)", "prevented (risk tier high)"),
                            sql_metric("SUM(losses_missed)", "missed"),
                        ],
                        stack="Stack",
                        y_axis_title="fraud amount",
                    ),
                    width=3,
                ),
                Chart(
                    "Frauds caught vs missed at the serving threshold",
                    "live_model_quality",
                    "echarts_timeseries_bar",
                    categorical(
                        "model_version",
                        [
                            sql_metric("SUM(frauds_caught)", "caught (risk tier high)"),
                            sql_metric("SUM(frauds_missed)", "missed"),
                        ],
                        stack="Stack",
                    ),
                    width=3,
                ),
                Chart(
                    "Fraud amount per day by scenario",
                    "tx_labelled",
                    "echarts_timeseries_bar",
                    line(
                        "day",
                        "P1D",
                        [sql_metric("SUM(fraud_amount)", "fraud amount")],
                        groupby=["fraud_scenario"],
                        stack="Stack",
                        adhoc_filters=[where("fraud_scenario <> 'none'")],
                    ),
                ),
            ],
        ],
    ),
    "Real-Time Risk Feed": (
        "real-time-risk-feed",
        "The scoring API's prediction log (Postgres, read-only): latest high-risk predictions "
        "with the API's top reasons, throughput, scores and model versions.",
        [
            [
                Chart(
                    "Latest high-risk predictions",
                    "high_risk_feed",
                    "table",
                    {
                        "query_mode": "raw",
                        "all_columns": [
                            "predicted_at",
                            "transaction_id",
                            "user_id",
                            "merchant_id",
                            "amount",
                            "probability",
                            "model_version",
                            "top_reasons",
                        ],
                        "order_by_cols": [json.dumps(["predicted_at", False])],
                        "row_limit": 50,
                        "time_range": "No filter",
                        "adhoc_filters": [],
                        "table_timestamp_format": "%Y-%m-%d %H:%M:%S",
                    },
                    width=12,
                    height=60,
                ),
            ],
            [
                Chart(
                    "Predictions per minute by risk tier",
                    "predictions_recent",
                    "echarts_timeseries_line",
                    line("predicted_at", "PT1M", [PREDICTIONS_COUNT], groupby=["risk_tier"]),
                    width=6,
                ),
                Chart(
                    "Score distribution (P(fraud))",
                    "predictions_recent",
                    "histogram_v2",
                    {
                        "column": "probability",
                        "groupby": [],
                        "bins": 20,
                        "normalize": False,
                        "cumulative": False,
                        "row_limit": 100000,
                        "adhoc_filters": [],
                        "time_range": "No filter",
                        "x_axis_title": "P(fraud)",
                        "y_axis_title": "predictions",
                        "color_scheme": "supersetColors",
                    },
                    width=3,
                ),
                Chart(
                    "Predictions by model version",
                    "predictions_recent",
                    "pie",
                    {
                        "groupby": ["model_version"],
                        "metric": PREDICTIONS_COUNT,
                        "row_limit": 100,
                        "adhoc_filters": [],
                        "time_range": "No filter",
                        "show_labels": True,
                        "label_type": "key_value",
                        "show_legend": True,
                        "color_scheme": "supersetColors",
                    },
                    width=3,
                ),
            ],
        ],
    ),
}


# ----------------------------------------------------------------------------- writers
@dataclass
class Bundle:
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, path: str, content: dict[str, Any]) -> None:
        assert path not in self.files, path
        self.files[path] = content


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def database_file(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "database_name": name,
        "sqlalchemy_uri": spec["sqlalchemy_uri"],
        "cache_timeout": None,
        "expose_in_sqllab": spec["expose_in_sqllab"],
        "allow_run_async": spec["allow_run_async"],
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": spec["allow_dml"],
        "allow_file_upload": False,
        "extra": spec["extra"],
        "impersonate_user": False,
        "uuid": uid("database", name),
        "version": VERSION,
    }


def dataset_file(d: Dataset) -> dict[str, Any]:
    columns = [
        {
            "column_name": col,
            "verbose_name": None,
            "is_dttm": typ.startswith(("TIMESTAMP", "DATE")),
            "is_active": True,
            "type": typ,
            "advanced_data_type": None,
            "groupby": True,
            "filterable": True,
            "expression": None,
            "description": None,
            "python_date_format": None,
            "extra": None,
        }
        for col, typ in d.columns.items()
    ]
    return {
        "table_name": d.name,
        "main_dttm_col": d.main_dttm_col,
        "description": d.description,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": "delta" if d.database == TRINO else None,
        "schema": d.schema,
        "sql": d.sql,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": uid("dataset", d.name),
        "metrics": [
            {
                "metric_name": "count",
                "verbose_name": "COUNT(*)",
                "metric_type": "count",
                "expression": "COUNT(*)",
                "description": None,
                "d3format": None,
                "currency": None,
                "extra": {"warning_markdown": ""},
                "warning_text": None,
            }
        ],
        "columns": columns,
        "version": VERSION,
        "database_uuid": uid("database", d.database),
    }


def chart_file(c: Chart) -> dict[str, Any]:
    return {
        "slice_name": c.name,
        "description": c.description or None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": c.viz_type,
        "params": {**c.params, "viz_type": c.viz_type},
        "query_context": None,
        "cache_timeout": None,
        "uuid": uid("chart", c.name),
        "version": VERSION,
        "dataset_uuid": uid("dataset", c.dataset),
    }


def dashboard_file(
    title: str, slug: str, description: str, rows: list[list[Chart]]
) -> dict[str, Any]:
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"children": ["GRID_ID"], "id": "ROOT_ID", "type": "ROOT"},
        "GRID_ID": {"children": [], "id": "GRID_ID", "parents": ["ROOT_ID"], "type": "GRID"},
        "HEADER_ID": {"id": "HEADER_ID", "meta": {"text": title}, "type": "HEADER"},
    }
    #: chartId: the exporting instance's id; the import maps it to the new one by uuid
    chart_number = 0
    for r, row in enumerate(rows, 1):
        row_id = f"ROW-{slug}-{r}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "children": [],
            "id": row_id,
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
            "parents": ["ROOT_ID", "GRID_ID"],
            "type": "ROW",
        }
        for c in row:
            chart_id = f"CHART-{uid('chart', c.name)[:10]}"
            position[row_id]["children"].append(chart_id)
            chart_number += 1
            position[chart_id] = {
                "children": [],
                "id": chart_id,
                "meta": {
                    "chartId": chart_number,
                    "height": c.height,
                    "width": c.width,
                    "sliceName": c.name,
                    "uuid": uid("chart", c.name),
                },
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "type": "CHART",
            }
    return {
        "dashboard_title": title,
        "description": description,
        "css": "",
        "slug": slug,
        "certified_by": None,
        "certification_details": None,
        "published": True,
        "uuid": uid("dashboard", title),
        "position": position,
        "metadata": {
            "color_scheme": "supersetColors",
            "refresh_frequency": 0,
            "expanded_slices": {},
            "timed_refresh_immune_slices": [],
            "cross_filters_enabled": False,
            "native_filter_configuration": [],
            "shared_label_colors": [],
            "label_colors": {},
            "default_filters": "{}",
        },
        "version": VERSION,
    }


def build() -> Bundle:
    bundle = Bundle()
    bundle.add(
        "metadata.yaml",
        {"version": VERSION, "type": "Dashboard", "timestamp": "2026-12-01T00:00:00+00:00"},
    )
    for name, spec in DATABASES.items():
        bundle.add(f"databases/{spec['file']}.yaml", database_file(name, spec))
    used = {c.dataset for _, _, rows in DASHBOARDS.values() for row in rows for c in row}
    for d in DATASETS:
        assert d.name in used, f"dataset {d.name} is used by no chart"
        db_file = DATABASES[d.database]["file"]
        bundle.add(f"datasets/{db_file}/{d.name}.yaml", dataset_file(d))
    for title, (slug, description, rows) in DASHBOARDS.items():
        for row in rows:
            assert sum(c.width for c in row) <= 12, f"{title}: a row wider than 12"
            for c in row:
                assert c.dataset in DATASETS_BY_NAME, c.dataset
                bundle.add(f"charts/{_slug(c.name)}.yaml", chart_file(c))
        bundle.add(
            f"dashboards/{_slug(title)}.yaml", dashboard_file(title, slug, description, rows)
        )
    return bundle


def write(bundle: Bundle, target: Path = ASSETS) -> None:
    if target.exists():
        shutil.rmtree(target)
    for path, content in bundle.files.items():
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=100))


def main() -> int:
    bundle = build()
    write(bundle)
    print(f"wrote {len(bundle.files)} files to {ASSETS}")  # noqa: T201 - a developer tool
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
