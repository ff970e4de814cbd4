{#- Every feature of the contract is a column and non-null on every row (defaults applied).
    `features`: the ordered names of fraud_contracts/features.py (var feature_names). -#}
{% test features_complete(model, features) %}

{%- set columns = adapter.get_columns_in_relation(model) | map(attribute='name') | list %}
{%- set missing = features | reject('in', columns) | list %}

{% if missing %}
select 'missing column: {{ missing | join(", ") }}' as problem
{% else %}
select transaction_id as problem
from {{ model }}
where
    {%- for name in features %}
    {{ name }} is null{{ " or" if not loop.last }}
    {%- endfor %}
{% endif %}

{% endtest %}
