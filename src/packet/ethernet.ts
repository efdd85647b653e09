/** Ethernet II framing (IEEE 802.3 with an EtherType). */

/** Destination MAC 6 + source MAC 6 + EtherType 2. */
export const ETH_HEADER_LEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;

/** The EtherType at frame offset off (caller checked that 14 bytes exist). */
export function etherType(bytes: Uint8Array, off: number): number {
  return (bytes[off + 12]! << 8) | bytes[off + 13]!;
}

/** Swaps destination and source MAC in place (echo, reply). */
export function swapMacs(bytes: Uint8Array, off: number): void {
  for (let i = 0; i < 6; i++) {
    const t = bytes[off + i]!;
    bytes[off + i] = bytes[off + 6 + i]!;
    bytes[off + 6 + i] = t;
  }
}

/** Writes an Ethernet header at off. dst and src are 6-byte MACs. */
export function writeEthernet(bytes: Uint8Array, off: number, dst: Uint8Array, src: Uint8Array, type: number): void {
  bytes.set(dst.subarray(0, 6), off);
  bytes.set(src.subarray(0, 6), off + 6);
  bytes[off + 12] = type >>> 8;
  bytes[off + 13] = type & 0xff;
}

/** Parses "aa:bb:cc:dd:ee:ff" into 6 bytes; throws a TypeError on anything else (control path). */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new TypeError(`not a MAC address: '${text}'`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** Formats 6 bytes at off as "aa:bb:cc:dd:ee:ff". */
export function formatMac(bytes: Uint8Array, off = 0): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(bytes[off + i]!.toString(16).padStart(2, '0'));
  return out.join(':');
}
