#!/usr/bin/env bash
# Engines taken from Debian packages: PostgreSQL, Redis, Prometheus (+ promtool),
# Alertmanager (+ amtool) and the exporters Prometheus scrapes them through (postgres,
# redis, node).
# Installs only what is missing (apt needs root or sudo), then checks that the installed
# releases are the ones versions.env pins for compose: the same major line for
# PostgreSQL (Debian ships the newest minor), the exact release for Redis, Prometheus and
# Alertmanager and the exporters.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
pg_major=${POSTGRES_VERSION%%.*}
pg_bin=/usr/lib/postgresql/$pg_major/bin
pkgs=()
[[ -x $pg_bin/postgres ]] || pkgs+=("postgresql-$pg_major" "postgresql-client-$pg_major")
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v prometheus >/dev/null || pkgs+=(prometheus)
command -v prometheus-alertmanager >/dev/null || pkgs+=(prometheus-alertmanager)
command -v prometheus-postgres-exporter >/dev/null || pkgs+=(prometheus-postgres-exporter)
command -v prometheus-redis-exporter >/dev/null || pkgs+=(prometheus-redis-exporter)
command -v prometheus-node-exporter >/dev/null || pkgs+=(prometheus-node-exporter)
if ((${#pkgs[@]})); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "install: apt-get install ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

check() { # name wanted got
  if [[ "$2" != "$3" ]]; then
    echo "version mismatch: $1 is $3 here but versions.env pins $2 (compose uses that image)" >&2
    exit 1
  fi
}
check "PostgreSQL (major)" "$pg_major" "$("$pg_bin/postgres" --version | grep -oE '[0-9]+' | head -1)"
check "Redis" "$REDIS_VERSION" "$(redis-server --version | grep -oE 'v=[0-9.]+' | cut -d= -f2)"
check "Prometheus" "$PROMETHEUS_VERSION" "$(prometheus --version 2>&1 | grep -oE 'version [0-9.]+' | head -1 | cut -d' ' -f2)"
command -v promtool >/dev/null || { echo "promtool missing (package prometheus)" >&2; exit 1; }
check "Alertmanager" "$ALERTMANAGER_VERSION" "$(prometheus-alertmanager --version 2>&1 | grep -oE 'version [0-9.]+' | head -1 | cut -d' ' -f2)"
command -v amtool >/dev/null || { echo "amtool missing (package prometheus-alertmanager)" >&2; exit 1; }
# The packages' postinst start nothing here (no systemd; policy-rc.d in containers); the
# native stack runs the exporters itself (services.yaml).
check "postgres-exporter" "$POSTGRES_EXPORTER_VERSION" "$(prometheus-postgres-exporter --version 2>&1 | grep -oE 'version [0-9.]+' | head -1 | cut -d' ' -f2)"
check "redis-exporter" "$REDIS_EXPORTER_VERSION" "$(prometheus-redis-exporter --version 2>&1 | grep -oE 'Exporter [0-9.]+' | head -1 | cut -d' ' -f2)"
check "node-exporter" "$NODE_EXPORTER_VERSION" "$(prometheus-node-exporter --version 2>&1 | grep -oE 'version [0-9.]+' | head -1 | cut -d' ' -f2)"
