/**
 * Allowed IPs (whitepaper §2, "cryptokey routing"): a longest-prefix-match
 * table from IPv4 and IPv6 prefixes to peers. It answers two questions per
 * packet: which peer gets an outgoing packet (its destination), and whether a
 * decrypted packet's source belongs to the peer that sent it.
 *
 * Structure: one path-compressed binary trie per address family (as the
 * kernel's allowedips.c; this is our own code). Every node holds a prefix
 * (key bits + length); a node's children extend its prefix, the child taken
 * being the bit right after it. Nodes that only join two branches own no peer.
 * Nodes live in typed arrays (struct of arrays, indices instead of pointers),
 * so a lookup walks integers and allocates nothing. Each peer's nodes are also
 * threaded on a circular list, so listByPeer and removeByPeer cost the peer's
 * own prefix count, not the table's.
 *
 * Semantics as wg(8): inserting a prefix masks its host bits (10.0.0.7/24 is
 * stored as 10.0.0.0/24) and, if the prefix exists, moves it to the new peer.
 *
 * Threading: an instance belongs to one thread. Workers keep their own replica
 * (keyed by peer id) and apply the same insert/remove operations that the main
 * thread applies to its own; lookup is then a pure local read.
 */

import type { IpFamily, IpPrefix } from '../packet/ip-prefix.js';
import type { PackedPrefixes } from '../packet/packed-prefixes.js';

/** Thrown on the control path for a malformed prefix or address. */
export class AllowedIpsError extends Error {
  override readonly name = 'AllowedIpsError';
}

const NONE = -1;
const INITIAL_NODES = 64;

/** One family's trie. Keys are big-endian 32-bit words, bit 0 the most significant bit of word 0. */
class FamilyTrie {
  readonly words: number;
  readonly maxBits: number;
  root = NONE;
  size = 0;
  private capacity = 0;
  private freeHead = NONE;
  private used = 0;
  keys = new Uint32Array(0);
  cidr = new Uint8Array(0);
  child0 = new Int32Array(0);
  child1 = new Int32Array(0);
  parent = new Int32Array(0);
  owner = new Int32Array(0);
  listNext = new Int32Array(0);
  listPrev = new Int32Array(0);
  /** Per peer slot: the first node of its circular list, or NONE. */
  peerHead = new Int32Array(0);
  /** The address being inserted/looked up, as words (reused; no allocation per call). */
  readonly scratch: Uint32Array;

  constructor(family: IpFamily) {
    this.words = family === 4 ? 1 : 4;
    this.maxBits = family === 4 ? 32 : 128;
    this.scratch = new Uint32Array(this.words);
    this.grow(INITIAL_NODES);
  }

