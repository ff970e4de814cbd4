{#-
  on-run-start: register the bronze tables Spark has created since Trino started (the
  trino service's init, `fraud-init trino`, can only register what existed then). A table
  already registered is left alone; one whose transaction log does not exist yet fails
  the run with Trino's message, as it should: there is no bronze to transform.
-#}
{% macro register_bronze_tables() %}
    {%- if not execute -%}
        {{ return("") }}
    {%- endif -%}
    {%- set schema = var('bronze_schema') -%}
    {%- set registered = run_query(
        "select table_name from " ~ target.database ~ ".information_schema.tables"
        ~ " where table_schema = '" ~ schema ~ "'").columns[0].values() | list -%}
    {%- for table in ['transactions', 'fraud_labels'] if table not in registered -%}
        {%- set location = var('bronze_location') ~ '/' ~ table -%}
        {% do log("registering " ~ schema ~ "." ~ table ~ " at " ~ location, info=true) %}
        {% do run_query("call " ~ target.database ~ ".system.register_table(schema_name => '"
            ~ schema ~ "', table_name => '" ~ table ~ "', table_location => '" ~ location ~ "')") %}
    {%- endfor -%}
    {{ return("") }}
{% endmacro %}
