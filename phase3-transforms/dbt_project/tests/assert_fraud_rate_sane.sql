-- The overall fraud rate of the training table, computed from the reported labels, lies
-- within sane bounds (vars fraud_rate_min/max), and the table's labels agree with the
-- reports: every fraud row has a report, and every report that had landed when the table
-- was last built is on its transaction's row. (Reports keep landing while dbt runs, and a
-- report can land before its transaction: those are the next run's.) Returns a row
-- (fails) when any of this does not hold.
with features as (

    select * from {{ ref('mart_fraud_features') }}

),

labels as (

    select * from {{ ref('int_fraud_labels') }}
    where is_fraud

),

rates as (

    select
        count(*) as transactions,
        count_if(is_fraud = 1) as frauds,
        cast(count_if(is_fraud = 1) as double) / nullif(count(*), 0) as fraud_rate,
        max(_batch_at) as built_at
    from features

),

reports_missing as (

    select count(*) as reports_missing
    from labels
    inner join features on features.transaction_id = labels.transaction_id
    cross join rates
    where features.is_fraud = 0 and labels.ingested_at < rates.built_at

),

frauds_unreported as (

    select count(*) as frauds_unreported
    from features
    left join labels on labels.transaction_id = features.transaction_id
    where features.is_fraud = 1 and labels.transaction_id is null

)

select r.*, m.reports_missing, u.frauds_unreported
from rates as r
cross join reports_missing as m
cross join frauds_unreported as u
where
    r.transactions = 0
    or r.fraud_rate is null
    or r.fraud_rate < {{ var('fraud_rate_min') }}
    or r.fraud_rate > {{ var('fraud_rate_max') }}
    or m.reports_missing > 0
    or u.frauds_unreported > 0
