#!/usr/bin/env bash
# The platform's Python environment (.venv in the repo) from the committed uv.lock.
# uv itself is installed once into the cache, keyed by version; package downloads are
# cached in $CACHE/uv, so a warm reinstall takes seconds. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
uv_home="$CACHE/tools/uv-$UV_VERSION"
if [[ ! -x "$uv_home/bin/uv" ]]; then
  echo "install: uv $UV_VERSION"
  rm -rf "$uv_home"
  "python$PYTHON_VERSION" -m venv "$uv_home"
  "$uv_home/bin/pip" install -q "uv==$UV_VERSION"
fi
export UV_CACHE_DIR="$CACHE/uv" UV_PYTHON="python$PYTHON_VERSION" UV_PYTHON_DOWNLOADS=never
cd "$repo"
"$uv_home/bin/uv" sync --frozen --all-packages --quiet
