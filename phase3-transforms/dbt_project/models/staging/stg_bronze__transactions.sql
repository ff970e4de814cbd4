-- Typing and renaming only: one row per bronze row (duplicates are resolved downstream).
with source as (

    select * from {{ source('bronze', 'transactions') }}

),

renamed as (

    select
        cast(transaction_id as varchar) as transaction_id,
        cast(user_id as varchar) as user_id,
        cast(merchant_id as varchar) as merchant_id,
        merchant_name,
        merchant_category,
        cast(amount as double) as amount,
        upper(currency) as currency,
        lower(channel) as channel,
        upper(country) as country,
        city,
        is_international,
        device_id,
        lower(device_type) as device_type,
        cast(event_time as timestamp(3) with time zone) as event_time,
        {{ epoch_ms('event_time') }} as event_ms,
        event_date,
        cast(ingested_at as timestamp(3) with time zone) as ingested_at,
        kafka_partition,
        kafka_offset,
        schema_id
    from source

)

select * from renamed
