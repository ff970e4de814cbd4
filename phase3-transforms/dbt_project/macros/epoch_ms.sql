{#- Exact epoch milliseconds of a timestamp (no floating point on the way). -#}
{% macro epoch_ms(column) -%}
    date_diff('millisecond', from_unixtime(0, 'UTC'), {{ column }})
{%- endmacro %}

{#- The UTC timestamp(3) of epoch milliseconds known at compile time (exact). -#}
{% macro ms_to_ts(ms) -%}
    date_add('millisecond', {{ ms % 1000 }}, from_unixtime({{ ms // 1000 }}, 'UTC'))
{%- endmacro %}
