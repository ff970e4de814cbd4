{#-
  Seeds are reloaded only when their file changed. Loading the 10,000 merchants through
  dbt-trino's parameterised INSERT ... VALUES takes about a minute here, and the
  fraud_pipeline DAG seeds every 15 minutes. The seed file's checksum is stored as the
  table's comment after a load (post-hook in dbt_project.yml); when it matches, the
  truncate and the inserts are skipped. `dbt seed --full-refresh` always reloads.
-#}

{% macro seed_unchanged(model, relation) %}
    {%- if not execute or relation is none or should_full_refresh() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set stored = scalar(
        "select comment from system.metadata.table_comments where catalog_name = '"
        ~ relation.database ~ "' and schema_name = '" ~ relation.schema
        ~ "' and table_name = '" ~ relation.identifier ~ "'") -%}
    {{ return(stored == seed_comment(model)) }}
{% endmacro %}

{% macro seed_comment(model) -%}
    {{ return("dbt seed checksum " ~ model.checksum.checksum) }}
{%- endmacro %}

{% macro trino__reset_csv_table(model, full_refresh, old_relation, agate_table) %}
    {%- if seed_unchanged(model, old_relation) -%}
        {{ log("seed " ~ model.name ~ " unchanged: not reloaded", info=true) }}
        {{ return("") }}
    {%- endif -%}
    {{ return(default__reset_csv_table(model, full_refresh, old_relation, agate_table)) }}
{% endmacro %}

{#- Rows as SQL literals, 5,000 per INSERT (dbt-trino binds parameters 1,000 rows at a
    time; Trino's per-statement cost, a Delta commit, dominates). Strings are quoted with
    embedded quotes doubled; other values are typed literals (e.g. double '62.7591'). -#}
{% macro trino__load_csv_rows(model, agate_table) %}
    {%- set existing = adapter.get_relation(database=model.database, schema=model.schema,
                                            identifier=model.alias) -%}
    {%- if seed_unchanged(model, existing) -%}
        {{ return("") }}
    {%- endif -%}
    {%- set cols_sql = get_seed_column_quoted_csv(model, agate_table.column_names) -%}
    {%- set overrides = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- do types.append(overrides.get(name, adapter.convert_type(agate_table, loop.index0))
                            | lower) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(5000) -%}
        {%- set values = [] -%}
        {%- for row in chunk -%}
            {%- set items = [] -%}
            {%- for item in row -%}
                {%- set text = "'" ~ (item | string | replace("'", "''")) ~ "'" -%}
                {%- if item is none -%}
                    {%- do items.append("null") -%}
                {%- elif types[loop.index0].startswith("varchar") -%}
                    {%- do items.append(text) -%}
                {%- else -%}
                    {%- do items.append(types[loop.index0] ~ " " ~ text) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- do values.append("(" ~ items | join(", ") ~ ")") -%}
        {%- endfor -%}
        {%- set sql = "insert into " ~ this.render() ~ " (" ~ cols_sql ~ ") values "
            ~ values | join(", ") -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- do statements.append(sql) -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else "") }}
{% endmacro %}
