/**
 * The UDP address record's layout: the one TypeScript place that names its
 * byte offsets (every other file uses these names). The addon has its own
 * (native/udp_addr_record.h) and exports it as `addrRecordLayout`; binding.ts
 * checks the two agree when it loads the addon, so a TS tree and an addon
 * built from different layouts fail at start with a clear error instead of
 * sending to garbled addresses.
 *
 * One record per packet travels beside each UDP port burst: 0..15 remote IP
 * (IPv4 stored v4-mapped, ::ffff:a.b.c.d), 16..17 remote port big-endian,
 * 18 family (4 or 6), 19 reserved (0), 20..35 local IP (rx: where the packet
 * arrived; tx: the source to send from, all-zero = the kernel's choice),
 * 36..39 local ifindex (u32 LE; rx: arrival interface; tx: link-local IPv6).
 */

/** Bytes per address record. */
export const UDP_ADDR_RECORD_SIZE = 40;

/** Byte offsets inside one address record. */
export const UdpAddrRecord = {
  /** 16 bytes: the remote IP (IPv4 as ::ffff:a.b.c.d). */
  remoteIp: 0,
  /** The two 0xff bytes that mark a v4-mapped remote address. */
  remoteV4Mapped: 10,
  /** The four bytes of an IPv4 remote address. */
  remoteIpv4: 12,
  /** u16 BE: the remote port. */
  remotePort: 16,
  /** 4 or 6. */
  family: 18,
  /** Reserved, written 0. */
  reserved: 19,
  /** 16 bytes: the local IP the packet reached / is sent from (zeros: any). */
  localIp: 20,
  /** The four bytes of an IPv4 local address. */
  localIpv4: 32,
  /** u32 LE: the interface the packet arrived on. */
  ifindex: 36,
  /** Bytes of either IP field. */
  ipBytes: 16,
} as const;

/** What the addon exports as addrRecordLayout (native/udp_addr_record.h). */
export interface NativeAddrRecordLayout {
  size: number;
  remoteIp: number;
  remotePort: number;
  family: number;
  localIp: number;
  ifindex: number;
}

/**
 * Throws when the addon's layout differs from this module's, naming each
 * field that differs and what to rebuild.
 */
export function checkAddrRecordLayout(nativeLayout: unknown, addonFile = 'the native addon'): void {
  const ours: NativeAddrRecordLayout = {
    size: UDP_ADDR_RECORD_SIZE,
    remoteIp: UdpAddrRecord.remoteIp,
    remotePort: UdpAddrRecord.remotePort,
    family: UdpAddrRecord.family,
    localIp: UdpAddrRecord.localIp,
    ifindex: UdpAddrRecord.ifindex,
  };
  const theirs = (typeof nativeLayout === 'object' && nativeLayout !== null ? nativeLayout : {}) as Record<string, unknown>;
  const differ = (Object.keys(ours) as (keyof NativeAddrRecordLayout)[])
    .filter((k) => theirs[k] !== ours[k])
    .map((k) => `${k}: ${String(theirs[k])} in the addon, ${ours[k]} in src/native/addr-record-layout.ts`);
  if (differ.length > 0) {
    throw new Error(
      `${addonFile} and the TypeScript disagree on the UDP address record layout (${differ.join('; ')}); ` +
        `they were built from different trees: run 'npm run build'`,
    );
  }
}
