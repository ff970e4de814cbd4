{#- Calendar flags in UTC, as in fraud_contracts/features.py (calendar_features). -#}
{% macro is_weekend(ts) -%}
    day_of_week({{ ts }} at time zone 'UTC') >= 6
{%- endmacro %}

{% macro is_night(ts) -%}
    hour({{ ts }} at time zone 'UTC') < {{ var('night_end_hour') }}
{%- endmacro %}
