{{
    config(
        materialized='incremental',
        unique_key=['transaction_id', 'event_date'],
        properties={'partitioned_by': "ARRAY['event_date']"},
    )
}}
-- One row per transaction (first landing wins), joined to the merchant reference data,
-- with the calendar and risk flags the features and dashboards use. Incremental: only
-- rows that landed in bronze since the last run (minus a lookback, merged idempotently).

{%- set since = none -%}
{%- if is_incremental() -%}
    {%- set loaded = scalar("select max(ingested_at) from " ~ this) -%}
    {%- if loaded is not none -%}
        {%- set since = loaded - modules.datetime.timedelta(minutes=var('ingestion_lookback_minutes')) -%}
    {%- endif -%}
{%- endif %}

with transactions as (

    select * from {{ ref('stg_bronze__transactions') }}
    {% if since is not none -%}
    where ingested_at > {{ ts_literal(since) }}
    {%- endif %}

),

merchants as (

    select * from {{ ref('merchants') }}

),

first_landing as (

    select *
    from (
        select
            *,
            row_number() over (
                partition by transaction_id order by ingested_at, kafka_partition, kafka_offset
            ) as landing_rank
        from transactions
    )
    where landing_rank = 1

),

enriched as (

    select
        t.transaction_id,
        t.user_id,
        t.merchant_id,
        t.amount,
        t.currency,
        t.channel,
        t.country,
        t.city,
        t.is_international,
        t.device_id,
        t.device_type,
        m.merchant_name,
        m.merchant_category,
        m.country as merchant_country,
        m.merchant_id is not null as is_known_merchant,
        t.event_time,
        t.event_ms,
        {{ is_weekend('t.event_time') }} as is_weekend,
        {{ is_night('t.event_time') }} as is_night,
        t.amount > 220 as is_high_amount,
        t.ingested_at,
        t.event_date,
        {{ batch_at() }} as _batch_at
    from first_landing as t
    left join merchants as m on t.merchant_id = m.merchant_id

)

select * from enriched
