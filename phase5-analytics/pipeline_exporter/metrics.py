"""The gauges pipeline-exporter serves (job ``pipeline-exporter``)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Gauge

UP = Gauge(
    "fraud_pipeline_exporter_up",
    "1 if the source answered at the last refresh, 0 if it failed (its gauges keep their "
    "last values)",
    ["source"],
)
REFRESH_DURATION = Gauge(
    "fraud_pipeline_exporter_refresh_duration_seconds",
    "Wall time of the last refresh of a source",
    ["source"],
)
BRONZE_NEWEST_EVENT = Gauge(
    "fraud_bronze_newest_event_timestamp_seconds",
    "Unix time of the newest event_time in a bronze table (Delta file statistics)",
    ["table"],
)
BRONZE_NEWEST_INGESTED = Gauge(
    "fraud_bronze_newest_ingested_timestamp_seconds",
    "Unix time of the newest ingested_at in a bronze table (Delta file statistics)",
    ["table"],
)
GOLD_LAST_REFRESH = Gauge(
    "fraud_gold_last_refresh_timestamp_seconds",
    "Unix time of the last successful refresh of a gold mart (newest _batch_at)",
    ["table"],
)
FEATURE_STREAM_HEARTBEAT = Gauge(
    "fraud_feature_stream_heartbeat_timestamp_seconds",
    "Unix time of the streaming feature job's last heartbeat in the online state",
    ["store"],
)
FEATURE_STREAM_BACKLOG = Gauge(
    "fraud_feature_stream_reported_backlog_records",
    "Records of the topics the streaming feature job had not applied at its last heartbeat",
    ["store"],
)
FEATURE_STREAM_APPLIED_THROUGH = Gauge(
    "fraud_feature_stream_reported_applied_through_timestamp_seconds",
    "Kafka time of the newest record in the online state, at the job's last heartbeat",
    ["store"],
)
QUARANTINE_ROWS = Gauge(
    "fraud_quarantine_rows",
    "Rows in a silver.quarantine_* table (no series while the table does not exist)",
    ["table"],
)
AIRFLOW_LAST_SUCCESS = Gauge(
    "fraud_airflow_dag_last_success_timestamp_seconds",
    "Unix time the newest successful run of a DAG ended",
    ["dag_id"],
)
AIRFLOW_LAST_RUN_DURATION = Gauge(
    "fraud_airflow_dag_last_run_duration_seconds",
    "Wall time of the newest successful run of a DAG (start to end)",
    ["dag_id"],
)
AIRFLOW_LAST_RUN_FAILED = Gauge(
    "fraud_airflow_dag_last_run_failed",
    "1 if the newest finished run of a DAG failed, else 0",
    ["dag_id"],
)
AIRFLOW_TASK_INSTANCES = Gauge(
    "fraud_airflow_task_instances",
    "Task instances of a DAG in Airflow's metadata database, by final state (grows with "
    "every run: use increase())",
    ["dag_id", "state"],
)


def set_all(gauge: Gauge, values: Mapping[tuple[str, ...], float]) -> None:
    """Set one series per label tuple and drop the series that are no longer there."""
    for labels, value in values.items():
        gauge.labels(*labels).set(value)
    for stale in list(gauge._metrics):  # prometheus_client keeps its children by label tuple
        if tuple(stale) not in values:
            gauge.remove(*stale)
