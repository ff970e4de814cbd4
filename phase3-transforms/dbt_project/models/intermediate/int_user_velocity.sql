{{
    config(
        materialized='incremental',
        unique_key=['transaction_id', 'event_date'],
        properties={'partitioned_by': "ARRAY['event_date']"},
    )
}}
-- Point-in-time user activity of every transaction: count and mean amount of the user's
-- strictly earlier transactions over 1 h, 24 h, 7 d and 30 d, and the standard deviation
-- and median of their amounts over 30 d (features.USER_STATS). An incremental run computes
-- the new transactions (and recent ones a late event may change) over a bounded history.

{%- set b = transaction_bounds(ref('int_transactions_enriched'), window_ms(days=30)) %}
{%- set keys = 'transaction_id, user_id, event_time, event_ms, event_date' %}

with history as (

    select transaction_id, user_id, amount, event_time, event_ms, event_date, _batch_at
    from {{ ref('int_transactions_enriched') }}
    {% if b is not none -%}
    where event_date >= {{ b.history_date }} and event_ms >= {{ b.history_ms }}
    {%- endif %}

),

windowed as (

    select
        {{ keys }},
        _batch_at as _source_batch_at,
        {{ activity_columns('user', 'user_id') }},
        {{ amount_stats_columns('user', 'user_id') }}
    from history

),

with_median as (

    -- every column of windowed but the sorted amounts, which become their median
    select
        {{ keys }},
        _source_batch_at,
        {%- for name in activity_windows() %}
        user_tx_count_{{ name }},
        user_avg_amount_{{ name }},
        {%- endfor %}
        user_std_amount_30d,
        {{ median_of('_sorted_amounts_30d') }} as user_median_amount_30d
    from windowed

),

final as (

    select
        *,
        {{ batch_at() }} as _batch_at
    from with_median
    {% if b is not none -%}
    where {{ b.target_filter }}
    {%- endif %}

)

select * from final
