-- The overall fraud rate of the training table, computed from the reported labels, lies
-- within sane bounds (vars fraud_rate_min/max), and every reported fraud label is on its
-- transaction's row. Returns a row (fails) when either does not hold.
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
        cast(count_if(is_fraud = 1) as double) / nullif(count(*), 0) as fraud_rate
    from features

),

label_check as (

    select count(*) as labelled_frauds from labels

)

select r.*, l.labelled_frauds
from rates as r
cross join label_check as l
where
    r.transactions = 0
    or r.fraud_rate is null
    or r.fraud_rate < {{ var('fraud_rate_min') }}
    or r.fraud_rate > {{ var('fraud_rate_max') }}
    or r.frauds != l.labelled_frauds
