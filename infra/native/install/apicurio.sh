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

NAME=apicurio
source "$(dirname "$0")/common.sh"
DEST="$CACHE/apicurio-$APICURIO_VERSION"
ARTIFACT="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all"

if [[ -f "$DEST/.complete" ]]; then
  log "Apicurio Registry $APICURIO_VERSION already installed in $DEST"
  exit 0
fi
need mvn tar
work_dir
log "fetching $ARTIFACT with Maven (~160 MB on a cold cache)"
mvn_fetch "$ARTIFACT" "$WORK/dl"
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
