#!/usr/bin/env bash
# One-time KRaft storage format for the native broker under $STATE/kafka (idempotent).
# `kafka-storage format` has no --override, so it reads the shared server.properties
# plus this stack's log.dirs from a generated file.
set -euo pipefail
: "${STATE:?}" "${REPO:?}" "${CACHE:?}" "${KAFKA_VERSION:?}"
data="$STATE/kafka/data"
[[ -f "$data/meta.properties" ]] && exit 0
mkdir -p "$STATE/kafka"
{ cat "$REPO/infra/kafka/server.properties"; printf '\nlog.dirs=%s\n' "$data"; } >"$STATE/kafka/format.properties"
cluster_id=$(python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')
echo "kafka: formatting KRaft storage in $data (cluster $cluster_id)"
java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dfraud.kafka.log.level=WARN \
  -Dlog4j2.configurationFile="$REPO/infra/kafka/log4j2.yaml" -cp "$CACHE/kafka-$KAFKA_VERSION/libs/*" \
  kafka.tools.StorageTool format --config "$STATE/kafka/format.properties" --ignore-formatted \
  --cluster-id "$cluster_id"
