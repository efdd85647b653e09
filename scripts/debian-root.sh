#!/bin/sh
# A clean Debian 12 root (debootstrap --variant=minbase bookworm), made once
# and cached: for the tests that install what we ship into a system that has
# nothing else (test/netns/package-install.test.ts). Prints its path; callers
# copy it before changing anything.
#
# $XDPWG_DEBIAN_ROOT_CACHE (default /var/tmp/xdpwg-debian-root), mirror from
# $XDPWG_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -eu
cache=${XDPWG_DEBIAN_ROOT_CACHE:-/var/tmp/xdpwg-debian-root}
mirror=${XDPWG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
root="$cache/bookworm-minbase"
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "debian-root: installing debootstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap >/dev/null
fi
if [ ! -f "$root/.complete" ]; then
  mkdir -p "$cache"
  echo "debian-root: debootstrap --variant=minbase bookworm into $root" >&2
  rm -rf "$root.tmp"
  debootstrap --variant=minbase bookworm "$root.tmp" "$mirror" > "$cache/debootstrap.log" 2>&1 \
    || { echo "debian-root: debootstrap failed; see $cache/debootstrap.log" >&2; exit 1; }
  # The Debian security and updates suites, as a standard install has them.
  cat > "$root.tmp/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
  rm -rf "$root.tmp/var/cache/apt/archives/"*.deb
  touch "$root.tmp/.complete"
  rm -rf "$root"
  mv "$root.tmp" "$root"
fi
echo "$root"
