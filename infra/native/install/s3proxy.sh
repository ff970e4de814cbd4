#!/usr/bin/env bash
# s3proxy (Apache-2.0), the S3-compatible object store, from Maven Central via mvn
# (checksums verified). Cached in $CACHE/s3proxy-$S3PROXY_VERSION/s3proxy.jar.
set -euo pipefail
NAME=s3proxy
source "$(dirname "$0")/common.sh"
dest="$CACHE/s3proxy-$S3PROXY_VERSION"
[[ -f "$dest/.complete" ]] && exit 0
log "fetching s3proxy $S3PROXY_VERSION"
mkdir -p "$dest"
mvn_fetch "org.gaul:s3proxy:$S3PROXY_VERSION:jar:jar-with-dependencies" "$dest"
mv "$dest/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar" "$dest/s3proxy.jar"
touch "$dest/.complete"
