#!/bin/sh
# Idempotent set-up for a fresh machine: Debian packages for the build and the
# tests, npm packages, the native addon, the BPF program and the TypeScript.
set -eu
cd "$(dirname "$0")/.."

if [ "$(uname -s)" != "Linux" ]; then
  echo "xdpwg: needs Linux (AF_XDP, TUN, netlink); this is $(uname -s)" >&2; exit 1
fi
if [ "$(id -u)" != "0" ]; then
  echo "xdpwg: bootstrap must run as root (it installs Debian packages and the tests create network namespaces)" >&2; exit 1
fi

# prometheus: for /usr/bin/promtool (`promtool check metrics` in test/unit/prometheus-metrics.test.ts);
# --no-install-recommends keeps node-exporter out; the server itself is not started by the tests.
PKGS="libxdp-dev libbpf-dev libelf-dev zlib1g-dev libssl-dev libsodium-dev clang clang-format llvm xdp-tools
      wireguard-go wireguard-tools iperf3 iputils-ping ncat iptables nftables conntrack iproute2 tcpdump ethtool
      procps psmisc systemd python3 util-linux prometheus"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "bootstrap: installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt (unattended upgrades, a second shell) may hold dpkg's lock: wait for it rather than fail.
  apt="apt-get -o DPkg::Lock::Timeout=600"
  $apt update -qq
  # shellcheck disable=SC2086
  $apt install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund >/dev/null
fi
echo "bootstrap: building the native addon and the BPF filter"
npm run -s build:native
echo "bootstrap: compiling TypeScript"
npm run -s build:ts
echo "bootstrap: ready"
