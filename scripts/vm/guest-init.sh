#!/bin/busybox sh
# /init of the test guests (scripts/vm/guest-image.sh packs it with busybox
# and the kernel's modules). The guest's userspace is the host's own root,
# shared read-only over virtiofs (tag "hostroot"), so the guest runs exactly
# the node, xdpwg build, wg and iproute2 the host has; a second virtiofs
# share (tag "mailbox") carries commands in and results out
# (scripts/vm/guest-agent.sh). Kernel command line:
#   xdpwg.agent=PATH      the agent script, a path in the host's root
#   xdpwg.hostname=NAME   the guest's host name
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "xdpwg-guest: $*" > /dev/console; }
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | head -1; }

for m in $(cat /modules.load); do modprobe "$m" || say "modprobe $m failed"; done
if ! mount -t virtiofs hostroot /mnt -o ro; then say "FATAL: cannot mount the host root (virtiofs)"; poweroff -f; fi
R=/mnt
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p /dev/pts 2>/dev/null; mount -t devpts devpts $R/dev/pts 2>/dev/null
mount -t tmpfs -o mode=755 tmpfs $R/run
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp
mount -t bpf bpf $R/sys/fs/bpf 2>/dev/null
mkdir -p $R/run/vmbox
if ! mount -t virtiofs mailbox $R/run/vmbox; then say "FATAL: cannot mount the mailbox (virtiofs)"; poweroff -f; fi
hostname "$(arg xdpwg.hostname)"
ip link set lo up
agent=$(arg xdpwg.agent)
say "READY $(uname -r) agent=$agent"
chroot $R /bin/sh "$agent" /run/vmbox
say "agent ended: $?"
poweroff -f
