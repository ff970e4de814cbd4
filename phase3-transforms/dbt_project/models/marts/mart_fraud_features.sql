{{
    config(
        unique_key=['transaction_id', 'event_date'],
        properties={'partitioned_by': "ARRAY['event_date']"},
    )
}}
-- The training table: one row per transaction with the features of
-- fraud_contracts/features.py (FEATURE_NAMES, defaults applied) and the label as known now.
-- Incremental: transactions whose features were (re)computed since the last run, and
-- transactions whose fraud label arrived since then, merged on transaction_id.

{%- set b = mart_bounds(ref('int_user_velocity'), ref('int_fraud_labels')) %}

with transactions as (

    select * from {{ ref('int_transactions_enriched') }}
    {% if b is not none %}where event_date >= {{ b.scan_date }}{% endif %}

),

user_velocity as (

    select * from {{ ref('int_user_velocity') }}
    {% if b is not none %}where event_date >= {{ b.scan_date }}{% endif %}

),

terminal_velocity as (

    select * from {{ ref('int_terminal_velocity') }}
    {% if b is not none %}where event_date >= {{ b.scan_date }}{% endif %}

),

labels as (

    select * from {{ ref('int_fraud_labels') }}

),

joined as (

    select
        t.transaction_id,
        t.user_id,
        t.merchant_id,
        t.event_time,
        t.event_date,
        t.amount,
        cast(t.is_international as double) as is_international,
        cast(t.is_weekend as double) as is_weekend,
        cast(t.is_night as double) as is_night,
        {%- for name in activity_windows() %}
        cast(u.user_tx_count_{{ name }} as double) as user_tx_count_{{ name }},
        u.user_avg_amount_{{ name }},
        {%- endfor %}
        coalesce(t.amount / nullif(u.user_avg_amount_30d, 0.0), 1.0) as amount_to_user_avg_30d,
        {{ amount_zscore('t.amount', 'u.user_tx_count_30d', 'u.user_avg_amount_30d',
                         'u.user_std_amount_30d') }} as amount_zscore_30d,
        coalesce(t.amount / nullif(u.user_median_amount_30d, 0.0), 1.0)
            as amount_to_user_median_30d,
        {%- for name in activity_windows() %}
        cast(v.terminal_tx_count_{{ name }} as double) as terminal_tx_count_{{ name }},
        v.terminal_avg_amount_{{ name }},
        {%- endfor %}
        {%- for name in risk_windows() %}
        v.terminal_risk_{{ name }},
        {%- endfor %}
        case when l.is_fraud then 1 else 0 end as is_fraud,
        l.fraud_scenario,
        l.reported_at as label_reported_at,
        l.ingested_at as _label_loaded_at,
        u._batch_at as _source_batch_at,
        {{ batch_at() }} as _batch_at
    from transactions as t
    inner join user_velocity as u on t.transaction_id = u.transaction_id
    inner join terminal_velocity as v on t.transaction_id = v.transaction_id
    left join labels as l on t.transaction_id = l.transaction_id
    {% if b is not none -%}
    where
        u.{{ b.features_filter }}
        or t.transaction_id in (select transaction_id from labels where {{ b.labels_filter }})
    {%- endif %}

)

select * from joined
