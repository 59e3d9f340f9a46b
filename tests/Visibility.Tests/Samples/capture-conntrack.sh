#!/usr/bin/env bash
# How the conntrack-text/ and conntrack-xml/ samples were captured (as root; Debian packages conntrack, nftables,
# iproute2, socat, curl, iputils-ping). Three private network namespaces: vA (client) -- vGW (router, where
# conntrack runs) -- vB (server), with DNAT (10.99.3.10:80 -> 10.99.2.2:8080), masquerade (tcp/9090, udp/5353),
# a conntrack zone and mark (udp/5400), and net.netfilter.nf_conntrack_acct=1 so records carry counters.
# `conntrack -F` at the end destroys every entry, so DESTROY records carry final counters. The namespaces are
# deleted afterwards. The same traffic is also logged by ulogd2 (Debian ulogd2 + ulogd2-json, stack
# NFCT -> IP2STR -> JSON, NEW/UPDATE/DESTROY events) into ulogd2/nat-ipv6-icmp-udp.json.
# Usage: capture-conntrack.sh OUTDIR
set -uo pipefail
out=${1:?output directory}
mkdir -p "$out/conntrack-text" "$out/conntrack-xml" "$out/ulogd2"
G="ip netns exec vGW"; A="ip netns exec vA"; B="ip netns exec vB"

up() {
  set -e
  for n in vA vGW vB; do ip netns add $n; done
  ip link add a0 netns vA type veth peer name ga netns vGW
  ip link add b0 netns vB type veth peer name gb netns vGW
  ip -n vA addr add 10.99.1.2/24 dev a0; ip -n vA addr add fd99:1::2/64 dev a0 nodad
  ip -n vGW addr add 10.99.1.1/24 dev ga; ip -n vGW addr add fd99:1::1/64 dev ga nodad
  ip -n vGW addr add 10.99.2.1/24 dev gb; ip -n vGW addr add fd99:2::1/64 dev gb nodad
  ip -n vB addr add 10.99.2.2/24 dev b0; ip -n vB addr add fd99:2::2/64 dev b0 nodad
  for n in vA vGW vB; do ip -n $n link set lo up; done
  ip -n vA link set a0 up; ip -n vB link set b0 up; ip -n vGW link set ga up; ip -n vGW link set gb up
  ip -n vA route add default via 10.99.1.1; ip -n vA -6 route add default via fd99:1::1
  ip -n vB route add default via 10.99.2.1; ip -n vB -6 route add default via fd99:2::1
  $G sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.netfilter.nf_conntrack_acct=1
  $G nft -f - <<'NFT'
table inet lab {
  chain raw { type filter hook prerouting priority raw; udp dport 5400 ct zone set 7; udp sport 5400 ct zone set 7; }
  chain forward { type filter hook forward priority 0; policy drop; udp dport 5400 ct mark set 42; ct state new,established,related accept; }
  chain prerouting { type nat hook prerouting priority dstnat; ip daddr 10.99.3.10 tcp dport 80 dnat ip to 10.99.2.2:8080; }
  chain postrouting { type nat hook postrouting priority srcnat; oifname "gb" tcp dport 9090 masquerade; oifname "gb" udp dport 5353 masquerade; }
}
NFT
  set +e
}

down() { for n in vA vGW vB; do ip netns del $n 2>/dev/null; done; }

# $1: text output file, $2: XML output file, $3: 1 for kernel start/stop timestamps, $4: the traffic to run.
capture() {
  $G sysctl -qw net.netfilter.nf_conntrack_timestamp="$3"
  $G conntrack -F >/dev/null 2>&1
  local topts=timestamp,extended,id xopts=xml,timestamp
  if [[ $3 == 1 ]]; then topts=timestamp,extended,ktimestamp,id; xopts=xml,timestamp,ktimestamp; fi
  $G stdbuf -oL conntrack -E -o $topts >"$1" 2>&1 & local e1=$!
  $G stdbuf -oL conntrack -E -o $xopts >"$2" 2>&1 & local e2=$!
  sleep 0.5
  "$4"
  $G conntrack -F >/dev/null 2>&1
  sleep 1
  kill -INT $e1 $e2; wait $e1 $e2 2>/dev/null
}

