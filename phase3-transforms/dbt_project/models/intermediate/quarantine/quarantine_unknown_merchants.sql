{{
    config(
        unique_key=['transaction_id', 'event_date'],
        merge_exclude_columns=['first_seen_at'],
    )
}}
-- Transactions at a terminal that is not in the merchant reference data (seed
-- `merchants`). Normal, not an error: a terminal that first appears in the stream keeps
-- its transactions, which get default enrichment in int_transactions_enriched (the
-- event's own name and category, the transaction's country) and their own terminal
-- features and profile. They are counted here with the enrichment they got.
--
-- Incremental: such transactions not here yet are added with first_seen_at = this run;
-- open rows whose merchant is in the reference data now get resolved_at (the enrichment
-- already built for them stays the defaults until int_transactions_enriched is rebuilt
-- with --full-refresh). The candidates are read through is_known_merchant, a boolean
-- column whose file statistics let Trino skip what is all known.

with transactions as (

    select * from {{ ref('int_transactions_enriched') }}
    where not is_known_merchant

),

merchants as (

    select merchant_id from {{ ref('merchants') }}

),

unknown as (

    select t.*
    from transactions as t
    left join merchants as m on t.merchant_id = m.merchant_id
    where m.merchant_id is null

),
{%- if is_incremental() %}

quarantined as (

    select transaction_id, event_date, first_seen_at, resolved_at from {{ this }}

),

new_unknown as (

    select
        u.*,
        {{ batch_at() }} as first_seen_at,
        cast(null as timestamp(3) with time zone) as resolved_at
    from unknown as u
    left join quarantined as q
        on u.transaction_id = q.transaction_id and u.event_date = q.event_date
    where q.transaction_id is null

),

-- open rows whose merchant is in the reference data now
resolved as (

    select t.*, q.first_seen_at, {{ batch_at() }} as resolved_at
    from quarantined as q
    inner join transactions as t
        on q.transaction_id = t.transaction_id and q.event_date = t.event_date
    inner join merchants as m on t.merchant_id = m.merchant_id
    where q.resolved_at is null

),

changed as (

    select * from new_unknown
    union all
    select * from resolved

),
{%- else %}

changed as (

    select
        *,
        {{ batch_at() }} as first_seen_at,
        cast(null as timestamp(3) with time zone) as resolved_at
    from unknown

),
{%- endif %}

final as (

    select
        transaction_id,
        user_id,
        merchant_id,
        merchant_name,
        merchant_category,
        merchant_country,
        amount,
        event_time,
        event_date,
        ingested_at,
        cast('merchant_not_in_reference' as varchar) as reason,
        first_seen_at,
        resolved_at,
        {{ batch_at() }} as _batch_at
    from changed

)

select * from final
