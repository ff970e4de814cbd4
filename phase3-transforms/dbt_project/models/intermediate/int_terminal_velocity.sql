{{
    config(
        materialized='incremental',
        unique_key=['transaction_id', 'event_date'],
        properties={'partitioned_by': "ARRAY['event_date']"},
    )
}}
-- Point-in-time terminal (merchant) features of every transaction:
-- - activity: count and mean amount of the terminal's strictly earlier transactions over
--   1 h, 24 h, 7 d and 30 d;
-- - risk over 1, 7 and 30 days with the label delay D (the Handbook's protocol): of the
--   terminal's transactions in [t - D - w, t - D), the share whose fraud label was
--   *reported* before t. Labels reported later are unknown at t and do not count.

{%- set delay = label_delay_ms() -%}
{%- set b = transaction_bounds(ref('int_transactions_enriched'), window_ms(days=30) + delay) %}

with history as (

    select transaction_id, merchant_id, amount, event_time, event_ms, event_date, _batch_at
    from {{ ref('int_transactions_enriched') }}
    {% if b is not none -%}
    where event_date >= {{ b.history_date }} and event_ms >= {{ b.history_ms }}
    {%- endif %}

),

labels as (

    select * from {{ ref('int_fraud_labels') }}
    where is_fraud

),

windowed as (

    select
        transaction_id,
        merchant_id,
        event_time,
        event_ms,
        event_date,
        _batch_at as _source_batch_at,
        {{ activity_columns('terminal', 'merchant_id') }},
        {%- for name, width in risk_windows().items() %}
        count(*) over (
            partition by merchant_id order by event_ms
            range between {{ delay + width }} preceding and {{ delay + 1 }} preceding
        ) as delayed_tx_count_{{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    from history

),

targets as (

    select * from windowed
    {% if b is not none -%}
    where {{ b.target_filter }}
    {%- endif %}

),

-- Frauds of the terminal as they were known at each target's time.
labelled_history as (

    select h.merchant_id, h.event_ms, l.reported_ms
    from history as h
    inner join labels as l on h.transaction_id = l.transaction_id

),

known_frauds as (

    select
        t.transaction_id,
        {%- for name, width in risk_windows().items() %}
        count_if(f.event_ms >= t.event_ms - {{ delay + width }}) as delayed_fraud_count_{{ name }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from targets as t
    inner join labelled_history as f
        on
            t.merchant_id = f.merchant_id
            and f.event_ms >= t.event_ms - {{ delay + window_ms(days=30) }}
            and f.event_ms < t.event_ms - {{ delay }}
            and f.reported_ms < t.event_ms
    group by t.transaction_id

),

final as (

    select
        t.transaction_id,
        t.merchant_id,
        t.event_time,
        t.event_ms,
        t.event_date,
        {%- for name in activity_windows() %}
        t.terminal_tx_count_{{ name }},
        t.terminal_avg_amount_{{ name }},
        {%- endfor %}
        {%- for name in risk_windows() %}
        coalesce(
            cast(k.delayed_fraud_count_{{ name }} as double)
            / nullif(t.delayed_tx_count_{{ name }}, 0),
            0.0
        ) as terminal_risk_{{ name }},
        {%- endfor %}
        t._source_batch_at,
        {{ batch_at() }} as _batch_at
    from targets as t
    left join known_frauds as k on t.transaction_id = k.transaction_id

)

select * from final
