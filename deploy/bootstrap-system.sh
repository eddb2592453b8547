#!/usr/bin/env bash
# Installs the machine-level parts from Debian's packages when they are missing: Java 17 and Maven
# (the embedded Kafka broker), Prometheus and Alertmanager (metrics and alerting), tmux (the terminal
# view's test). Idempotent.
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v tmux >/dev/null || need+=(tmux)  # tests drive `engagement top` in a real terminal
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo -n"; else
    echo "missing ${need[*]} and not root: install them with apt-get, then retry" >&2; exit 1
  fi
fi
echo "installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