  /** Loads address bytes at `offset` into scratch. */
  load(bytes: Uint8Array, offset: number): void {
    const s = this.scratch;
    for (let w = 0; w < this.words; w++) {
      const o = offset + 4 * w;
      s[w] = ((bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!) >>> 0;
    }
  }

  /** Clears the host bits of scratch beyond `cidr`. */
  maskScratch(cidr: number): void {
    const s = this.scratch;
    for (let w = 0; w < this.words; w++) {
      const bits = cidr - 32 * w;
      if (bits >= 32) continue;
      s[w] = bits <= 0 ? 0 : (s[w]! & (0xffff_ffff << (32 - bits))) >>> 0;
    }
  }

  /** True when node n's prefix contains scratch. */
  contains(n: number): boolean {
    const c = this.cidr[n]!;
    const base = n * this.words;
    for (let w = 0; w < this.words; w++) {
      const bits = c - 32 * w;
      if (bits <= 0) return true;
      const mask = bits >= 32 ? -1 : 0xffff_ffff << (32 - bits);
      if (((this.scratch[w]! ^ this.keys[base + w]!) & mask) !== 0) return false;
    }
    return true;
  }

  /** Bit `i` of scratch (0 = most significant of the first word). */
  scratchBit(i: number): number {
    return (this.scratch[i >>> 5]! >>> (31 - (i & 31))) & 1;
  }

  /** Bit `i` of node n's key. */
  nodeBit(n: number, i: number): number {
    return (this.keys[n * this.words + (i >>> 5)]! >>> (31 - (i & 31))) & 1;
  }

  /** Length of the common leading bits of scratch and node n's key, at most `limit`. */
  commonBits(n: number, limit: number): number {
    const base = n * this.words;
    for (let w = 0; w < this.words; w++) {
      const x = (this.scratch[w]! ^ this.keys[base + w]!) >>> 0;
      if (x !== 0) return Math.min(limit, 32 * w + Math.clz32(x));
    }
    return limit;
  }

  /**
   * Longest-prefix match of the IPv4 address at bytes[offset..offset+4): the
   * owning peer slot, or NONE. The per-packet path: one 32-bit word in a
   * local, no allocation, no property reads inside the loop.
   */
  lookupV4(bytes: Uint8Array, offset: number): number {
    const address = (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    const { keys, cidr, owner, child0, child1 } = this;
    let best = NONE;
    let n = this.root;
    while (n !== NONE) {
      const c = cidr[n]!;
      // c = 0 matches everything (and a shift by 32 would be a shift by 0).
      if (c !== 0 && ((address ^ keys[n]!) & (-1 << (32 - c))) !== 0) break;
      const o = owner[n]!;
      if (o !== NONE) best = o;
      if (c === 32) break;
      n = ((address >>> (31 - c)) & 1) === 0 ? child0[n]! : child1[n]!;
    }
    return best;
  }

  /**
   * Longest-prefix match of the IPv6 address at bytes[offset..offset+16):
   * the owning peer slot, or NONE. Only the bits a node adds beyond its
   * matched parent are compared: a child's key always agrees with its
   * parent's on the parent's prefix.
   */
  lookupV6(bytes: Uint8Array, offset: number): number {
    this.load(bytes, offset);
    const { scratch, keys, cidr, owner, child0, child1 } = this;
    let best = NONE;
    let matched = 0;
    let n = this.root;
    while (n !== NONE) {
      const c = cidr[n]!;
      const base = n * 4;
      const last = (c - 1) >> 5;
      for (let w = matched >>> 5; w <= last; w++) {
        const bits = c - 32 * w;
        const mask = bits >= 32 ? -1 : -1 << (32 - bits);
        if (((scratch[w]! ^ keys[base + w]!) & mask) !== 0) return best;
      }
      const o = owner[n]!;
      if (o !== NONE) best = o;
      if (c === 128) break;
      matched = c;
      n = ((scratch[c >>> 5]! >>> (31 - (c & 31))) & 1) === 0 ? child0[n]! : child1[n]!;
    }
    return best;
  }

  /** The node holding exactly scratch/cidr (scratch already masked), or NONE. */
  findExact(cidr: number): number {
    let n = this.root;
    while (n !== NONE && this.cidr[n]! <= cidr && this.contains(n)) {
      if (this.cidr[n] === cidr) return n;
      n = this.scratchBit(this.cidr[n]!) === 0 ? this.child0[n]! : this.child1[n]!;
    }
    return NONE;
  }

  /**
   * Returns the node for scratch/cidr (scratch already masked), creating it
   * and any joining node it needs.
   */
  findOrCreate(cidr: number): number {
    let parent = NONE;
    let n = this.root;
    while (n !== NONE && this.cidr[n]! <= cidr && this.contains(n)) {
      if (this.cidr[n] === cidr) return n;
      parent = n;
      n = this.scratchBit(this.cidr[n]!) === 0 ? this.child0[n]! : this.child1[n]!;
    }
    const fresh = this.allocate(cidr);
    if (n === NONE) {
      this.attach(parent, fresh);
      return fresh;
    }
    // n does not contain the new prefix: either the new prefix contains n, or they fork.
    const common = this.commonBits(n, Math.min(cidr, this.cidr[n]!));
    if (common === cidr) {
      this.replaceChild(parent, n, fresh);
      this.setChild(fresh, this.nodeBit(n, cidr), n);
      return fresh;
    }
    const join = this.allocate(common); // a node without owner joining the two branches
    this.replaceChild(parent, n, join);
    this.setChild(join, this.nodeBit(n, common), n);
    this.setChild(join, this.nodeBit(fresh, common), fresh);
    return fresh;
  }

  /** After node `start` lost its owner: drops it and any ancestors that no longer join two branches. */
  prune(start: number): void {
    let n = start;
    while (n !== NONE && this.owner[n] === NONE) {
      const c0 = this.child0[n]!;
      const c1 = this.child1[n]!;
      if (c0 !== NONE && c1 !== NONE) return;
      const only = c0 !== NONE ? c0 : c1;
      const p = this.parent[n]!;
      this.replaceChild(p, n, only);
      this.release(n);
      if (only !== NONE) return; // p kept the same number of children
      n = p;
    }
  }

  /** Appends node n to peer slot's list. */
  linkOwner(n: number, slot: number): void {
    this.ensurePeerSlots(slot + 1);
    this.owner[n] = slot;
    const head = this.peerHead[slot]!;
    if (head === NONE) {
      this.peerHead[slot] = n;
      this.listNext[n] = n;
      this.listPrev[n] = n;
    } else {
      const tail = this.listPrev[head]!;
      this.listNext[tail] = n;
      this.listPrev[n] = tail;
      this.listNext[n] = head;
      this.listPrev[head] = n;
    }
    this.size++;
  }

  /** Removes node n from its owner's list and clears the owner. */
  unlinkOwner(n: number): void {
    const slot = this.owner[n]!;
    const next = this.listNext[n]!;
    if (next === n) {
      this.peerHead[slot] = NONE;
    } else {
      const prev = this.listPrev[n]!;
      this.listNext[prev] = next;
      this.listPrev[next] = prev;
      if (this.peerHead[slot] === n) this.peerHead[slot] = next;
    }
    this.owner[n] = NONE;
    this.size--;
  }

  headOf(slot: number): number {
    return slot < this.peerHead.length ? this.peerHead[slot]! : NONE;
  }

  /** The prefix held by node n, as a fresh object (control path). */
  prefixOf(n: number): IpPrefix {
    const address = new Uint8Array(this.words * 4);
    for (let w = 0; w < this.words; w++) {
      const k = this.keys[n * this.words + w]!;
      address[4 * w] = k >>> 24;
      address[4 * w + 1] = (k >>> 16) & 0xff;
      address[4 * w + 2] = (k >>> 8) & 0xff;
      address[4 * w + 3] = k & 0xff;
    }
    return { family: this.words === 1 ? 4 : 6, address, bits: this.cidr[n]! };
  }

  clear(): void {
    this.root = NONE;
    this.size = 0;
    this.used = 0;
    this.freeHead = NONE;
    this.peerHead.fill(NONE);
  }

  private allocate(cidr: number): number {
    let n: number;
    if (this.freeHead !== NONE) {
      n = this.freeHead;
      this.freeHead = this.child0[n]!;
    } else {
      if (this.used === this.capacity) this.grow(this.capacity * 2);
      n = this.used++;
    }
    this.copyKeyMasked(NONE, n, cidr);
    this.cidr[n] = cidr;
    this.child0[n] = NONE;
    this.child1[n] = NONE;
    this.parent[n] = NONE;
    this.owner[n] = NONE;
    return n;
  }

  /** Copies node `from`'s key (or scratch when from is NONE) into node `to`, masked to `cidr`. */
  private copyKeyMasked(from: number, to: number, cidr: number): void {
    for (let w = 0; w < this.words; w++) {
      const v = from === NONE ? this.scratch[w]! : this.keys[from * this.words + w]!;
      const bits = cidr - 32 * w;
      this.keys[to * this.words + w] = bits >= 32 ? v : bits <= 0 ? 0 : (v & (0xffff_ffff << (32 - bits))) >>> 0;
    }
    this.cidr[to] = cidr;
  }

  private release(n: number): void {
    this.child0[n] = this.freeHead;
    this.freeHead = n;
  }

  private attach(parent: number, child: number): void {
    if (parent === NONE) {
      this.root = child;
      this.parent[child] = NONE;
    } else {
      this.setChild(parent, this.nodeBit(child, this.cidr[parent]!), child);
    }
  }

  private setChild(parent: number, bit: number, child: number): void {
    if (bit === 0) this.child0[parent] = child;
    else this.child1[parent] = child;
    this.parent[child] = parent;
  }

  /** Puts `next` (may be NONE) where `old` hangs under `parent`. */
  private replaceChild(parent: number, old: number, next: number): void {
    if (parent === NONE) this.root = next;
    else if (this.child0[parent] === old) this.child0[parent] = next;
    else this.child1[parent] = next;
    if (next !== NONE) this.parent[next] = parent;
  }

  private grow(capacity: number): void {
    const keys = new Uint32Array(capacity * this.words);
    keys.set(this.keys);
    this.keys = keys;
    this.cidr = growArray(this.cidr, new Uint8Array(capacity));
    this.child0 = growArray(this.child0, new Int32Array(capacity));
    this.child1 = growArray(this.child1, new Int32Array(capacity));
    this.parent = growArray(this.parent, new Int32Array(capacity));
    this.owner = growArray(this.owner, new Int32Array(capacity));
    this.listNext = growArray(this.listNext, new Int32Array(capacity));
    this.listPrev = growArray(this.listPrev, new Int32Array(capacity));
    this.capacity = capacity;
  }

  private ensurePeerSlots(count: number): void {
    if (count <= this.peerHead.length) return;
    const heads = new Int32Array(Math.max(count, this.peerHead.length * 2, 16)).fill(NONE);
    heads.set(this.peerHead);
    this.peerHead = heads;
  }
}

function growArray<T extends Uint8Array | Int32Array>(old: T, fresh: T): T {
  fresh.set(old);
  return fresh;
}

/**
 * The allowed-IPs table of one device. `P` is the caller's peer handle (an
 * object on the main thread, a numeric peer id in a worker's replica); it is
 * compared by identity.
 */
export class AllowedIps<P> {
  private readonly v4 = new FamilyTrie(4);
  private readonly v6 = new FamilyTrie(6);
  private readonly slotOf = new Map<P, number>();
  private readonly peers: (P | undefined)[] = [];
  private readonly slotUse: number[] = [];
  private readonly freeSlots: number[] = [];

  /** Number of prefixes in the table. */
  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /**
   * Maps a prefix to `peer`, replacing any previous owner of exactly that
   * prefix. Host bits beyond `cidr` are ignored (masked), as wg(8) does.
   * Throws AllowedIpsError for a wrong address length or prefix length.
   */
  insert(family: IpFamily, address: Uint8Array, cidr: number, peer: P): void {
    const trie = this.trieFor(family, address, cidr);
    trie.load(address, 0);
    trie.maskScratch(cidr);
    const node = trie.findOrCreate(cidr);
    const current = trie.owner[node]!;
    if (current !== NONE) {
      if (this.peers[current] === peer) {
        // Same owner: move it to the end of the peer's list, so listings keep
        // wireguard-go's order (a re-inserted prefix is listed last).
        trie.unlinkOwner(node);
        trie.linkOwner(node, current);
        return;
      }
      trie.unlinkOwner(node);
      this.releaseSlot(current);
    }
    trie.linkOwner(node, this.acquireSlot(peer));
  }

  /**
   * Removes a prefix (host bits masked). With `onlyIfOwner` it is removed only
   * when that peer owns it, which is what UAPI's `allowed_ip=-prefix` means.
   * Returns whether a prefix was removed.
   */
  remove(family: IpFamily, address: Uint8Array, cidr: number, onlyIfOwner?: P): boolean {
    const trie = this.trieFor(family, address, cidr);
    trie.load(address, 0);
    trie.maskScratch(cidr);
    const node = trie.findExact(cidr);
    if (node === NONE) return false;
    const slot = trie.owner[node]!;
    if (slot === NONE) return false;
    if (onlyIfOwner !== undefined && this.peers[slot] !== onlyIfOwner) return false;
    trie.unlinkOwner(node);
    this.releaseSlot(slot);
    trie.prune(node);
    return true;
  }

  /** Removes every prefix of `peer`; returns how many. */
  removeByPeer(peer: P): number {
    const slot = this.slotOf.get(peer);
    if (slot === undefined) return 0;
    let removed = 0;
    for (const trie of [this.v4, this.v6]) {
      let n = trie.headOf(slot);
      while (n !== NONE) {
        trie.unlinkOwner(n);
        trie.prune(n);
        removed++;
        n = trie.headOf(slot);
      }
    }
    // unlinkOwner leaves the slot's use count alone: release the slot once, for good.
    this.slotUse[slot] = 1;
    this.releaseSlot(slot);
    return removed;
  }

  /** The prefixes of `peer`, IPv4 first, each family in insertion order. */
  listByPeer(peer: P): IpPrefix[] {
    const slot = this.slotOf.get(peer);
    const out: IpPrefix[] = [];
    if (slot === undefined) return out;
    for (const trie of [this.v4, this.v6]) {
      const head = trie.headOf(slot);
      if (head === NONE) continue;
      let n = head;
      do {
        out.push(trie.prefixOf(n));
        n = trie.listNext[n]!;
      } while (n !== head);
    }
    return out;
  }

  /**
   * Appends the prefixes of `peer` to `out`, in listByPeer's order, with no
   * object per prefix (a `get=1` of 1,000,000 peers copies them all at once).
   */
  packByPeer(peer: P, out: PackedPrefixes): void {
    const slot = this.slotOf.get(peer);
    if (slot === undefined) return;
    for (let f = 0; f < 2; f++) {
      const trie = f === 0 ? this.v4 : this.v6;
      const head = trie.headOf(slot);
      if (head === NONE) continue;
      const family = trie.words === 1 ? 4 : 6;
      let n = head;
      do {
        out.pushWords(family, trie.keys, n * trie.words, trie.cidr[n]!);
        n = trie.listNext[n]!;
      } while (n !== head);
    }
  }

  /**
   * Longest-prefix match of the IPv4 address in bytes[offset..offset+4).
   * Allocates nothing; never throws for in-bounds offsets.
   */
  lookupV4(bytes: Uint8Array, offset: number): P | undefined {
    const slot = this.v4.lookupV4(bytes, offset);
    return slot === NONE ? undefined : this.peers[slot];
  }

  /** Longest-prefix match of the IPv6 address in bytes[offset..offset+16). Allocates nothing. */
  lookupV6(bytes: Uint8Array, offset: number): P | undefined {
    const slot = this.v6.lookupV6(bytes, offset);
    return slot === NONE ? undefined : this.peers[slot];
  }

  /** lookupV4 or lookupV6 by family. */
  lookup(family: IpFamily, bytes: Uint8Array, offset: number): P | undefined {
    return family === 4 ? this.lookupV4(bytes, offset) : this.lookupV6(bytes, offset);
  }

  /** Removes everything. */
  clear(): void {
    this.v4.clear();
    this.v6.clear();
    this.slotOf.clear();
    this.peers.length = 0;
    this.slotUse.length = 0;
    this.freeSlots.length = 0;
  }

  private trieFor(family: IpFamily, address: Uint8Array, cidr: number): FamilyTrie {
    const trie = family === 4 ? this.v4 : family === 6 ? this.v6 : undefined;
    if (trie === undefined) throw new AllowedIpsError(`address family must be 4 or 6, got ${String(family)}`);
    if (address.length !== trie.words * 4) {
      throw new AllowedIpsError(`an IPv${family} address has ${trie.words * 4} bytes, got ${address.length}`);
    }
    if (!Number.isInteger(cidr) || cidr < 0 || cidr > trie.maxBits) {
      throw new AllowedIpsError(`IPv${family} prefix length must be 0..${trie.maxBits}, got ${cidr}`);
    }
    return trie;
  }

  private acquireSlot(peer: P): number {
    let slot = this.slotOf.get(peer);
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.peers.length;
      this.slotOf.set(peer, slot);
      this.peers[slot] = peer;
      this.slotUse[slot] = 0;
    }
    this.slotUse[slot]!++;
    return slot;
  }

  private releaseSlot(slot: number): void {
    if (--this.slotUse[slot]! > 0) return;
    this.slotOf.delete(this.peers[slot]!);
    this.peers[slot] = undefined;
    this.freeSlots.push(slot);
  }
}
