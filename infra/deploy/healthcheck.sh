#!/usr/bin/env bash
# Exits 0 when `GET URL` answers 200, 1 otherwise: a container healthcheck that needs only bash (the .NET runtime
# image has no curl or wget). Usage: visibility-healthcheck http://127.0.0.1:5080/readyz
set -euo pipefail
url="${1:-}"
if [[ ! "$url" =~ ^http://([^/:]+):([0-9]+)(/.*)?$ ]]; then
  echo "visibility-healthcheck: expected http://HOST:PORT/PATH, got '${url}'" >&2
  exit 2
fi
host="${BASH_REMATCH[1]}"
port="${BASH_REMATCH[2]}"
path="${BASH_REMATCH[3]:-/}"
if ! exec 3<>"/dev/tcp/${host}/${port}"; then
  exit 1
fi
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$host" >&3
status=""
read -r -t "${VISIBILITY_HEALTHCHECK_TIMEOUT:-5}" status <&3 || true
exec 3<&-
if [[ "$status" =~ ^HTTP/1\.[01]\ 200([[:space:]]|$) ]]; then
  exit 0
fi
echo "visibility-healthcheck: ${url}: ${status%$'\r'}" >&2
exit 1
