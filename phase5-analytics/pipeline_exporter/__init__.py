"""``fraud-pipeline-exporter``: the data pipeline's freshness as Prometheus gauges.

What no service of the pipeline can say about itself: the newest event in bronze, the
last gold refresh, the streaming feature job's heartbeat in the online state, the
quarantine sizes and
the Airflow DAGs' outcomes. Every ``PIPELINE_EXPORTER_INTERVAL_SECONDS`` it asks Trino
(Delta statistics, no table scans), Redis (one key) and Airflow's REST API;
a source that fails keeps its last values and sets ``fraud_pipeline_exporter_up{source}``
to 0 (job ``pipeline-exporter``, port 8005).
"""
