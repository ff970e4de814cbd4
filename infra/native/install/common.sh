#!/usr/bin/env bash
# Shared by the installers: versions, cache location, logging and a checksum-verifying
# Maven fetch. Source it, after setting NAME (used in log lines).
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
set -a
# shellcheck disable=SC1091
source "$repo/versions.env"
set +a
CACHE=${FRAUD_CACHE_DIR:-$HOME/.cache/fraud-platform}
export CACHE
mkdir -p "$CACHE"

log() { echo "[install-${NAME:-?}] $*"; }
die() { echo "[install-${NAME:-?}] ERROR: $*" >&2; exit 1; }
need() { for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || die "$tool not found"; done; }

# work_dir: a temporary directory in the cache (same file system as the destination, so
# the final mv is a rename), removed when the installer exits.
work_dir() {
  WORK=$(mktemp -d "$CACHE/.${NAME:-install}.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
}

# mvn_fetch GROUP:ARTIFACT:VERSION:TYPE[:CLASSIFIER] DEST_DIR — one artifact, no transitive
# dependencies, checksum verified against the repository's (-C: strict checksums).
# On failure prints Maven's output and exits.
mvn_fetch() {
  local out
  out=$(mktemp)
  if ! mvn -B -q -C -Dstyle.color=never \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="$1" -DoutputDirectory="$2" -Dmdep.overWriteReleases=true >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    rm -f "$out"
    die "Maven could not fetch $1 (see output above)"
  fi
  rm -f "$out"
}
