{{
    config(
        materialized='incremental',
        unique_key=['transaction_id', 'event_date'],
        properties={'partitioned_by': "ARRAY['event_date']"},
        pre_hook="set session optimize_top_n_ranking = false",
        post_hook="reset session optimize_top_n_ranking",
    )
}}
-- The hooks: Trino plans `row_number() ... = 1` as a TopNRanking operator, which holds
-- every transaction id in memory and cannot spill (a full refresh over 10 M rows
-- exceeded the query's 1.5 GB); as a window function it spills to disk instead.
--
-- One row per transaction (first landing wins), joined to the merchant reference data,
-- with the calendar and risk flags the features and dashboards use. Incremental: rows
-- that landed in bronze since the last run, re-reading a short lookback before the
-- newest landing seen (a safety margin for writers whose commits overtake each other);
-- transactions already in the table are skipped, so a re-read (or a later duplicate
-- landing) changes nothing and marks nothing new for the models downstream.
--
-- The seed is reference data, not a whitelist: a terminal missing from it (one that first
-- appears in the stream) keeps its transactions, with default enrichment: the name and
-- category the event states (else 'unknown') and the transaction's country, which the
-- event contract defines as the merchant's. is_known_merchant tells them apart; features
-- never use the enrichment (terminal features are per merchant_id).
-- quarantine_unknown_merchants counts them.

{%- set since = none -%}
{%- set new_from_date = none -%}
{%- if is_incremental() -%}
    {%- set loaded = watermark('ingested_at') -%}
    {%- if loaded is not none -%}
        {%- set since = loaded - modules.datetime.timedelta(minutes=var('ingestion_lookback_minutes')) -%}
        {%- set new_from_date = scalar(
            "select min(event_date) from " ~ ref('stg_bronze__transactions')
            ~ " where ingested_at > " ~ ts_literal(since)) -%}
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
{%- if since is not none %}

new_landings as (

    -- the lookback's transactions that are not in the table yet (the partitions
    -- compared are those of the re-read rows only)
    select t.*
    from first_landing as t
    left join (
        select transaction_id, event_date
        from {{ this }}
        where event_date >= {{ "date '" ~ new_from_date ~ "'" if new_from_date is not none else "date '9999-12-31'" }}
    ) as done
        on done.transaction_id = t.transaction_id and done.event_date = t.event_date
    where done.transaction_id is null

),
{%- endif %}

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
        coalesce(m.merchant_name, nullif(t.merchant_name, ''), 'unknown') as merchant_name,
        coalesce(m.merchant_category, nullif(t.merchant_category, ''), 'unknown')
            as merchant_category,
        coalesce(m.country, t.country) as merchant_country,
        m.merchant_id is not null as is_known_merchant,
        t.event_time,
        t.event_ms,
        {{ is_weekend('t.event_time') }} as is_weekend,
        {{ is_night('t.event_time') }} as is_night,
        t.amount > 220 as is_high_amount,
        t.ingested_at,
        t.event_date,
        {{ batch_at() }} as _batch_at
    from {{ 'new_landings' if since is not none else 'first_landing' }} as t
    left join merchants as m on t.merchant_id = m.merchant_id

)

select * from enriched
