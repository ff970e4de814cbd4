{{
    config(
        materialized='incremental',
        unique_key=['transaction_id', 'event_date'],
        properties={'partitioned_by': "ARRAY['event_date']"},
    )
}}
-- Point-in-time user activity of every transaction: count and mean amount of the user's
-- strictly earlier transactions over 1 h, 24 h, 7 d and 30 d. An incremental run computes
-- the new transactions (and recent ones a late event may change) over a bounded history.

{%- set b = transaction_bounds(ref('int_transactions_enriched'), window_ms(days=30)) %}

with history as (

    select transaction_id, user_id, amount, event_time, event_ms, event_date, _batch_at
    from {{ ref('int_transactions_enriched') }}
    {% if b is not none -%}
    where event_date >= {{ b.history_date }} and event_ms >= {{ b.history_ms }}
    {%- endif %}

),

windowed as (

    select
        transaction_id,
        user_id,
        event_time,
        event_ms,
        event_date,
        _batch_at as _source_batch_at,
        {{ activity_columns('user', 'user_id') }}
    from history

),

final as (

    select
        *,
        {{ batch_at() }} as _batch_at
    from windowed
    {% if b is not none -%}
    where {{ b.target_filter }}
    {%- endif %}

)

select * from final
