#!/usr/bin/env bash
# One-time initdb of the native PostgreSQL cluster under $STATE/postgres (idempotent).
# Runs initdb as the unprivileged "postgres" account when invoked as root.
set -euo pipefail
: "${STATE:?}" "${PG_BIN:?}" "${POSTGRES_PASSWORD:?run make init}"
data="$STATE/postgres/data"
mkdir -p "$STATE/postgres/run"
if [[ -f "$data/PG_VERSION" ]]; then
  exit 0
fi
mkdir -p "$data"
pwfile=$(mktemp)
trap 'rm -f "$pwfile"' EXIT
printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  chown -R postgres:postgres "$STATE/postgres"
  chown postgres "$pwfile"
  as_pg=(runuser -u postgres --)
fi
echo "initdb: creating cluster in $data"
"${as_pg[@]}" "$PG_BIN/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
  --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$STATE/postgres/initdb.log" 2>&1 \
  || { tail -20 "$STATE/postgres/initdb.log"; exit 1; }
