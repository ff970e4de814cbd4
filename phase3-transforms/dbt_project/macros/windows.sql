{#- The activity windows of the feature contract (phase4-ml/features.py WINDOWS). -#}
{% macro activity_windows() -%}
    {{ return({"1h": window_ms(hours=1), "24h": window_ms(days=1),
               "7d": window_ms(days=7), "30d": window_ms(days=30)}) }}
{%- endmacro %}

{% macro risk_windows() -%}
    {{ return({"1d": window_ms(days=1), "7d": window_ms(days=7), "30d": window_ms(days=30)}) }}
{%- endmacro %}

{#-
  Count and mean amount of the entity's strictly earlier events in [t - w, t), for every
  activity window: a RANGE frame over integer epoch milliseconds ending 1 ms before the
  row, so events at the same instant as the transaction (and the row itself) never count.
-#}
{% macro activity_columns(prefix, partition_by) -%}
    {%- for name, width in activity_windows().items() %}
    count(*) over (
        partition by {{ partition_by }} order by event_ms
        range between {{ width }} preceding and 1 preceding
    ) as {{ prefix }}_tx_count_{{ name }},
    coalesce(avg(amount) over (
        partition by {{ partition_by }} order by event_ms
        range between {{ width }} preceding and 1 preceding
    ), 0.0) as {{ prefix }}_avg_amount_{{ name }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}
