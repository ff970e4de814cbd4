{{
    config(unique_key='user_id')
}}
-- depends_on: {{ ref('int_transactions_enriched') }}, {{ ref('int_fraud_labels') }}
-- One row per user: the user's activity aggregates as of the newest event (`as_of`),
-- exactly the per-user record of features.py (USER_RECORD) for a transaction at `as_of`.
-- For analytics: the API computes the same record from the card's events in real time.
-- Incremental: every user active in the last 30 days, and every user whose stored
-- profile still counts activity (it decays to zero), is recomputed and merged.

{%- set as_of_ms = profile_as_of_ms() %}

with

{% if as_of_ms is none -%}
final as (
    select * from (
        select
            cast(null as varchar) as user_id,
            cast(null as timestamp(3) with time zone) as as_of,
            cast(null as bigint) as as_of_ms
            {%- for name in activity_windows() %},
            cast(null as double) as user_tx_count_{{ name }},
            cast(null as double) as user_avg_amount_{{ name }}
            {%- endfor %},
            cast(null as double) as user_std_amount_30d,
            cast(null as double) as user_median_amount_30d,
            cast(null as timestamp(3) with time zone) as last_event_time,
            cast(null as bigint) as reported_frauds_30d,
            cast(null as timestamp(3) with time zone) as _batch_at
    )
    where false
)
{%- else -%}
{%- set since_ms = as_of_ms - window_ms(days=30) -%}
recent as (

    select transaction_id, user_id, amount, event_time, event_ms
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

users as (

    select distinct user_id from recent
    {% if is_incremental() -%}
    union
    select user_id from {{ this }} where user_tx_count_30d > 0
    {%- endif %}

),

activity as (

    select
        r.user_id,
        {%- for name, width in activity_windows().items() %}
        count_if(r.event_ms >= {{ as_of_ms - width }}) as tx_count_{{ name }},
        avg(case when r.event_ms >= {{ as_of_ms - width }} then r.amount end)
            as avg_amount_{{ name }},
        {%- endfor %}
        stddev_pop(r.amount) as std_amount_30d,
        array_sort(array_agg(r.amount)) as sorted_amounts_30d,
        max(r.event_time) as last_event_time,
        count(l.transaction_id) as reported_frauds_30d
    from recent as r
    left join labels as l on r.transaction_id = l.transaction_id
    group by r.user_id

),

final as (

    select
        u.user_id,
        {{ ms_to_ts(as_of_ms) }} as as_of,
        cast({{ as_of_ms }} as bigint) as as_of_ms,
        {%- for name in activity_windows() %}
        cast(coalesce(a.tx_count_{{ name }}, 0) as double) as user_tx_count_{{ name }},
        coalesce(a.avg_amount_{{ name }}, 0.0) as user_avg_amount_{{ name }},
        {%- endfor %}
        coalesce(a.std_amount_30d, 0.0) as user_std_amount_30d,
        {{ median_of('a.sorted_amounts_30d') }} as user_median_amount_30d,
        a.last_event_time,
        coalesce(a.reported_frauds_30d, 0) as reported_frauds_30d,
        {{ batch_at() }} as _batch_at
    from users as u
    left join activity as a on u.user_id = a.user_id

)
{%- endif %}

select * from final
