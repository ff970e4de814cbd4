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

NAME=trino
source "$(dirname "$0")/common.sh"
DEST="$CACHE/trino-$TRINO_VERSION"
ARTIFACT="io.trino:trino-server:$TRINO_VERSION:tar.gz"
# Plugins kept; everything else under plugin/ is removed after extraction.
KEEP_PLUGINS=(delta-lake hive memory blackhole tpch tpcds jmx postgresql
  exchange-filesystem spooling-filesystem password-authenticators
  resource-group-managers session-property-managers)

if [[ -f "$DEST/.complete" ]]; then
  log "Trino $TRINO_VERSION already installed in $DEST"
  exit 0
fi
need mvn tar
work_dir
log "fetching $ARTIFACT with Maven (~820 MB on a cold cache)"
mvn_fetch "$ARTIFACT" "$WORK/dl"
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
