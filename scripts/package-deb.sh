#!/bin/sh
# npm run package: builds xdpwg_VERSION_ARCH.deb for Debian 12 from this tree.
#
#   /usr/bin/xdpwg                        runs the bundled Node with the app
#   /usr/lib/xdpwg/                       the compiled JavaScript, the addon, the BPF objects,
#                                         production node_modules, and node/bin/node (Node 20:
#                                         Debian 12's own nodejs is 18, older than the app needs)
#   /lib/systemd/system/xdpwg@.service    the unit (systemctl enable --now xdpwg@wg0)
#   /usr/share/man/man8/xdpwg.8.gz, man5/xdpwg.datapath.5.gz, bash completion, examples
#
# Depends: the Debian packages that hold the shared libraries the addon and
# Node link against (found with ldd and dpkg -S, so the list follows the
# build), plus iproute2. Output: $XDPWG_PACKAGE_DIR (default: the tree's root).
set -eu
cd "$(dirname "$0")/.."
scripts/ensure-ready.sh
version=$(node -p 'require("./package.json").version')
arch=$(dpkg --print-architecture)
outdir=${XDPWG_PACKAGE_DIR:-$PWD}
deb="$outdir/xdpwg_${version}_${arch}.deb"
node_bin=$(command -v node)
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "package: the build's node is $("$node_bin" --version); the package bundles it and needs >= 20" >&2; exit 1; }

stage=$(mktemp -d /tmp/xdpwg-package.XXXXXX)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
lib="$root/usr/lib/xdpwg"
mkdir -p "$lib/build/Release" "$lib/native/bpf" "$lib/dist" "$lib/bin" "$lib/node/bin" "$root/usr/bin" \
  "$root/lib/systemd/system" "$root/usr/share/man/man8" "$root/usr/share/man/man5" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/doc/xdpwg/examples" "$root/DEBIAN"

cp package.json package-lock.json "$lib/"
cp bin/xdpwg "$lib/bin/xdpwg"
cp -a dist/src "$lib/dist/src"
cp build/Release/xdpwg.node "$lib/build/Release/"
cp native/bpf/*.o "$lib/native/bpf/"
(cd "$lib" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
rm -f "$lib/package-lock.json"
find "$lib/dist" -name '*.map' -delete
cp "$node_bin" "$lib/node/bin/node"
# bin/xdpwg's #! line (env -S … node, with its memory options) finds the bundled node first on PATH.
cat > "$root/usr/bin/xdpwg" <<'SH'
#!/bin/sh
PATH=/usr/lib/xdpwg/node/bin:$PATH exec /usr/lib/xdpwg/bin/xdpwg "$@"
SH
chmod 755 "$root/usr/bin/xdpwg"

cp systemd/xdpwg@.service "$root/lib/systemd/system/"
gzip -9n < docs/man/xdpwg.8 > "$root/usr/share/man/man8/xdpwg.8.gz"
gzip -9n < docs/man/xdpwg.datapath.5 > "$root/usr/share/man/man5/xdpwg.datapath.5.gz"
cp contrib/completion/xdpwg.bash "$root/usr/share/bash-completion/completions/xdpwg"
cp conf/example.conf conf/example.datapath.jsonc "$root/usr/share/doc/xdpwg/examples/"
gzip -9n < README.md > "$root/usr/share/doc/xdpwg/README.md.gz"
cat > "$root/usr/share/doc/xdpwg/copyright" <<TXT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: xdpwg

Files: *
License: MIT
 See /usr/lib/xdpwg/node_modules/*/LICENSE for the bundled npm packages, and
 the Node.js license (MIT and others) for /usr/lib/xdpwg/node.
TXT

# Shared libraries → the packages that hold them (dpkg -S), one name each.
depends=$(for f in "$lib/build/Release/xdpwg.node" "$lib/node/bin/node"; do ldd "$f"; done \
  | awk '/=> \// { print $3 }' | sort -u | while read -r so; do
      real=$(readlink -f "$so")
      dpkg -S "$so" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "/usr$so" 2>/dev/null || echo "unknown: $so" >&2
    done | cut -d: -f1 | sort -u | tr '\n' ' ')
depends=$(echo "$depends iproute2" | tr ' ' '\n' | grep -v '^$' | sort -u | paste -sd, - | sed 's/,/, /g')
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CTL
Package: xdpwg
Version: $version
Architecture: $arch
Maintainer: xdpwg developers <root@localhost>
Installed-Size: $size
Depends: $depends
Recommends: wireguard-tools, nftables | iptables
Suggests: resolvconf
Section: net
Priority: optional
Description: userspace WireGuard daemon with an AF_XDP data path
 xdpwg implements WireGuard in user space with the command line and
 configuration protocol of wireguard-go, so wg and wg-quick drive it
 unchanged. Its outer UDP traffic runs over AF_XDP sockets steered by an
 XDP program of its own; xdpwg up does wg-quick's job for systemd.
CTL
cat > "$root/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  [ -d /etc/wireguard ] || install -d -m 0700 /etc/wireguard
  if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
fi
SH
cat > "$root/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
SH
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
mkdir -p "$outdir"
dpkg-deb --root-owner-group -Zgzip -z6 --build "$root" "$deb" >/dev/null
echo "$deb"
