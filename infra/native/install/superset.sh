#!/usr/bin/env bash
# Superset's own Python environment for the native stack (its pins — SQLAlchemy 1.4,
# numpy 1.26 — conflict with the platform's uv.lock, so it never joins the workspace): a
# venv with exactly phase5-analytics/superset/requirements.txt, created with uv
# (installed by python.sh) under
#   ${FRAUD_CACHE_DIR:-$HOME/.cache/fraud-platform}/superset-$SUPERSET_VERSION-<hash>/
# where <hash> is the requirements file's. Packages come from uv's cache ($CACHE/uv) and
# are compiled to bytecode once here. Also installs Debian's headless browser (chromium,
# chromium-driver) that the Superset browser test drives, when missing.
# Idempotent: nothing to do when the .complete marker exists and the browser is there.
# Run programs in it with infra/native/bin/superset-venv.
set -euo pipefail

NAME=superset
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
source "$here/superset-env.sh"

pkgs=()
command -v chromium >/dev/null || pkgs+=(chromium)
command -v chromedriver >/dev/null || pkgs+=(chromium-driver)
if ((${#pkgs[@]})); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  log "apt-get install ${pkgs[*]} (the browser test's headless browser)"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

if [[ -f "$SUPERSET_VENV/.complete" ]]; then
  log "Superset $SUPERSET_VERSION environment up to date in $SUPERSET_VENV"
  exit 0
fi
grep -qx "apache-superset==$SUPERSET_VERSION" "$SUPERSET_REQUIREMENTS" \
  || die "$SUPERSET_REQUIREMENTS does not pin apache-superset==$SUPERSET_VERSION (versions.env)"
uv="$CACHE/tools/uv-$UV_VERSION/bin/uv"
if [[ ! -x "$uv" ]]; then
  log "uv $UV_VERSION missing: installing the platform environment first (python.sh)"
  bash "$here/python.sh"
fi
export UV_CACHE_DIR="$CACHE/uv" UV_PYTHON_DOWNLOADS=never
started=$SECONDS
log "creating $SUPERSET_VENV"
rm -rf "$SUPERSET_VENV"
"$uv" venv --quiet --python "python$PYTHON_VERSION" "$SUPERSET_VENV"
log "installing $(grep -c '==' "$SUPERSET_REQUIREMENTS") pinned packages (apache-superset $SUPERSET_VERSION)"
if ! "$uv" pip sync --quiet --python "$SUPERSET_VENV/bin/python" --compile-bytecode \
    "$SUPERSET_REQUIREMENTS"; then
  rm -rf "$SUPERSET_VENV"
  die "could not install $SUPERSET_REQUIREMENTS (see uv's output above)"
fi
"$SUPERSET_VENV/bin/python" -c 'import superset, trino.sqlalchemy, psycopg2' || {
  rm -rf "$SUPERSET_VENV"
  die "the new environment cannot import superset and its drivers"
}
touch "$SUPERSET_VENV/.complete"
log "installed Superset $SUPERSET_VERSION in $((SECONDS - started))s ($(du -sh "$SUPERSET_VENV" | cut -f1))"
