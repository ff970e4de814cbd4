#!/usr/bin/env bash
# Install the Apache Kafka jars (broker + CLI tools) for the native stack.
#
# Resolves infra/kafka/pom.xml with Maven (checksums verified) into
#   ${FRAUD_CACHE_DIR:-$HOME/.cache/fraud-platform}/kafka-$KAFKA_VERSION/libs/*.jar
# and marks the directory complete, and the JMX exporter java agent (below). Idempotent:
# does nothing when the markers exist.
# Needs: mvn, java 17+.
set -euo pipefail

NAME=kafka
source "$(dirname "$0")/common.sh"
DEST="$CACHE/kafka-$KAFKA_VERSION"

# The Prometheus JMX exporter java agent (the broker's metrics on :9404, services.yaml):
#   $CACHE/jmx-exporter-$JMX_EXPORTER_VERSION/jmx_prometheus_javaagent.jar
JMX_DEST="$CACHE/jmx-exporter-$JMX_EXPORTER_VERSION"
if [[ ! -f "$JMX_DEST/.complete" ]]; then
  need mvn
  log "fetching io.prometheus.jmx:jmx_prometheus_javaagent:$JMX_EXPORTER_VERSION into $JMX_DEST"
  jmx_tmp=$(mktemp -d "$CACHE/.jmx-exporter.XXXXXX")
  mvn_fetch "io.prometheus.jmx:jmx_prometheus_javaagent:$JMX_EXPORTER_VERSION:jar" "$jmx_tmp"
  mv "$jmx_tmp/jmx_prometheus_javaagent-$JMX_EXPORTER_VERSION.jar" "$jmx_tmp/jmx_prometheus_javaagent.jar"
  rm -rf "$JMX_DEST"
  mv "$jmx_tmp" "$JMX_DEST"
  touch "$JMX_DEST/.complete"
fi

if [[ -f "$DEST/.complete" ]]; then
  log "Kafka $KAFKA_VERSION already installed in $DEST"
  exit 0
fi
need mvn java
work_dir

log "resolving Kafka $KAFKA_VERSION jars with Maven into $DEST/libs"
# Work on a copy of the pom so Maven never writes into the repository.
cp "$repo/infra/kafka/pom.xml" "$WORK/pom.xml"
if ! mvn -B -q -C -Dstyle.color=never -f "$WORK/pom.xml" \
      -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies \
      -DincludeScope=runtime \
      -DoutputDirectory="$WORK/libs" >"$WORK/mvn.log" 2>&1; then
  tail -n 40 "$WORK/mvn.log" >&2 || true
  die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see output above)"
fi

for jar in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-tools-$KAFKA_VERSION.jar" "kafka-clients-$KAFKA_VERSION.jar"; do
  [[ -f "$WORK/libs/$jar" ]] || die "expected $jar was not resolved"
done

rm -rf "$DEST"
mkdir -p "$DEST"
mv "$WORK/libs" "$DEST/libs"
touch "$DEST/.complete"
log "installed $(find "$DEST/libs" -name '*.jar' | wc -l) jars ($(du -sh "$DEST/libs" | cut -f1)) in $DEST/libs"
