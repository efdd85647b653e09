/**
 * A deliberately naive allowed-IPs table with the same contract as
 * src/protocol/allowed-ips.ts, for comparison tests: a flat list of
 * (family, masked address, cidr, peer) scanned in full for every lookup.
 */
import type { IpFamily, IpPrefix } from '../../src/packet/ip-prefix.js';

interface Entry {
  family: IpFamily;
  address: Uint8Array;
  cidr: number;
  peer: unknown;
}

function masked(address: Uint8Array, cidr: number): Uint8Array {
  const out = Uint8Array.from(address);
  for (let bit = cidr; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

function sameBits(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let bit = 0; bit < bits; bit++) {
    const mask = 0x80 >> (bit & 7);
    if ((a[bit >> 3]! & mask) !== (b[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** The linear-scan reference table. */
export class NaiveAllowedIps<P> {
  private entries: Entry[] = [];

  get size(): number {
    return this.entries.length;
  }

  insert(family: IpFamily, address: Uint8Array, cidr: number, peer: P): void {
    const key = masked(address, cidr);
    const existing = this.entries.find((e) => e.family === family && e.cidr === cidr && sameBits(e.address, key, cidr));
    if (existing) existing.peer = peer;
    else this.entries.push({ family, address: key, cidr, peer });
  }

  remove(family: IpFamily, address: Uint8Array, cidr: number, onlyIfOwner?: P): boolean {
    const key = masked(address, cidr);
    const i = this.entries.findIndex((e) => e.family === family && e.cidr === cidr && sameBits(e.address, key, cidr));
    if (i < 0) return false;
    if (onlyIfOwner !== undefined && this.entries[i]!.peer !== onlyIfOwner) return false;
    this.entries.splice(i, 1);
    return true;
  }

  removeByPeer(peer: P): number {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.peer !== peer);
    return before - this.entries.length;
  }

  listByPeer(peer: P): IpPrefix[] {
    return this.entries.filter((e) => e.peer === peer).map((e) => ({ family: e.family, address: e.address, bits: e.cidr }));
  }

  lookup(family: IpFamily, bytes: Uint8Array, offset: number): P | undefined {
    const address = bytes.subarray(offset, offset + (family === 4 ? 4 : 16));
    let best: Entry | undefined;
    for (const e of this.entries) {
      if (e.family !== family || !sameBits(e.address, address, e.cidr)) continue;
      if (best === undefined || e.cidr > best.cidr) best = e;
    }
    return best?.peer as P | undefined;
  }
}
