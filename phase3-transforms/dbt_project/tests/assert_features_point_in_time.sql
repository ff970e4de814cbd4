-- No feature uses an event at or after its transaction's time: for a sample of
-- transactions, recompute the user and terminal activity features with a plain join over
-- strictly earlier events (no window functions) and return every disagreement.
{%- set sample = var('point_in_time_sample') %}

with features as (

    select * from {{ ref('mart_fraud_features') }}

),

transactions as (

    select transaction_id, user_id, merchant_id, amount, event_ms
    from {{ ref('int_transactions_enriched') }}

),

sample as (

    select f.*, t.event_ms
    from features as f
    inner join transactions as t on f.transaction_id = t.transaction_id
    order by xxhash64(to_utf8(f.transaction_id))
    limit {{ sample }}

),

{%- set entities = {"user": "user_id", "terminal": "merchant_id"} %}
{%- for prefix, key in entities.items() %}

{{ prefix }}_recomputed as (

    select
        s.transaction_id,
        {%- for name, width in activity_windows().items() %}
        count_if(h.event_ms >= s.event_ms - {{ width }}) as {{ prefix }}_tx_count_{{ name }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from sample as s
    left join transactions as h
        on h.{{ key }} = s.{{ key }}
        and h.event_ms < s.event_ms
        and h.event_ms >= s.event_ms - {{ window_ms(days=30) }}
    group by s.transaction_id

){{ "," if not loop.last }}
{%- endfor %}

{% for prefix in entities %}
select s.transaction_id, '{{ prefix }}' as entity
from sample as s
inner join {{ prefix }}_recomputed as r on s.transaction_id = r.transaction_id
where
    {%- for name in activity_windows() %}
    s.{{ prefix }}_tx_count_{{ name }} != r.{{ prefix }}_tx_count_{{ name }}{{ " or" if not loop.last }}
    {%- endfor %}
{{ "union all" if not loop.last }}
{% endfor %}
