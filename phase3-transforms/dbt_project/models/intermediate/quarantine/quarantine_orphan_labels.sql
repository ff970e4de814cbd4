{{
    config(
        unique_key='transaction_id',
        merge_exclude_columns=['first_seen_at'],
    )
}}
-- Fraud labels whose transaction is not in bronze: it has not landed yet (the two
-- streams are separate, a label can overtake its transaction) or never will (the
-- transaction went to the DLQ). Such a label changes no feature and no training row
-- (everything joins labels to transactions), so it is quarantined and counted, never
-- blocking. It stays in int_fraud_labels: when its transaction lands (late, or repaired
-- and replayed from the DLQ) it joins it on that run like any label, and its row here is
-- marked resolved.
--
-- Incremental: labels not quarantined yet whose transaction is missing are added with
-- first_seen_at = this run; open rows whose transaction has landed get resolved_at. Rows
-- already here are never rewritten otherwise (first_seen_at survives every run). Labels are
-- about 1 % of the transactions; the lookup reads only the transactions' ids, the work of
-- the relationships test on int_fraud_labels.

with labels as (

    select * from {{ ref('int_fraud_labels') }}

),

transactions as (

    select transaction_id from {{ ref('int_transactions_enriched') }}

),

orphans as (

    select l.*
    from labels as l
    left join transactions as t on l.transaction_id = t.transaction_id
    where t.transaction_id is null

),
{%- if is_incremental() %}

quarantined as (

    select transaction_id, first_seen_at, resolved_at from {{ this }}

),

new_orphans as (

    select
        o.*,
        {{ batch_at() }} as first_seen_at,
        cast(null as timestamp(3) with time zone) as resolved_at
    from orphans as o
    left join quarantined as q on o.transaction_id = q.transaction_id
    where q.transaction_id is null

),

-- open rows whose transaction has landed (the label's columns as it is now)
resolved as (

    select l.*, q.first_seen_at, {{ batch_at() }} as resolved_at
    from quarantined as q
    inner join transactions as t on q.transaction_id = t.transaction_id
    inner join labels as l on q.transaction_id = l.transaction_id
    where q.resolved_at is null

),

changed as (

    select * from new_orphans
    union all
    select * from resolved

),
{%- else %}

changed as (

    select
        *,
        {{ batch_at() }} as first_seen_at,
        cast(null as timestamp(3) with time zone) as resolved_at
    from orphans

),
{%- endif %}

final as (

    select
        transaction_id,
        user_id,
        is_fraud,
        fraud_scenario,
        event_time,
        event_ms,
        event_date,
        reported_at,
        reported_ms,
        ingested_at,
        cast('transaction_not_found' as varchar) as reason,
        first_seen_at,
        resolved_at,
        {{ batch_at() }} as _batch_at
    from changed

)

select * from final
