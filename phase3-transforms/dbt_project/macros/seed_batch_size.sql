{#- One INSERT per 5,000 seed rows: Trino's per-statement cost (a Delta commit on S3)
    dominates dbt-trino's default of 1,000 rows per statement. -#}
{% macro trino__get_batch_size() %}
    {{ return(5000) }}
{% endmacro %}
