#!/usr/bin/env bash
# Airflow's own Python environment for the native stack (its pins conflict with the
# platform's uv.lock, so it never joins the workspace): a venv with exactly
# phase3-transforms/airflow/requirements.txt (the same file compose's image installs),
# created with uv (installed by python.sh) under
#   ${FRAUD_CACHE_DIR:-$HOME/.cache/fraud-platform}/airflow-$AIRFLOW_VERSION-<hash>/
# where <hash> is the requirements file's. Packages come from uv's cache ($CACHE/uv), and
# are compiled to bytecode once here (the services may run with PYTHONDONTWRITEBYTECODE).
# Idempotent: nothing to do when the .complete marker exists. Run programs in it with
# infra/native/bin/airflow-venv.
set -euo pipefail

NAME=airflow
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
source "$here/airflow-env.sh"

if [[ -f "$AIRFLOW_VENV/.complete" ]]; then
  log "Airflow $AIRFLOW_VERSION environment up to date in $AIRFLOW_VENV"
  exit 0
fi
grep -qx "apache-airflow==$AIRFLOW_VERSION" "$AIRFLOW_REQUIREMENTS" \
  || die "$AIRFLOW_REQUIREMENTS does not pin apache-airflow==$AIRFLOW_VERSION (versions.env)"
uv="$CACHE/tools/uv-$UV_VERSION/bin/uv"
if [[ ! -x "$uv" ]]; then
  log "uv $UV_VERSION missing: installing the platform environment first (python.sh)"
  bash "$here/python.sh"
fi
export UV_CACHE_DIR="$CACHE/uv" UV_PYTHON_DOWNLOADS=never
started=$SECONDS
log "creating $AIRFLOW_VENV"
rm -rf "$AIRFLOW_VENV"
"$uv" venv --quiet --python "python$PYTHON_VERSION" "$AIRFLOW_VENV"
log "installing $(grep -c '==' "$AIRFLOW_REQUIREMENTS") pinned packages (apache-airflow $AIRFLOW_VERSION)"
if ! "$uv" pip sync --quiet --python "$AIRFLOW_VENV/bin/python" --compile-bytecode \
    "$AIRFLOW_REQUIREMENTS"; then
  rm -rf "$AIRFLOW_VENV"
  die "could not install $AIRFLOW_REQUIREMENTS (see uv's output above)"
fi
"$AIRFLOW_VENV/bin/airflow" version >/dev/null 2>&1 || {
  rm -rf "$AIRFLOW_VENV"
  die "the new environment's airflow does not run"
}
touch "$AIRFLOW_VENV/.complete"
log "installed Airflow $AIRFLOW_VERSION in $((SECONDS - started))s ($(du -sh "$AIRFLOW_VENV" | cut -f1))"
