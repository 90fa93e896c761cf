#!/usr/bin/env bash
# `make bench` needs wrk (B3's load) and redis-server (each benchmark starts a Redis of its own).
set -euo pipefail

sudo_maybe() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian"
  sudo_maybe apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_maybe apt-get install -y -qq "${missing[@]}" >/dev/null
fi
