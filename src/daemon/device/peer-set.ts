/**
 * The device's peers: the set keyed by public key, the slot each one has in
 * the workers' tables (with a generation, so a late worker report about an
 * earlier occupant of a slot is told apart), the allowed-IPs table, and the
 * endpoints. What changes here is told to the workers (peer, peer-remove,
 * allowed-ips messages) and to the AF_XDP paths (endpoints).
 *
 * Peers' handshake and keypair state is the handshake path's
 * (src/daemon/handshake/handshake-path.ts): a peer is added here first and removed
 * here last.
 *
 * Threading: main thread only.
 */
import type { X25519KeyPair } from '../../crypto/x25519.js';
import { isAllZero } from '../../crypto/bytes.js';
import { AllowedIps } from '../../protocol/allowed-ips.js';
import type { IpPrefix } from '../../packet/ip-prefix.js';
import type { PackedPrefixes } from '../../packet/packed-prefixes.js';
import type { PeerTimers } from '../../protocol/timers.js';
import { endpointFromAddr } from '../../datapath/addr-record.js';
import { AllowedIpsOp } from '../../datapath/worker-messages.js';
import { Errno, UapiError, peerKey, type AllowedIPChange } from '../config/device-config.js';
import type { DataPlaneLink } from './data-plane-link.js';
import { Peer } from './peer.js';

/** How many peers a device holds, as the kernel module (the workers' tables grow to it as peers come). */
export const MAX_PEERS = 1 << 20;

export class PeerSet {
  private readonly byKey = new Map<string, Peer>();
  private readonly bySlot: Array<Peer | undefined> = [];
  private readonly freeSlots: number[] = [];
  /**
   * Slots of removed peers whose allowed-IPs removals the workers have not
   * been told yet: a worker could still route a packet for the old peer's
   * addresses to the slot, so a new peer must not get it before then (its
   * packets would be staged for, then sealed to, the wrong peer). They
   * become free when the changes are published.
   */
  private readonly releasedSlots: number[] = [];
  /** Per slot: the generation of the last peer given it (Peer.generation). */
  private readonly slotGenerations: number[] = [];
  private readonly allowed = new AllowedIps<Peer>();
  /** The allowed IPs changed since the workers were last told. */
  private allowedDirty = false;

  constructor(
    private readonly link: DataPlaneLink,
    private readonly maxPeers = MAX_PEERS,
  ) {}

  /** Number of peers. */
  get size(): number {
    return this.byKey.size;
  }

  values(): IterableIterator<Peer> {
    return this.byKey.values();
  }

  /** The peer with this public key. */
  get(publicKey: Uint8Array): Peer | undefined {
    return this.byKey.get(peerKey(publicKey));
  }

  /** The peer whose public key is `key` (peerKey's lowercase hex). */
  getByKey(key: string): Peer | undefined {
    return this.byKey.get(key);
  }

  /** The peer in a slot now, if any. */
  atSlot(slot: number): Peer | undefined {
    return this.bySlot[slot];
  }

  /** The peer a worker's report is about: the slot's peer, if it is still the one the worker meant. */
  peerOf(slot: number, generation: number): Peer | undefined {
    const peer = this.bySlot[slot];
    return peer && peer.generation === generation ? peer : undefined;
  }

  /**
   * Adds a peer in a free slot and tells the workers. `local` is the device's
   * static key pair (the handshake needs it); `timers` makes the peer's timers when first needed
   * (pass one function for all peers: the peer keeps it).
   * Throws UapiError for an all-zero or low-order key, or when the table is full.
   */
  add(publicKey: Uint8Array, local: X25519KeyPair, timers: (peer: Peer) => PeerTimers): Peer {
    if (isAllZero(publicKey)) throw new UapiError(Errno.EINVAL, 'a peer public key of all zeros is not valid');
    // The free slot is taken only once the key is accepted: a rejected key must not lose it.
    const slot = this.freeSlots.at(-1) ?? this.bySlot.length;
    if (slot >= this.maxPeers) throw new UapiError(Errno.ENOANO, `too many peers (limit ${this.maxPeers})`);
    const generation = (this.slotGenerations[slot] ?? 0) + 1;
    const peer = new Peer(slot, generation, publicKey.slice(), peerKey(publicKey), local, timers);
    // Any clamped private key is a multiple of 8, so DH with it is zero exactly
    // for the small-order points: the check holds before our own key is set.
    if (!peer.handshake.hasValidStaticStatic) {
      peer.handshake.clear();
      throw new UapiError(Errno.EINVAL, 'the peer public key is of low order: no handshake is possible with it');
    }
    if (slot === this.freeSlots.at(-1)) this.freeSlots.pop();
    this.link.ensurePeerCapacity(slot + 1);
    this.link.clearPeerSlot(slot);
    this.slotGenerations[slot] = generation;
    this.bySlot[slot] = peer;
    this.byKey.set(peer.key, peer);
    this.link.peer(slot, generation, null);
    return peer;
  }

