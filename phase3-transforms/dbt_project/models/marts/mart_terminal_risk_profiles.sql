{{
    config(unique_key='merchant_id')
}}
-- depends_on: {{ ref('int_transactions_enriched') }}, {{ ref('int_fraud_labels') }}
-- One row per terminal (merchant): its activity and delayed fraud risk as of the newest
-- event (`as_of`), exactly the terminal features of fraud_contracts/features.py for a
-- transaction at `as_of`. For analytics (the API: real time).
-- Incremental: terminals with activity in the 30 days + label delay before `as_of`, and
-- those whose stored profile still counts activity, are recomputed and merged.

{%- set as_of_ms = profile_as_of_ms() %}
{%- set delay = label_delay_ms() %}

with

{% if as_of_ms is none -%}
final as (
    select * from (
        select
            cast(null as varchar) as merchant_id,
            cast(null as timestamp(3) with time zone) as as_of,
            cast(null as bigint) as as_of_ms
            {%- for name in activity_windows() %},
            cast(null as double) as terminal_tx_count_{{ name }},
            cast(null as double) as terminal_avg_amount_{{ name }}
            {%- endfor %}
            {%- for name in risk_windows() %},
            cast(null as double) as terminal_risk_{{ name }}
            {%- endfor %},
            cast(null as timestamp(3) with time zone) as _batch_at
    )
    where false
)
{%- else -%}
{%- set since_ms = as_of_ms - delay - window_ms(days=30) -%}
recent as (

    select transaction_id, merchant_id, amount, event_ms
    from {{ ref('int_transactions_enriched') }}
    where
        event_date >= {{ ms_to_date(since_ms) }}
        and event_ms >= {{ since_ms }}
        and event_ms < {{ as_of_ms }}

),

labels as (

    select transaction_id from {{ ref('int_fraud_labels') }}
    where is_fraud and reported_ms < {{ as_of_ms }}

),

terminals as (

    select distinct merchant_id from recent
    {% if is_incremental() -%}
    union
    select merchant_id from {{ this }}
    where terminal_tx_count_30d > 0 or terminal_risk_30d > 0
    {%- endif %}

),

activity as (

    select
        r.merchant_id,
        {%- for name, width in activity_windows().items() %}
        count_if(r.event_ms >= {{ as_of_ms - width }}) as tx_count_{{ name }},
        avg(case when r.event_ms >= {{ as_of_ms - width }} then r.amount end)
            as avg_amount_{{ name }},
        {%- endfor %}
        {%- for name, width in risk_windows().items() %}
        count_if(
            r.event_ms >= {{ as_of_ms - delay - width }} and r.event_ms < {{ as_of_ms - delay }}
        ) as delayed_tx_count_{{ name }},
        count_if(
            r.event_ms >= {{ as_of_ms - delay - width }} and r.event_ms < {{ as_of_ms - delay }}
            and l.transaction_id is not null
        ) as delayed_fraud_count_{{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    from recent as r
    left join labels as l on r.transaction_id = l.transaction_id
    group by r.merchant_id

),

final as (

    select
        m.merchant_id,
        {{ ms_to_ts(as_of_ms) }} as as_of,
        cast({{ as_of_ms }} as bigint) as as_of_ms,
        {%- for name in activity_windows() %}
        cast(coalesce(a.tx_count_{{ name }}, 0) as double) as terminal_tx_count_{{ name }},
        coalesce(a.avg_amount_{{ name }}, 0.0) as terminal_avg_amount_{{ name }},
        {%- endfor %}
        {%- for name in risk_windows() %}
        coalesce(
            cast(a.delayed_fraud_count_{{ name }} as double)
            / nullif(a.delayed_tx_count_{{ name }}, 0),
            0.0
        ) as terminal_risk_{{ name }},
        {%- endfor %}
        {{ batch_at() }} as _batch_at
    from terminals as m
    left join activity as a on m.merchant_id = a.merchant_id

)
{%- endif %}

select * from final
