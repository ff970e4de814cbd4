#!/usr/bin/env bash
# Install Apicurio Registry (Confluent-compatible schema registry) for the native stack.
#
# Fetches io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all (the Quarkus
# fast-jar distribution) with Maven (checksums verified) and extracts it into
#   ${FRAUD_CACHE_DIR:-$HOME/.cache/fraud-platform}/apicurio-$APICURIO_VERSION/
# (quarkus-run.jar, lib/, app/, quarkus/). Idempotent: nothing to do when the
# .complete marker exists. Needs: mvn, tar. Running it needs Java 21+ (its classes
# are Java 21 bytecode): use the Temurin 25 JDK under /usr/lib/jvm.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
# shellcheck source=/dev/null
source "$REPO/versions.env"
: "${APICURIO_VERSION:?APICURIO_VERSION missing from versions.env}"
CACHE="${FRAUD_CACHE_DIR:-$HOME/.cache/fraud-platform}"
DEST="$CACHE/apicurio-$APICURIO_VERSION"
ARTIFACT="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all"

log() { echo "[install-apicurio] $*"; }
die() { echo "[install-apicurio] ERROR: $*" >&2; exit 1; }

if [[ -f "$DEST/.complete" ]]; then
  log "Apicurio Registry $APICURIO_VERSION already installed in $DEST"
  exit 0
fi

command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven)"
command -v tar >/dev/null 2>&1 || die "tar not found"

mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/.apicurio-$APICURIO_VERSION.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "fetching $ARTIFACT with Maven (~160 MB on a cold cache)"
# Run from the empty work dir: dependency:copy needs no project.
if ! (cd "$WORK" && mvn -B -q -C -Dstyle.color=never dependency:copy \
        -Dartifact="$ARTIFACT" \
        -DoutputDirectory="$WORK/dl") >"$WORK/mvn.log" 2>&1; then
  tail -n 40 "$WORK/mvn.log" >&2 || true
  die "Maven could not fetch $ARTIFACT (see output above)"
fi
TARBALL="$WORK/dl/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
[[ -f "$TARBALL" ]] || die "expected $TARBALL was not downloaded"

log "extracting into $DEST"
mkdir -p "$WORK/x"
tar -xzf "$TARBALL" -C "$WORK/x" || die "could not extract $TARBALL"
[[ -f "$WORK/x/quarkus-run.jar" ]] || die "quarkus-run.jar missing from $TARBALL"

rm -rf "$DEST"
mv "$WORK/x" "$DEST"
touch "$DEST/.complete"
log "installed Apicurio Registry $APICURIO_VERSION ($(du -sh "$DEST" | cut -f1)) in $DEST"
