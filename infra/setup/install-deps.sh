#!/usr/bin/env bash
# Installs what building, testing and the demo need, idempotently: Debian packages (kcat for the broker test,
# npm and openssl for fetching the embedded engine) and the embedded ClickHouse engine itself.
set -euo pipefail

need=()
command -v kcat >/dev/null || need+=(kcat)
command -v npm >/dev/null || need+=(npm)
command -v openssl >/dev/null || need+=(openssl)
command -v flock >/dev/null || need+=(util-linux)

if ((${#need[@]} > 0)); then
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${need[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "install-deps: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

"$(dirname "$0")/../chdb/fetch-chdb.sh" >/dev/null
