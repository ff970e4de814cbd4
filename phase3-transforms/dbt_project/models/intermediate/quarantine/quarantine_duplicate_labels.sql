{{
    config(
        unique_key=['transaction_id', 'kafka_partition', 'kafka_offset'],
        merge_exclude_columns=['first_seen_at'],
    )
}}
-- Fraud reports of a transaction after its first one (a chargeback and an analyst's
-- confirmation, a producer retry outside the bronze writer's dedup window). The first
-- report is the label (int_fraud_labels, same order: label_report_order); the later ones
-- change nothing and are only counted here, never blocking. A duplicate stays one, so
-- rows are never resolved.
--
-- Incremental: reports that are duplicates now and not here yet are added with
-- first_seen_at = this run (merge on the report's bronze position).

with labels as (

    select * from {{ ref('stg_bronze__fraud_labels') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by transaction_id order by {{ label_report_order() }}
        ) as report_rank
    from labels

),

duplicates as (

    select * from ranked where report_rank > 1

),
{%- if is_incremental() %}

new_duplicates as (

    select d.*
    from duplicates as d
    left join (select transaction_id, kafka_partition, kafka_offset from {{ this }}) as q
        on
            d.transaction_id = q.transaction_id
            and d.kafka_partition = q.kafka_partition
            and d.kafka_offset = q.kafka_offset
    where q.transaction_id is null

),
{%- endif %}

final as (

    select
        transaction_id,
        user_id,
        is_fraud,
        fraud_scenario,
        event_time,
        cast(event_time as date) as event_date,
        reported_at,
        ingested_at,
        kafka_partition,
        kafka_offset,
        report_rank,
        cast('duplicate_report' as varchar) as reason,
        {{ batch_at() }} as first_seen_at,
        {{ batch_at() }} as _batch_at
    from {{ 'new_duplicates' if is_incremental() else 'duplicates' }}

)

select * from final
