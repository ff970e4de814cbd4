-- Typing and renaming only: one row per reported label.
with source as (

    select * from {{ source('bronze', 'fraud_labels') }}

),

renamed as (

    select
        cast(transaction_id as varchar) as transaction_id,
        cast(user_id as varchar) as user_id,
        is_fraud,
        scenario as fraud_scenario,
        cast(event_time as timestamp(3) with time zone) as event_time,
        cast(reported_at as timestamp(3) with time zone) as reported_at,
        {{ epoch_ms('reported_at') }} as reported_ms,
        cast(ingested_at as timestamp(3) with time zone) as ingested_at,
        kafka_partition,
        kafka_offset
    from source

)

select * from renamed
