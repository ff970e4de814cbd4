#!/usr/bin/env bash
# Shared by the installers: versions, cache location and a checksum-verifying Maven fetch.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
set -a
# shellcheck disable=SC1091
source "$repo/versions.env"
set +a
CACHE=${FRAUD_CACHE_DIR:-$HOME/.cache/fraud-platform}
export CACHE
mkdir -p "$CACHE"

# mvn_fetch GROUP:ARTIFACT:VERSION:TYPE[:CLASSIFIER] DEST_DIR — one artifact, no transitive
# dependencies, checksum verified against the repository's (-C: strict checksums).
mvn_fetch() {
  mvn -B -q -C -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="$1" -DoutputDirectory="$2" -Dmdep.overWriteReleases=true
}
