{#- The activity windows of the feature contract (fraud_contracts/features.py WINDOWS). -#}
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

{#-
  The user's amount statistics over [t - 30 d, t) that the contract's amount features
  divide by (features.USER_STATS): population standard deviation (0.0 without events)
  and, as `_sorted_amounts_30d`, the window's amounts in ascending order for
  median_of() (an exact median; approx_percentile would not match the contract).
-#}
{% macro amount_stats_columns(prefix, partition_by) -%}
    {%- set width = activity_windows()["30d"] %}
    coalesce(stddev_pop(amount) over (
        partition by {{ partition_by }} order by event_ms
        range between {{ width }} preceding and 1 preceding
    ), 0.0) as {{ prefix }}_std_amount_30d,
    array_sort(array_agg(amount) over (
        partition by {{ partition_by }} order by event_ms
        range between {{ width }} preceding and 1 preceding
    )) as _sorted_amounts_30d
{%- endmacro %}

{#- The median of an ascending array (the mean of the middle two for an even count, as
    Python's statistics.median), 0.0 for an empty or null array. -#}
{% macro median_of(sorted_array) -%}
    case
        when cardinality({{ sorted_array }}) > 0 then (
            element_at({{ sorted_array }}, cast((cardinality({{ sorted_array }}) + 1) / 2 as integer))
            + element_at({{ sorted_array }}, cast(cardinality({{ sorted_array }}) / 2 + 1 as integer))
        ) / 2.0
        else 0.0
    end
{%- endmacro %}

{#- The contract's amount z-score (features.amount_zscore) from a count, mean and std. -#}
{% macro amount_zscore(amount, count, mean, std) -%}
    case
        when {{ count }} >= {{ var('zscore_min_count') }} and {{ std }} >= {{ var('zscore_min_std') }}
            then ({{ amount }} - {{ mean }}) / {{ std }}
        else 0.0
    end
{%- endmacro %}
