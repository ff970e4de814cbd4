{#-
  Incremental bookkeeping. Every incremental model stamps its rows with `_batch_at`, the
  time this dbt invocation started; a downstream model remembers the newest upstream
  `_batch_at` it consumed (`_source_batch_at`) and next time takes only newer rows.
  Bounds are computed with run_query before the model's query runs and inlined as
  literals, so Trino prunes event_date partitions and skips files on their statistics:
  an incremental run reads what is new plus a bounded history, never the whole lake.
-#}

{% macro ts_literal(value) -%}
    {%- if value is none -%}
        cast(null as timestamp(3) with time zone)
    {%- else -%}
        timestamp '{{ value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] }} UTC'
    {%- endif -%}
{%- endmacro %}

{% macro batch_at() -%}
    {{ ts_literal(run_started_at) }}
{%- endmacro %}

{% macro scalar(sql) -%}
    {#- First value of a query's first row (none when not executing or no row). -#}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set result = run_query(sql) -%}
    {%- if result is none or result.rows | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(result.rows[0][0]) }}
{%- endmacro %}

{% macro watermark(column) -%}
    {#-
      max(column) of the model's own table. For a partitioned table it is read from the
      Delta file statistics (Trino's `$partitions` table: the transaction log's per-file
      min/max, no data file opened), so it costs the same with 1 M or 100 M rows. Trino
      rewrites whole files on MERGE (no deletion vectors on these tables), so the
      statistics are exact; a null (no statistics, or an unpartitioned table) falls back
      to scanning the column. An underestimate could only make a run redo more work.
    -#}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = none -%}
    {%- if 'partitioned_by' in (config.get('properties') or {}) -%}
        {%- set value = scalar(
            'select max(data."' ~ column ~ '".max) from "' ~ this.database ~ '"."'
            ~ this.schema ~ '"."' ~ this.identifier ~ '$partitions"') -%}
    {%- endif -%}
    {%- if value is none -%}
        {%- set value = scalar("select max(" ~ column ~ ") from " ~ this) -%}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{% macro ms_to_date(ms) -%}
    {#- The UTC date of epoch milliseconds, as a SQL date literal. -#}
    {%- set d = modules.datetime.datetime.utcfromtimestamp(ms // 1000).date() -%}
    date '{{ d.isoformat() }}'
{%- endmacro %}

{% macro window_ms(days=0, hours=0) -%}
    {{ return((days * 24 + hours) * 3600000) }}
{%- endmacro %}

{% macro label_delay_ms() -%}
    {{ return(window_ms(days=var('label_delay_days'))) }}
{%- endmacro %}

{#-
  Bounds of an incremental run of a per-transaction model that reads `upstream`
  (columns event_ms, event_date, _batch_at). Returns none for a full build, else:
    since_batch_at  upstream rows stamped after this are new
    recompute_ms    also recompute rows with event_ms >= this (late events change the
                    features of what followed them, up to late_event_lookback_hours)
    history_ms      the oldest event any target's windows can reach (span_ms earlier)
    history_date    the same as a date literal, for partition pruning
    target_filter   SQL predicate over (_source_batch_at, event_ms) selecting the targets
-#}
{% macro transaction_bounds(upstream, span_ms) %}
    {%- if not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set since = watermark('_source_batch_at') -%}
    {%- set done_ms = watermark('event_ms') -%}
    {%- set new_filter = "_batch_at > " ~ ts_literal(since) if since is not none else "true" -%}
    {%- set min_new_ms = scalar("select min(event_ms) from " ~ upstream ~ " where " ~ new_filter) -%}
    {%- if min_new_ms is none -%}
        {{ return({"target_filter": "false", "history_ms": 0,
                   "history_date": "date '9999-12-31'"}) }}
    {%- endif -%}
    {%- set recompute_ms = min_new_ms -%}
    {%- if done_ms is not none -%}
        {%- set floor_ms = done_ms - window_ms(hours=var('late_event_lookback_hours')) -%}
        {%- set recompute_ms = [min_new_ms, floor_ms] | max -%}
    {%- endif -%}
    {%- set history_ms = ([min_new_ms, recompute_ms] | min) - span_ms -%}
    {%- set target_filter = "(" ~ new_filter | replace("_batch_at", "_source_batch_at")
        ~ " or event_ms >= " ~ recompute_ms ~ ")" -%}
    {{ return({"target_filter": target_filter, "history_ms": history_ms,
               "history_date": ms_to_date(history_ms)}) }}
{% endmacro %}

{#-
  Bounds of an incremental run of a per-transaction mart that also carries the label
  as known now: rows whose features were (re)computed upstream since the last run, and
  rows whose label landed since then. Returns none for a full build, else
    features_since  upstream _batch_at watermark (SQL literal)
    labels_since    label ingested_at watermark (SQL literal)
    scan_date       oldest event_date any target can have (date literal)
-#}
{% macro mart_bounds(features_upstream, labels_upstream) %}
    {%- if not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set f_since = watermark('_source_batch_at') -%}
    {%- set l_since = watermark('_label_loaded_at') -%}
    {%- set f_filter = "_batch_at > " ~ ts_literal(f_since) if f_since is not none else "true" -%}
    {%- set l_filter = "ingested_at > " ~ ts_literal(l_since) if l_since is not none else "true" -%}
    {%- set f_min = scalar("select min(event_date) from " ~ features_upstream ~ " where " ~ f_filter) -%}
    {%- set l_min = scalar("select min(event_date) from " ~ labels_upstream ~ " where " ~ l_filter) -%}
    {%- set dates = [f_min, l_min] | reject("none") | list -%}
    {%- set scan_date = "date '" ~ (dates | min).isoformat() ~ "'" if dates else "date '9999-12-31'" -%}
    {{ return({"features_since": ts_literal(f_since), "labels_since": ts_literal(l_since),
               "features_filter": f_filter, "labels_filter": l_filter, "scan_date": scan_date}) }}
{% endmacro %}

{#-
  The snapshot time of the online profiles: 1 ms after the newest event landed so far
  (windows are [as_of - w, as_of), so the newest event counts). Data time, not wall
  time: a replayed or backfilled history gets the profiles its last moment had.
  Returns none when there is no event at all.
-#}
{% macro profile_as_of_ms() %}
    {%- set enriched = ref('int_transactions_enriched') -%}
    {%- set previous = none -%}
    {%- set new_filter = "true" -%}
    {%- if is_incremental() -%}
        {%- set previous = watermark('as_of_ms') -%}
        {%- set last_batch = watermark('_batch_at') -%}
        {%- if last_batch is not none -%}
            {%- set new_filter = "_batch_at > " ~ ts_literal(last_batch) -%}
        {%- endif -%}
    {%- endif -%}
    {%- set newest = scalar("select max(event_ms) from " ~ enriched ~ " where " ~ new_filter) -%}
    {%- set candidates = [] -%}
    {%- if newest is not none %}{% do candidates.append(newest + 1) %}{% endif -%}
    {%- if previous is not none %}{% do candidates.append(previous) %}{% endif -%}
    {{ return(candidates | max if candidates else none) }}
{% endmacro %}
