{{
    config(unique_key='hour_start')
}}
-- Volume, amounts and fraud (from reported labels, as known now) per hour of event
-- time. Bronze holds only valid records (malformed ones went to the DLQ), so every count
-- here is DLQ-free. Incremental: the hours that received transactions or labels since
-- the last run are recomputed whole and merged on hour_start.

{%- set b = none -%}
{%- if is_incremental() -%}
    {%- set f_since = watermark('_source_batch_at') -%}
    {%- set l_since = watermark('_label_loaded_at') -%}
    {%- set b = {
        "features_filter": "_batch_at > " ~ ts_literal(f_since) if f_since is not none else "true",
        "labels_filter": "ingested_at > " ~ ts_literal(l_since) if l_since is not none else "true",
    } -%}
    {%- set hours = run_query(
        "select distinct date_trunc('hour', event_time) from " ~ ref('int_transactions_enriched')
        ~ " where " ~ b.features_filter
        ~ " union select distinct date_trunc('hour', event_time) from " ~ ref('int_fraud_labels')
        ~ " where " ~ b.labels_filter) if execute else none -%}
    {%- set hour_list = hours.columns[0].values() | list if hours is not none else [] -%}
{%- endif %}

with transactions as (

    select * from {{ ref('int_transactions_enriched') }}
    {% if b is not none -%}
    {%- if hour_list | length == 0 %}
    where false
    {%- else %}
    where event_date >= date '{{ (hour_list | min).date().isoformat() }}'
        and date_trunc('hour', event_time) in (
            {%- for h in hour_list %}{{ ts_literal(h) }}{{ ", " if not loop.last }}{% endfor -%}
        )
    {%- endif %}
    {%- endif %}

),

labels as (

    select * from {{ ref('int_fraud_labels') }}

),

hourly as (

    select
        date_trunc('hour', t.event_time) as hour_start,
        count(*) as tx_count,
        sum(t.amount) as total_amount,
        avg(t.amount) as avg_amount,
        -- exact nearest-rank p95 (approx_percentile's digest depends on how the rows are
        -- split, so an incremental merge and a full refresh would disagree)
        element_at(array_sort(array_agg(t.amount)), cast(ceil(0.95 * count(*)) as integer))
            as p95_amount,
        count(distinct t.user_id) as active_users,
        count(distinct t.merchant_id) as active_merchants,
        count_if(t.is_international) as international_tx_count,
        count_if(t.is_high_amount) as high_amount_tx_count,
        count_if(l.is_fraud) as fraud_count,
        coalesce(sum(case when l.is_fraud then t.amount end), 0.0) as fraud_amount,
        max(t._batch_at) as _source_batch_at,
        max(l.ingested_at) as _label_loaded_at
    from transactions as t
    left join labels as l on t.transaction_id = l.transaction_id
    group by 1

),

final as (

    select
        hour_start,
        cast(hour_start as date) as event_date,
        tx_count,
        total_amount,
        avg_amount,
        p95_amount,
        active_users,
        active_merchants,
        international_tx_count,
        high_amount_tx_count,
        fraud_count,
        fraud_amount,
        cast(fraud_count as double) / tx_count as fraud_rate,
        cast(international_tx_count as double) / tx_count as international_rate,
        _source_batch_at,
        _label_loaded_at,
        {{ batch_at() }} as _batch_at
    from hourly

)

select * from final
