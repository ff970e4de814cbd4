#!/usr/bin/env bash
# Install Trino (the SQL engine over the Delta Lake bronze/silver/gold tables) for the
# native stack.
#
# Fetches io.trino:trino-server:$TRINO_VERSION:tar.gz with Maven (checksums verified,
# ~820 MB on a cold cache) and extracts it into
#   ${FRAUD_CACHE_DIR:-$HOME/.cache/fraud-platform}/trino-$TRINO_VERSION/
# (bin/launcher, lib/, plugin/). Only the plugins the platform uses are kept (Delta Lake,
# Hive, the built-in test/utility connectors, PostgreSQL): every installed plugin is
# loaded at startup, so dropping the rest saves ~500 MB of disk and seconds of startup.
# The compose image keeps all plugins; only the catalogs in infra/trino/catalog are
# configured in either launcher. Idempotent: nothing to do when the .complete marker
# exists. Needs: mvn, tar. Running it needs Java 24+ (Trino 476): use the Temurin 25
# JDK under /usr/lib/jvm (JAVA21_HOME of the native stack).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
# shellcheck source=/dev/null
source "$REPO/versions.env"
: "${TRINO_VERSION:?TRINO_VERSION missing from versions.env}"
CACHE="${FRAUD_CACHE_DIR:-$HOME/.cache/fraud-platform}"
DEST="$CACHE/trino-$TRINO_VERSION"
ARTIFACT="io.trino:trino-server:$TRINO_VERSION:tar.gz"
# Plugins kept; everything else under plugin/ is removed after extraction.
KEEP_PLUGINS=(delta-lake hive memory blackhole tpch tpcds jmx postgresql
  exchange-filesystem spooling-filesystem password-authenticators
  resource-group-managers session-property-managers)

log() { echo "[install-trino] $*"; }
die() { echo "[install-trino] ERROR: $*" >&2; exit 1; }

if [[ -f "$DEST/.complete" ]]; then
  log "Trino $TRINO_VERSION already installed in $DEST"
  exit 0
fi

command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven)"
command -v tar >/dev/null 2>&1 || die "tar not found"

mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/.trino-$TRINO_VERSION.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

log "fetching $ARTIFACT with Maven (~820 MB on a cold cache)"
# Run from the empty work dir: dependency:copy needs no project.
if ! (cd "$WORK" && mvn -B -q -C -Dstyle.color=never dependency:copy \
        -Dartifact="$ARTIFACT" \
        -DoutputDirectory="$WORK/dl") >"$WORK/mvn.log" 2>&1; then
  tail -n 40 "$WORK/mvn.log" >&2 || true
  die "Maven could not fetch $ARTIFACT (see output above)"
fi
TARBALL="$WORK/dl/trino-server-$TRINO_VERSION.tar.gz"
[[ -f "$TARBALL" ]] || die "expected $TARBALL was not downloaded"

log "extracting into $DEST"
mkdir -p "$WORK/x"
# The tarball hard-links jars shared between lib/ and the plugins: extract everything,
# then delete unwanted plugin directories (a shared jar stays while one link remains).
tar -xzf "$TARBALL" -C "$WORK/x" --strip-components=1 || die "could not extract $TARBALL"
rm -f "$TARBALL"
[[ -x "$WORK/x/bin/launcher" ]] || die "bin/launcher missing from $TARBALL"
for keep in "${KEEP_PLUGINS[@]}"; do
  [[ -d "$WORK/x/plugin/$keep" ]] || die "plugin $keep missing from $TARBALL"
done
for dir in "$WORK/x/plugin"/*/; do
  name="$(basename "$dir")"
  [[ " ${KEEP_PLUGINS[*]} " == *" $name "* ]] || rm -rf "$dir"
done
# Launcher binaries of other platforms.
rm -rf "$WORK/x/bin/darwin-"* "$WORK/x/bin/linux-ppc64le"

rm -rf "$DEST"
mv "$WORK/x" "$DEST"
touch "$DEST/.complete"
log "installed Trino $TRINO_VERSION ($(du -sh "$DEST" | cut -f1)) in $DEST"
