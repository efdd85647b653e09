/**
 * The worker's copy of the allowed-IPs table (cryptokey routing, whitepaper
 * §2): destination address → peer for packets from the TUN, and the check
 * that a decrypted packet's source belongs to the peer that sent it.
 * Peers are named by their slot number; lookups allocate nothing.
 */
import { AllowedIps } from '../protocol/allowed-ips.js';
import { ALLOWED_IP_ENTRY_SIZE, AllowedIpsOp } from './worker-messages.js';

const NO_PEER = -1;
const BAD_PACKET = -2;

export class PeerRouter {
  private table = new AllowedIps<number>();

  /** Applies packed changes in order (worker-messages.ts AllowedIpsChanges). */
  apply(packed: Uint8Array): void {
    const t = this.table;
    for (let o = 0; o + ALLOWED_IP_ENTRY_SIZE <= packed.length; o += ALLOWED_IP_ENTRY_SIZE) {
      const op = packed[o]!;
      const slot = (packed[o + 4]! | (packed[o + 5]! << 8) | (packed[o + 6]! << 16) | (packed[o + 7]! << 24)) >>> 0;
      if (op === AllowedIpsOp.removeSlot) {
        t.removeByPeer(slot);
        continue;
      }
      const family = packed[o + 1] === 4 ? 4 : 6;
      const address = packed.subarray(o + 8, o + 8 + (family === 4 ? 4 : 16));
      if (op === AllowedIpsOp.insert) t.insert(family, address, packed[o + 2]!, slot);
      else if (op === AllowedIpsOp.remove) t.remove(family, address, packed[o + 2]!);
    }
  }

  /** Replaces the whole table by the packed changes (tests, tools). */
  replace(packed: Uint8Array): void {
    this.table = new AllowedIps<number>();
    this.apply(packed);
  }

  /** Slot of the peer for the packet's destination; -1 no peer, -2 not an IP packet. */
  lookupDestination(buf: Uint8Array, off: number, len: number): number {
    if (len < 1) return BAD_PACKET;
    const v = buf[off]! >> 4;
    if (v === 4 && len >= 20) return this.table.lookupV4(buf, off + 16) ?? NO_PEER;
    if (v === 6 && len >= 40) return this.table.lookupV6(buf, off + 24) ?? NO_PEER;
    return BAD_PACKET;
  }

  /** Slot of the peer that owns the packet's source address; -1 when none (or not IP). */
  lookupSource(buf: Uint8Array, off: number): number {
    const v = buf[off]! >> 4;
    if (v === 4) return this.table.lookupV4(buf, off + 12) ?? NO_PEER;
    if (v === 6) return this.table.lookupV6(buf, off + 8) ?? NO_PEER;
    return NO_PEER;
  }

  /**
   * The IP packet's own length when it is a well-formed IPv4/IPv6 header that
   * fits in the decrypted plaintext (padding follows it); -1 otherwise.
   */
  innerLength(buf: Uint8Array, off: number, plainLen: number): number {
    const v = buf[off]! >> 4;
    if (v === 4) {
      if (plainLen < 20) return -1;
      const ihl = (buf[off]! & 0x0f) * 4;
      const total = (buf[off + 2]! << 8) | buf[off + 3]!;
      return ihl >= 20 && total >= ihl && total <= plainLen ? total : -1;
    }
    if (v === 6) {
      if (plainLen < 40) return -1;
      const total = 40 + ((buf[off + 4]! << 8) | buf[off + 5]!);
      return total <= plainLen ? total : -1;
    }
    return -1;
  }
}
