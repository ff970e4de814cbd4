#!/usr/bin/env bash
# Engines taken from Debian packages: PostgreSQL 15, Redis 7.0, Prometheus 2.42 (+ promtool).
# Installs only what is missing (apt needs root or sudo). Idempotent.
set -euo pipefail
pkgs=()
[[ -x /usr/lib/postgresql/15/bin/postgres ]] || pkgs+=(postgresql-15 postgresql-client-15)
command -v redis-server >/dev/null || pkgs+=(redis-server)
command -v prometheus >/dev/null || pkgs+=(prometheus)
command -v promtool >/dev/null || pkgs+=(prometheus)
((${#pkgs[@]})) || exit 0
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "install: apt-get install ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
