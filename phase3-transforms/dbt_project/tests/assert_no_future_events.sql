-- Nothing comes from the future: no transaction or profile is timestamped after now (5
-- minutes of clock skew allowed), no label is reported before its transaction happened,
-- and none is scheduled further ahead than the label delay (a producer that stops sends
-- its labels not yet due with their scheduled reported_at; point-in-time features use
-- reported_at, so such an early arrival changes nothing downstream). Labels are checked
-- once their transaction has landed: until then they touch no feature and no training row
-- and are quarantined (quarantine_orphan_labels), e.g. the labels of events the bronze
-- writer sent to the DLQ for lying in the future.
with clock as (

    select current_timestamp + interval '5' minute as horizon

)

select 'transaction' as kind, transaction_id as id, event_time as at
from {{ ref('mart_fraud_features') }}, clock
where event_time > clock.horizon

union all

select 'label_reported', l.transaction_id, l.reported_at
from {{ ref('int_fraud_labels') }} as l
inner join {{ ref('int_transactions_enriched') }} as t on l.transaction_id = t.transaction_id
cross join clock
where
    l.reported_at > clock.horizon + interval '{{ var("label_delay_days") }}' day
    or l.reported_at < l.event_time

union all

select 'user_profile', user_id, as_of
from {{ ref('mart_user_risk_profiles') }}, clock
where as_of > clock.horizon + interval '1' second