  /** Removes a peer (its handshake state already cleared), its allowed IPs and endpoint, and tells the workers. */
  remove(peer: Peer): void {
    this.removeAllAllowedIps(peer);
    this.byKey.delete(peer.key);
    this.bySlot[peer.slot] = undefined;
    this.releasedSlots.push(peer.slot);
    this.allowedDirty = true;
    this.link.xdp?.setEndpoint(peer.slot, null);
    this.link.removePeer(peer.slot);
  }

  /** Where to send to the peer: a 40-byte UDP address record (src/datapath/addr-record.ts). */
  setEndpoint(peer: Peer, addr: Uint8Array): void {
    // Every authenticated packet confirms the endpoint; only a change is news to
    // the workers and the AF_XDP route (three netlink look-ups): a handshake
    // from an unmoved peer cost ~180 µs of main thread here before.
    if (peer.endpointAddr && Buffer.compare(peer.endpointAddr, addr) === 0) return;
    // A copy: addr may be a view into a burst of handshake messages (device.ts 'handshakes'), which
    // the peer must not keep alive, nor the workers' message below clone whole.
    addr = addr.slice();
    peer.endpointAddr = addr;
    peer.endpoint = endpointFromAddr(addr);
    this.link.peer(peer.slot, peer.generation, addr);
    this.link.xdp?.setEndpoint(peer.slot, addr);
  }

  /**
   * A UAPI peer block's allowed-IPs changes, in order: first all of the
   * peer's prefixes go when `replace`, then each change is applied.
   */
  changeAllowedIps(peer: Peer, replace: boolean, changes: readonly AllowedIPChange[]): void {
    if (replace) this.removeAllAllowedIps(peer);
    const log = this.link.allowedChanges;
    for (const c of changes) {
      const { family, address, bits } = c.prefix;
      if (c.remove) {
        if (this.allowed.remove(family, address, bits, peer)) log.push(AllowedIpsOp.remove, peer.slot, address, bits);
      } else {
        this.allowed.insert(family, address, bits, peer);
        log.push(AllowedIpsOp.insert, peer.slot, address, bits);
      }
      this.allowedDirty = true;
    }
  }

  private removeAllAllowedIps(peer: Peer): void {
    if (this.allowed.removeByPeer(peer) === 0) return;
    this.link.allowedChanges.push(AllowedIpsOp.removeSlot, peer.slot);
    this.allowedDirty = true;
  }

  /** The peer's prefixes, host bits cleared, in wireguard-go's order. */
  allowedIpsOf(peer: Peer): IpPrefix[] {
    return this.allowed.listByPeer(peer);
  }

  /** Appends the peer's prefixes to `out` (allowedIpsOf's, with no object each). */
  packAllowedIps(peer: Peer, out: PackedPrefixes): void {
    this.allowed.packByPeer(peer, out);
  }

  /**
   * Tells the workers what changed (held peer changes, then the allowed-IPs
   * changes), and frees the slots of removed peers once the removal of
   * their routes is on its way (releasedSlots).
   */
  publishAllowedIpsIfChanged(): void {
    if (!this.allowedDirty) return;
    this.allowedDirty = false;
    this.link.flush();
    for (const slot of this.releasedSlots) this.freeSlots.push(slot);
    this.releasedSlots.length = 0;
  }
}
