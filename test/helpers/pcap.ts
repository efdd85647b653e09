/**
 * A minimal reader for classic pcap files (what `tcpdump -w` writes) and the
 * WireGuard transport-data headers inside them: enough for tests to check
 * on-the-wire properties such as "no (receiver index, counter) pair repeats".
 *
 * pcap layout (libpcap's file format): a 24-byte global header whose magic
 * gives the byte order and timestamp resolution, then per packet a 16-byte
 * record header (ts_sec, ts_frac, incl_len, orig_len) and incl_len bytes.
 */
import { readFileSync } from 'node:fs';

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL = 113;

/** The captured bytes of each packet (possibly cut at the snap length) and the link type. */
export function readPcap(file: string): { linkType: number; packets: Buffer[] } {
  const buf = readFileSync(file);
  if (buf.length < 24) throw new Error(`${file}: ${buf.length} bytes, not a pcap file`);
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`${file}: magic 0x${magic.toString(16)} is not classic pcap (pcapng is not supported)`);
  const u32 = (off: number): number => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const linkType = u32(20) & 0x0fffffff;
  const packets: Buffer[] = [];
  let off = 24;
  // A capture stopped mid-write may end in a partial record: stop there.
  while (off + 16 <= buf.length) {
    const incl = u32(off + 8);
    if (off + 16 + incl > buf.length) break;
    packets.push(buf.subarray(off + 16, off + 16 + incl));
    off += 16 + incl;
  }
  return { linkType, packets };
}

/** A WireGuard transport-data message's header as seen on the wire (whitepaper §5.4.6). */
export interface WgDataHeader {
  src: string;
  dst: string;
  receiver: number;
  counter: bigint;
}

/** The UDP payload of an Ethernet (or Linux cooked) frame carrying IPv4/IPv6, or undefined. */
export function udpPayload(frame: Buffer, linkType: number): { src: string; dst: string; payload: Buffer } | undefined {
  let off: number;
  let etherType: number;
  if (linkType === LINKTYPE_ETHERNET) {
    if (frame.length < 14) return undefined;
    etherType = frame.readUInt16BE(12);
    off = 14;
  } else if (linkType === LINKTYPE_LINUX_SLL) {
    if (frame.length < 16) return undefined;
    etherType = frame.readUInt16BE(14);
    off = 16;
  } else throw new Error(`pcap link type ${linkType} is not handled`);
  if (etherType === 0x8100 && frame.length >= off + 4) {
    etherType = frame.readUInt16BE(off + 2);
    off += 4;
  }
  let src: string;
  let dst: string;
  if (etherType === 0x0800) {
    if (frame.length < off + 20) return undefined;
    const ihl = (frame[off]! & 0x0f) * 4;
    if (frame[off + 9] !== 17) return undefined;
    // Only first fragments carry the UDP header.
    if ((frame.readUInt16BE(off + 6) & 0x1fff) !== 0) return undefined;
    src = [...frame.subarray(off + 12, off + 16)].join('.');
    dst = [...frame.subarray(off + 16, off + 20)].join('.');
    off += ihl;
  } else if (etherType === 0x86dd) {
    if (frame.length < off + 40 || frame[off + 6] !== 17) return undefined;
    const hex = (b: Buffer): string => b.toString('hex').replace(/(.{4})(?!$)/g, '$1:');
    src = hex(frame.subarray(off + 8, off + 24));
    dst = hex(frame.subarray(off + 24, off + 40));
    off += 40;
  } else return undefined;
  if (frame.length < off + 8) return undefined;
  return { src: `${src}:${frame.readUInt16BE(off)}`, dst: `${dst}:${frame.readUInt16BE(off + 2)}`, payload: frame.subarray(off + 8) };
}

/** The WireGuard transport-data header (type 4, whitepaper §5.4.6) in one captured frame, if it carries one. */
function dataHeaderOf(frame: Buffer, linkType: number): WgDataHeader | undefined {
  const u = udpPayload(frame, linkType);
  if (!u || u.payload.length < 16 || u.payload[0] !== 4 || u.payload[1] !== 0 || u.payload[2] !== 0 || u.payload[3] !== 0) return undefined;
  return { src: u.src, dst: u.dst, receiver: u.payload.readUInt32LE(4), counter: u.payload.readBigUInt64LE(8) };
}

/** Every WireGuard transport-data header in a capture; `.fromFrame` reads one frame. */
export const wireguardDataHeaders = Object.assign(
  (file: string): WgDataHeader[] => {
    const { linkType, packets } = readPcap(file);
    const out: WgDataHeader[] = [];
    for (const frame of packets) {
      const h = dataHeaderOf(frame, linkType);
      if (h) out.push(h);
    }
    return out;
  },
  { fromFrame: dataHeaderOf },
);

/** The (receiver index, counter) pairs that occur more than once, with their counts. */
export function repeatedNonces(headers: WgDataHeader[]): Array<{ receiver: number; counter: bigint; times: number }> {
  const seen = new Map<string, number>();
  for (const h of headers) {
    const k = `${h.receiver}/${h.counter}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen]
    .filter(([, n]) => n > 1)
    .map(([k, times]) => {
      const [r, c] = k.split('/');
      return { receiver: Number(r), counter: BigInt(c!), times };
    });
}

/**
 * Reordering as seen at the capture point, per receiver index: how far
 * below the greatest counter seen so far a message arrived (at most), and
 * how many arrived more than `window` below it — messages any receiver
 * behind that point must refuse as too old (whitepaper §5.4.6), through no
 * fault of its own.
 */
export function reorderBeyond(headers: WgDataHeader[], window: number): { maxBehind: number; beyond: number } {
  const greatest = new Map<number, bigint>();
  let maxBehind = 0;
  let beyond = 0;
  for (const h of headers) {
    const g = greatest.get(h.receiver);
    if (g === undefined || h.counter > g) {
      greatest.set(h.receiver, h.counter);
      continue;
    }
    const behind = Number(g - h.counter);
    if (behind > maxBehind) maxBehind = behind;
    if (behind > window) beyond++;
  }
  return { maxBehind, beyond };
}
