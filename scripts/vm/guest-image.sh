#!/bin/sh
# Builds (or reuses) the test guests' kernel and initramfs from Debian's
# packages: the kernel of linux-image-cloud-amd64 (it carries virtio_net and
# the wireguard module), busybox-static, and scripts/vm/guest-init.sh. The
# guest's userspace is the host's root over virtiofs, so nothing else goes in.
#
# Cached in $XDPWG_VM_CACHE (default /var/tmp/xdpwg-vm) under a key made of
# every input: the kernel package's version, busybox's version, the init
# script and the module list. Unchanged inputs: reused, nothing downloaded.
# Prints the directory holding vmlinuz and initrd.gz.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${XDPWG_VM_CACHE:-/var/tmp/xdpwg-vm}
# Modules the guests load, in order (their dependencies come through modprobe).
MODULES="virtio_pci virtio_net virtiofs tun veth wireguard"

need=""
for p in qemu-system-x86 busybox-static kmod cpio; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  echo "guest-image: installing Debian packages:$need" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $need >/dev/null
fi
[ -x /usr/lib/qemu/virtiofsd ] || { echo "guest-image: /usr/lib/qemu/virtiofsd missing (qemu-system-x86 >= 7.2 ships it)" >&2; exit 1; }

# The kernel package the meta package names today, and its version.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -1)
[ -n "$kpkg" ] || { echo "guest-image: apt knows no linux-image-cloud-amd64 (run apt-get update?)" >&2; exit 1; }
kver=$(apt-cache policy "$kpkg" | sed -n 's/^ *Candidate: //p')
bbver=$(dpkg-query -W -f='${Version}' busybox-static)
key=$( { echo "$kpkg $kver $bbver $MODULES"; cat "$here/guest-init.sh"; } | sha256sum | cut -c1-16)
out="$cache/$key"
if [ -f "$out/initrd.gz" ] && [ -f "$out/vmlinuz" ]; then echo "$out"; exit 0; fi

echo "guest-image: building $out ($kpkg $kver, busybox $bbver)" >&2
work=$(mktemp -d "$cache.work.XXXXXX" 2>/dev/null || { mkdir -p "$cache"; mktemp -d "$cache/work.XXXXXX"; })
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "$kpkg=$kver" >/dev/null 2>&1) || { echo "guest-image: cannot download $kpkg $kver" >&2; exit 1; }
dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/k"
krel=${kpkg#linux-image-}
depmod -b "$work/k" "$krel"
kmods="$work/k/lib/modules/$krel"

root="$work/initrd"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/mnt" "$root/lib/modules/$krel"
cp /bin/busybox "$root/bin/busybox"
cp "$here/guest-init.sh" "$root/init"
chmod 755 "$root/init"
echo "$MODULES" | tr ' ' '\n' > "$root/modules.load"
# Each module with its dependencies, as modules.dep lists them.
for m in $MODULES; do
  line=$(grep -E "^kernel/([^:]*/)?$m\.ko(\.[a-z]+)?:" "$kmods/modules.dep") || { echo "guest-image: module $m not in $kpkg" >&2; exit 1; }
  for f in $(echo "$line" | tr -d ':'); do
    mkdir -p "$root/lib/modules/$krel/$(dirname "$f")"
    cp "$kmods/$f" "$root/lib/modules/$krel/$f"
  done
done
cp "$kmods"/modules.* "$root/lib/modules/$krel/"
mkdir -p "$out.part"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$out.part/initrd.gz"
cp "$work/k/boot/vmlinuz-$krel" "$out.part/vmlinuz"
echo "$kpkg $kver busybox $bbver" > "$out.part/inputs"
rm -rf "$out"
mv "$out.part" "$out"
echo "$out"
