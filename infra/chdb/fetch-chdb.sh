#!/usr/bin/env bash
# Fetches the embedded ClickHouse engine (libchdb.so) into a cache outside the repository, once.
# The library ships inside an npm package; npm verifies the registry's integrity hash, and this
# script checks the tarball and the extracted library against pinned hashes before it is used.
# Prints the library's path. Idempotent and safe to run concurrently.
set -euo pipefail

version="26.7.3-stable.1"
package="@chdb/lib-linux-x64-gnu@${version}"
tarball_sha512="XP97mMqnc5tZpKQywR8N7cLTsHNiTmHr30pC5mzo3jWmukjKn2IBa60c2B/gWUNcuFjOMjWoorQICCqBVj5wpw=="
library_sha256="36ad4e999882821ef13cf2d0f52c93f48e6ee1b4498b35a201c23ce4b8d15bf5"

cache="${VISIBILITY_CACHE:-${HOME}/.cache/visibility}"
dir="${cache}/chdb/${version}"
lib="${dir}/libchdb.so"
marker="${dir}/libchdb.so.verified"

if [[ -f "$lib" && -f "$marker" && "$(cat "$marker")" == "$library_sha256" ]]; then
  echo "$lib"
  exit 0
fi

mkdir -p "$dir"
exec 9>"${dir}/.fetch.lock"
flock 9
# Another process may have finished the fetch while this one waited for the lock.
if [[ -f "$lib" && -f "$marker" && "$(cat "$marker")" == "$library_sha256" ]]; then
  echo "$lib"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch-chdb: npm is required to fetch ${package}" >&2; exit 1; }
work="$(mktemp -d "${dir}/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetch-chdb: downloading ${package} (about 178 MB) into ${dir}" >&2
(cd "$work" && npm pack --silent "$package" >/dev/null)
tgz="$(ls "$work"/*.tgz)"
actual_sha512="$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [[ "$actual_sha512" != "$tarball_sha512" ]]; then
  echo "fetch-chdb: tarball hash mismatch for ${package}: got ${actual_sha512}" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$work" package/libchdb.so
actual_sha256="$(sha256sum "$work/package/libchdb.so" | cut -d' ' -f1)"
if [[ "$actual_sha256" != "$library_sha256" ]]; then
  echo "fetch-chdb: libchdb.so hash mismatch: got ${actual_sha256}" >&2
  exit 1
fi
mv -f "$work/package/libchdb.so" "$lib"
echo "$library_sha256" > "$marker"
echo "fetch-chdb: verified ${lib}" >&2
echo "$lib"
