#!/usr/bin/env bash
# Exits 0 when `GET URL` answers 200, 1 otherwise: a container healthcheck that needs only bash (the .NET runtime
# image has no curl or wget).
#   visibility-healthcheck URL [URL-WITHOUT-KEY]
# With VISIBILITY_API_KEY set and not empty, the request carries `Authorization: Bearer <key>` (serve's /readyz needs a
# key of any role, its /metrics an admin key); the key is never printed. With the variable unset or empty,
# URL-WITHOUT-KEY is probed instead when it is given (serve's /healthz, which needs none), so one probe works with or
# without a key:
#   visibility-healthcheck http://127.0.0.1:5080/readyz http://127.0.0.1:5080/healthz
set -euo pipefail

usage() {
  echo "visibility-healthcheck: $1 (usage: visibility-healthcheck http://HOST:PORT/PATH [URL-WITHOUT-KEY])" >&2
  exit 2
}

pattern='^http://([^/:]+):([0-9]+)(/.*)?$'
(($# >= 1 && $# <= 2)) || usage "expected one or two URLs, got $#"
for candidate in "$@"; do
  [[ "$candidate" =~ $pattern ]] || usage "expected http://HOST:PORT/PATH, got '${candidate}'"
done

# Secrets mounted from files or piped into `kubectl create secret` often end in a newline: drop trailing whitespace.
key="${VISIBILITY_API_KEY:-}"
key="${key%"${key##*[![:space:]]}"}"
url="$1"
authorization=""
if [[ -n "$key" ]]; then
  # A control character would end the header early and smuggle in another; refuse without echoing the key.
  if [[ "$key" =~ [[:cntrl:]] ]]; then
    usage "VISIBILITY_API_KEY contains a control character"
  fi
  authorization="Authorization: Bearer ${key}"$'\r\n'
elif (($# == 2)); then
  url="$2"
fi

[[ "$url" =~ $pattern ]]
host="${BASH_REMATCH[1]}"
port="${BASH_REMATCH[2]}"
path="${BASH_REMATCH[3]:-/}"
if ! exec 3<>"/dev/tcp/${host}/${port}"; then
  exit 1
fi
# printf is a builtin: the key goes to the socket only, never into a process's arguments.
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n%sConnection: close\r\n\r\n' "$path" "$host" "$authorization" >&3
status=""
read -r -t "${VISIBILITY_HEALTHCHECK_TIMEOUT:-5}" status <&3 || true
exec 3<&-
if [[ "$status" =~ ^HTTP/1\.[01]\ 200([[:space:]]|$) ]]; then
  exit 0
fi
echo "visibility-healthcheck: ${url}${authorization:+ (with VISIBILITY_API_KEY)}: ${status%$'\r'}" >&2
exit 1
