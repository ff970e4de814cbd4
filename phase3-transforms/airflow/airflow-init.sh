#!/usr/bin/env bash
# One-shot Airflow initialisation, shared by both launchers (native: the setup step of
# airflow-api-server in infra/native/services.yaml; compose: the airflow-init job).
# Idempotent:
#   1. writes airflow.cfg once (AIRFLOW_CONFIG or $AIRFLOW_HOME/airflow.cfg) so every
#      component shares the generated API secret_key and jwt_secret,
#   2. migrates the metadata database (`airflow db migrate`, a no-op when current),
#   3. sets the password of the admin AIRFLOW_ADMIN_USER to AIRFLOW_ADMIN_PASSWORD (both
#      from .env), creating the user when it does not exist.
# Every other setting comes from AIRFLOW__* environment variables.
set -euo pipefail
log() { echo "[airflow-init] $*"; }
: "${AIRFLOW_HOME:?is not set}"
: "${AIRFLOW_ADMIN_USER:?is empty - run make init}"
: "${AIRFLOW_ADMIN_PASSWORD:?is empty - run make init}"
mkdir -p "$AIRFLOW_HOME"
config=${AIRFLOW_CONFIG:-$AIRFLOW_HOME/airflow.cfg}
if [[ ! -f "$config" ]]; then
  mkdir -p "$(dirname "$config")"
  log "writing $config (generated API secret key and JWT secret)"
  airflow config list >/dev/null
fi
log "migrating the metadata database"
airflow db migrate >/dev/null
# One CLI call when the admin exists (the usual case): set its password from .env.
# --password=VALUE, not --password VALUE: a password starting with "-" would be parsed as
# an option (a generated one did, in CI).
if out=$(airflow users reset-password --username "$AIRFLOW_ADMIN_USER" \
    --password="$AIRFLOW_ADMIN_PASSWORD" 2>&1); then
  log "admin user $AIRFLOW_ADMIN_USER exists; password set from AIRFLOW_ADMIN_PASSWORD"
elif grep -q "does not exist" <<<"$out"; then
  airflow users create --username "$AIRFLOW_ADMIN_USER" --password="$AIRFLOW_ADMIN_PASSWORD" \
    --role Admin --email "$AIRFLOW_ADMIN_USER@fraud-platform.local" --firstname Fraud \
    --lastname Admin >/dev/null
  log "admin user $AIRFLOW_ADMIN_USER created"
else
  echo "$out" >&2
  log "ERROR: could not set the admin user $AIRFLOW_ADMIN_USER"
  exit 1
fi
log "done"
