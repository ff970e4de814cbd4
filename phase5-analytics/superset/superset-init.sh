#!/usr/bin/env bash
# Superset's initialisation, shared by the native stack (services.yaml `setup`, through
# infra/native/bin/superset-venv) and compose (the superset-init one-shot in the
# apache/superset image). Idempotent; a re-run changes nothing:
#   superset db upgrade     metadata schema migrations (a no-op when current)
#   superset init           default roles and permissions (re-synced, same result)
#   superset_init.py        admin from .env, connections + datasets + charts + the three
#                           dashboards from assets/ (skipped when already imported)
# Every secret is checked first, so a missing one stops start-up naming the variable.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for var in SUPERSET_SECRET_KEY SUPERSET_DB_PASSWORD SUPERSET_ADMIN_USER SUPERSET_ADMIN_PASSWORD \
    PREDICTIONS_READER_DB_PASSWORD; do
  if [[ -z "${!var:-}" ]]; then
    echo "superset-init: $var is not set (run \`make init\`; it lives in .env)" >&2
    exit 1
  fi
done
export SUPERSET_CONFIG_PATH=${SUPERSET_CONFIG_PATH:-$here/superset_config.py}
export FLASK_APP=superset
if [[ -n "${SUPERSET_HOME:-}" ]]; then mkdir -p "$SUPERSET_HOME"; fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { # quiet unless it fails
  echo "superset-init: superset $*"
  if ! superset "$@" >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    echo "superset-init: superset $* failed" >&2
    exit 1
  fi
}
run db upgrade
run init
python "$here/superset_init.py"
