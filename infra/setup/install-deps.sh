#!/usr/bin/env bash
# Installs what building, testing and the demo need, idempotently: Debian packages (kcat for the broker test,
# npm and openssl for fetching the embedded engine; docker-compose, libxml2-utils and curl for validating
# infra/deploy; chromium for the map's browser tests; prometheus and promtool for the metrics test; rsyslog with its OpenSSL driver as the SIEM tests' receiver; nftables and iproute2 for the policy renderer's
# nft check and its enforcement test in network namespaces; ulogd2 with its JSON output and conntrack for the kernel
# gateway test), the embedded ClickHouse engine itself, and infra/deploy/validate.sh's own tools.
set -euo pipefail

need=()
command -v kcat >/dev/null || need+=(kcat)
command -v npm >/dev/null || need+=(npm)
command -v openssl >/dev/null || need+=(openssl)
command -v flock >/dev/null || need+=(util-linux)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v curl >/dev/null || need+=(curl)
command -v chromium >/dev/null || need+=(chromium)
command -v rsyslogd >/dev/null || need+=(rsyslog)
compgen -G "/usr/lib/*/rsyslog/lmnsd_ossl.so" >/dev/null || need+=(rsyslog-openssl)
# In /usr/sbin, which a non-root PATH may leave out.
command -v nft >/dev/null || [[ -x /usr/sbin/nft ]] || need+=(nftables)
command -v ip >/dev/null || [[ -x /usr/sbin/ip ]] || need+=(iproute2)
[[ -x /usr/sbin/ulogd ]] || need+=(ulogd2)
[[ -e /usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_JSON.so ]] || need+=(ulogd2-json)
[[ -x /usr/sbin/conntrack ]] || need+=(conntrack)
# A time zone away from UTC for the console log test (its timestamps stay UTC whatever TZ says).
[[ -e /usr/share/zoneinfo/Asia/Kolkata ]] || need+=(tzdata)

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

# The metrics test starts its own Prometheus (and promtool) on loopback ports. Without recommends: they would bring
# node-exporter, which nothing here uses.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  echo "install-deps: installing prometheus" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

"$(dirname "$0")/../chdb/fetch-chdb.sh" >/dev/null
"$(dirname "$0")/../deploy/validate.sh" --install-only