servers() {
  $B python3 -m http.server 8080 --bind :: >/dev/null 2>&1 &
  $B socat TCP6-LISTEN:9090,fork,reuseaddr SYSTEM:cat >/dev/null 2>&1 &
  $B socat UDP6-RECVFROM:5300,fork,reuseaddr SYSTEM:cat >/dev/null 2>&1 &
  $B socat UDP4-RECVFROM:5353,fork,reuseaddr SYSTEM:cat >/dev/null 2>&1 &
  $B socat UDP4-RECVFROM:5400,fork,reuseaddr SYSTEM:cat >/dev/null 2>&1 &
  sleep 1
}

masqueraded_udp() { echo hello | $A socat -t0.5 - UDP4:10.99.2.2:5353 >/dev/null; sleep 0.5; }

full_traffic() {
  $A curl -s -o /dev/null http://10.99.2.2:8080/                      # TCP
  $A curl -s -o /dev/null http://10.99.3.10/                          # TCP through DNAT
  $A curl -s -o /dev/null 'http://[fd99:2::2]:8080/'                  # TCP over IPv6
  $A ping -c2 -i0.2 -W1 10.99.2.2 >/dev/null                          # ICMP echo
  $A ping -6 -c1 -W1 fd99:2::2 >/dev/null                             # ICMPv6 echo
  echo hello | $A socat -t0.5 - UDP6:[fd99:2::2]:5300 >/dev/null      # UDP over IPv6, answered
  echo nobody | $A socat -t0.2 - UDP4:10.99.2.2:5999 >/dev/null 2>&1  # UDP never answered
  $A curl -s -o /dev/null --max-time 1 http://10.99.2.2:9999/         # TCP refused
  # A TCP connection through masquerade, still open while the table is listed.
  (sleep 1.5; echo ping) | $A socat -t0.5 - TCP4:10.99.2.2:9090 >/dev/null & local long=$!
  sleep 0.7
  $G conntrack -L -o extended,id >"$out/conntrack-text/list.txt" 2>&1
  $G conntrack -L -o xml >"$out/conntrack-xml/list.xml" 2>&1
  wait $long
  masqueraded_udp
}

short_traffic() { $A curl -s -o /dev/null http://10.99.2.2:8080/; masqueraded_udp; }

zoned_traffic() { echo zoned | $A socat -t0.5 - UDP4:10.99.2.2:5400 >/dev/null; sleep 0.3; }

# $1: output file, $2: the traffic to run. ulogd2 runs in the router namespace, where the connections are tracked.
capture_ulogd2() {
  local conf
  conf=$(mktemp)
  cat >"$conf" <<CONF
[global]
logfile="/dev/null"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_inpflow_NFCT.so"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_filter_IP2STR.so"
plugin="/usr/lib/x86_64-linux-gnu/ulogd/ulogd_output_JSON.so"
stack=ct1:NFCT,ip2str1:IP2STR,json1:JSON

[ct1]
event_mask=0x00000007
hash_enable=0

[json1]
sync=1
file="$1"
CONF
  rm -f "$1"
  $G sysctl -qw net.netfilter.nf_conntrack_timestamp=0
  $G conntrack -F >/dev/null 2>&1
  $G ulogd -c "$conf" & local u=$!
  sleep 1
  "$2"
  $G conntrack -F >/dev/null 2>&1
  sleep 1
  kill -TERM $u; wait $u 2>/dev/null
  rm -f "$conf"
}

trap 'kill $(jobs -p) 2>/dev/null; down' EXIT
up
servers
capture "$out/conntrack-text/events.txt" "$out/conntrack-xml/events.xml" 0 full_traffic
capture "$out/conntrack-text/events-ktimestamp.txt" "$out/conntrack-xml/events-ktimestamp.xml" 1 short_traffic
capture "$out/conntrack-text/zone-mark.txt" "$out/conntrack-xml/zone-mark.xml" 0 zoned_traffic
capture_ulogd2 "$out/ulogd2/nat-ipv6-icmp-udp.json" full_traffic
