{#- The order of a transaction's fraud reports: the first is its label (int_fraud_labels),
    every later one a duplicate (quarantine_duplicate_labels). The bronze position breaks
    ties, so both models agree on which report is first. -#}
{% macro label_report_order() -%}
    reported_at, ingested_at, kafka_partition, kafka_offset
{%- endmacro %}
