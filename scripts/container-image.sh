#!/bin/sh
# Builds the xdpwg image where no container registry is reachable: the same
# layout as the Containerfile's final stage (Debian bookworm, Node 20, the
# addon, the BPF filter, production node_modules, `xdpwg` as entrypoint, no
# compiler), assembled from a debootstrap root instead of registry images,
# and imported into podman.
#
#   scripts/container-image.sh [TAG]        (default localhost/xdpwg:test)
#
# The runtime packages: the addon's libraries, wg(8) for PostUp hooks, and
# what `xdpwg up` runs for a full tunnel (AllowedIPs 0.0.0.0/0): ip(8) for the
# fwmark rules, nft(8) (iptables-restore as the alternative) for the
# firewall rules, sysctl(8) for scripts' hooks.
# The Debian root (bookworm minbase + the runtime packages) is cached in
# $XDPWG_CONTAINER_CACHE (default /var/tmp/xdpwg-container) and made once.
# Node 20 is the host's node binary (Debian bookworm's own nodejs is 18); the
# Containerfile takes it from the official node:20-bookworm-slim image instead.
set -eu
cd "$(dirname "$0")/.."
TAG="${1:-localhost/xdpwg:test}"
CACHE="${XDPWG_CONTAINER_CACHE:-/var/tmp/xdpwg-container}"
MIRROR="${XDPWG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
RUNTIME_PKGS="libxdp1,libbpf1,libelf1,zlib1g,libssl3,libsodium23,wireguard-tools,iproute2,nftables,iptables,procps"

for tool in debootstrap podman; do
  command -v "$tool" >/dev/null 2>&1 || { echo "container-image: needs $tool (apt-get install podman runc debootstrap)" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || { echo "container-image: the host's node is $(node --version); the image wants Node 20" >&2; exit 1; }
scripts/ensure-ready.sh

mkdir -p "$CACHE"
# The root's name carries its package list, so a changed list makes a new one.
ROOT="$CACHE/rootfs-bookworm-$(printf %s "$RUNTIME_PKGS" | sha256sum | cut -c1-12)"
if [ ! -f "$ROOT/.complete" ]; then
  echo "container-image: debootstrap bookworm (minbase + $RUNTIME_PKGS) into $ROOT"
  rm -rf "$ROOT.tmp"
  debootstrap --variant=minbase --include="$RUNTIME_PKGS" bookworm "$ROOT.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { echo "container-image: debootstrap failed; see $CACHE/debootstrap.log" >&2; exit 1; }
  rm -rf "$ROOT.tmp/var/cache/apt/archives/"*.deb "$ROOT.tmp/var/lib/apt/lists/"*
  touch "$ROOT.tmp/.complete"
  rm -rf "$ROOT"
  mv "$ROOT.tmp" "$ROOT"
fi

STAGE="$CACHE/stage"
rm -rf "$STAGE"
cp -a "$ROOT" "$STAGE"
rm -f "$STAGE/.complete"
APP="$STAGE/opt/xdpwg"
mkdir -p "$APP/build/Release" "$APP/native/bpf" "$APP/dist"
cp package.json package-lock.json "$APP/"
cp -a bin "$APP/bin"
cp -a dist/src "$APP/dist/src"
cp build/Release/xdpwg.node "$APP/build/Release/"
# Both BPF objects: the XDP filter and the TUN's flow-hash queue steering
# (without it outbound flows all take one TUN queue, libbpf says why).
cp native/bpf/xdpwg_filter.o native/bpf/tun_steering.o "$APP/native/bpf/"
# Production dependencies only, as `npm prune --omit=dev` leaves them in the Containerfile.
(cd "$APP" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
rm -f "$APP/package-lock.json"
cp "$(command -v node)" "$STAGE/usr/local/bin/node"
ln -sf /opt/xdpwg/bin/xdpwg "$STAGE/usr/local/bin/xdpwg"
for tool in ip nft iptables-restore ip6tables-restore sysctl wg; do
  chroot "$STAGE" sh -c "command -v $tool" >/dev/null || { echo "container-image: $tool is missing from the image" >&2; exit 1; }
done
for c in gcc cc clang g++; do
  [ ! -e "$STAGE/usr/bin/$c" ] || { echo "container-image: a compiler ($c) got into the image" >&2; exit 1; }
done

echo "container-image: importing $TAG"
tar -C "$STAGE" -c . | podman import --quiet --change 'ENTRYPOINT ["/usr/local/bin/xdpwg"]' --change 'CMD ["--help"]' - "$TAG" >/dev/null
rm -rf "$STAGE"
podman image inspect --format '{{.Id}} {{.Size}}' "$TAG"
