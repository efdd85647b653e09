#!/bin/sh
# Runs before `npm test` and `npm run demo`: refuses clearly where xdpwg cannot
# run, and bootstraps when anything the build needs is missing or stale.
set -eu
cd "$(dirname "$0")/.."
if [ "$(uname -s)" != "Linux" ]; then
  echo "xdpwg: needs Linux (AF_XDP, TUN, netlink); this is $(uname -s)" >&2; exit 1
fi
if [ "$(id -u)" != "0" ]; then
  echo "xdpwg: the tests and the demo need root (network namespaces, TUN, AF_XDP); run them as root" >&2; exit 1
fi
stale=0
for f in build/Release/xdpwg.node native/bpf/xdpwg_filter.o native/bpf/tun_steering.o dist/src/cli/main.js; do [ -f "$f" ] || stale=1; done
command -v wireguard-go >/dev/null 2>&1 || stale=1
command -v wg >/dev/null 2>&1 || stale=1
command -v iperf3 >/dev/null 2>&1 || stale=1
command -v ethtool >/dev/null 2>&1 || stale=1
# Both firewall back-ends: the tests force each in turn (test/netns/up-full-tunnel.test.ts).
command -v nft >/dev/null 2>&1 || stale=1
command -v iptables-save >/dev/null 2>&1 || stale=1
command -v promtool >/dev/null 2>&1 || stale=1
command -v clang-format >/dev/null 2>&1 || stale=1
[ -d node_modules ] || stale=1
if [ "$stale" = 0 ]; then
  # Sources newer than their build products also mean a rebuild.
  # Sources only: the BPF objects are built after the addon, so they are always newer than it.
  [ -n "$(find native binding.gyp -newer build/Release/xdpwg.node -type f ! -name '*.o' 2>/dev/null | head -1)" ] && stale=1
  [ -n "$(find native/bpf -name '*.c' -newer native/bpf/xdpwg_filter.o 2>/dev/null | head -1)" ] && stale=1
  [ -n "$(find src test bench -name '*.ts' -newer dist/src/cli/main.js 2>/dev/null | head -1)" ] && stale=1
fi
[ "$stale" = 0 ] || scripts/bootstrap.sh
