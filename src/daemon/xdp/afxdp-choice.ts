/**
 * Whether a device's peers get AF_XDP under "afxdp": "auto" (the datapath
 * setting; "on" takes AF_XDP wherever a device can, "off" nowhere).
 *
 * Not on a virtual device (a veth, and the other software devices sysfs
 * lists under /sys/devices/virtual): there AF_XDP is always copy mode, and
 * the kernel socket with UDP GSO and GRO is faster on every bulk figure. On a
 * veth the cost is twofold: each frame is copied into the UMEM one at a time,
 * and an XDP program on a veth makes the kernel drop segmentation offload on
 * its peer (veth_fix_features), so the sender's 64 KB GSO packets are cut
 * into MTU frames before they cross instead of crossing whole. Measured on
 * this 2-core machine (README "Datapath settings": bench/profile.ts with
 * "afxdp" auto-as-before and off alternating, two runs each): plain veth TCP 2,383–2,392 Mbit/s at 5.4 CPU-s/GB with
 * AF_XDP against 2,962–3,338 at 4.0–4.4 without; NIC-like veth 2,571–2,589 at
 * 5.0 against 2,876–3,008 at 4.5–4.7; UDP received flat out 64 B 86–131 kpps
 * against 130–161, 1420 B 105–116 against 112–139.
 *
 * A physical device keeps AF_XDP: zero-copy drivers deliver frames for
 * almost nothing, and copy mode on real NICs has not been measured here.
 * When sysfs cannot tell (no /sys/class/net entry for the device, as in a
 * namespace whose /sys is the host's), AF_XDP as before.
 */
import { realpathSync } from 'node:fs';
import type { AfxdpSetting } from '../config/datapath-config.js';

/** Why the device's peers take the kernel socket under this setting, or undefined when AF_XDP is for it. */
export function afxdpDeclined(setting: AfxdpSetting, ifname: string, sysfs = '/sys/class/net'): string | undefined {
  if (setting !== 'auto' || !isVirtualDevice(ifname, sysfs)) return undefined;
  return 'a virtual device: AF_XDP here is copy mode and its XDP program turns off the peer\'s segmentation offload, so the kernel socket with UDP GSO/GRO is faster ("afxdp": "on" uses AF_XDP anyway)';
}

/** sysfs places software devices (veth, bridge, dummy, …) under /sys/devices/virtual. */
export function isVirtualDevice(ifname: string, sysfs = '/sys/class/net'): boolean {
  try {
    return realpathSync(`${sysfs}/${ifname}`).includes('/devices/virtual/');
  } catch {
    return false;
  }
}
