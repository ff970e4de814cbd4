{#- Schemas are exactly the layer names (silver, gold), not dbt's <target>_<custom>;
    var schema_suffix (e.g. "bench") gives side schemas such as silver_bench. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = target.schema if custom_schema_name is none else custom_schema_name -%}
    {%- set suffix = var('schema_suffix', '') -%}
    {{ base | trim }}{{ '_' ~ suffix if suffix else '' }}
{%- endmacro %}
