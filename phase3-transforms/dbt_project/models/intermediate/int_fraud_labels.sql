-- One label per transaction: the first report (a later duplicate report changes nothing;
-- it is counted in quarantine_duplicate_labels). A label whose transaction has not landed
-- is kept: it joins the transaction when that lands (quarantine_orphan_labels meanwhile).
with labels as (

    select * from {{ ref('stg_bronze__fraud_labels') }}

),

first_report as (

    select *
    from (
        select
            *,
            row_number() over (
                partition by transaction_id order by {{ label_report_order() }}
            ) as report_rank
        from labels
    )
    where report_rank = 1

),

final as (

    select
        transaction_id,
        user_id,
        is_fraud,
        fraud_scenario,
        event_time,
        {{ epoch_ms('event_time') }} as event_ms,
        cast(event_time as date) as event_date,
        reported_at,
        reported_ms,
        ingested_at
    from first_report

)

select * from final
