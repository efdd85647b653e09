/**
 * One peer as the main thread keeps it: identity, handshake, keypairs,
 * endpoint, timers, staged packets, and the counters the UAPI reports.
 *
 * Threading: main thread only. The data path sees a peer as its slot number
 * and the keypairs/endpoint the device broadcasts to the workers.
 */
import type { X25519KeyPair } from '../../crypto/x25519.js';
import { keyToBase64 } from '../../crypto/encoding.js';
import { Handshake } from '../../protocol/noise.js';
import { KeypairSet } from '../../protocol/keypair.js';
import { StagedQueue } from '../../protocol/staged-queue.js';
import type { PeerTimers } from '../../protocol/timers.js';
import type { Endpoint } from '../../packet/endpoint.js';

export class Peer {
  readonly handshake: Handshake<Peer>;
  readonly keypairs = new KeypairSet();
  /** Where to send: a 40-byte UDP address record (remote + sticky local source). */
  endpointAddr: Uint8Array | null = null;
  endpoint: Endpoint | undefined;
  persistentKeepalive = 0;
  /** Packets waiting for a session (128, oldest dropped), flushed when one starts. */
  readonly staged = new StagedQueue<Uint8Array>();
  /** Wall-clock ms of the last completed handshake (0 = never). */
  lastHandshakeWallMs = 0;
  /** Bytes sent/received by the main thread itself (handshakes, keepalives, staged sends). */
  controlTxBytes = 0;
  controlRxBytes = 0;
  /** The timers once made (see timers). */
  private madeTimers: PeerTimers | undefined;
  /** Last traffic stamps read from the workers' counters, to turn them into timer events. */
  seenDataTx = 0;
  seenDataRx = 0;
  seenAuthRx = 0;
  seenAnyTx = 0;

  /**
   * @param slot the peer's index in the workers' tables
   * @param generation how many peers the slot has held, this one included: reports from the
   *   workers carry it, so one about an earlier peer of the slot is told apart (worker-messages.ts)
   * @param key the public key as peerKey spells it (hex): the peer set's and the handshake crypto's
   *   maps key by this one string (80 bytes each, not one copy per map)
   */
  constructor(
    readonly slot: number,
    readonly generation: number,
    readonly publicKey: Uint8Array,
    readonly key: string,
    local: X25519KeyPair,
    private readonly makeTimers: (peer: Peer) => PeerTimers,
    presharedKey?: Uint8Array,
  ) {
    this.handshake = new Handshake<Peer>(this, local, publicKey, presharedKey ?? null);
  }

  /**
   * The whitepaper's §6 timers; the device feeds them events and acts on
   * what they ask. Made at the first use: a configured peer that never
   * handshakes holds none (makeTimers is one function for all peers).
   */
  get timers(): PeerTimers {
    return (this.madeTimers ??= this.makeTimers(this));
  }

  /** The timers if they were made (removing a peer that never had any makes none). */
  get timersIfAny(): PeerTimers | undefined {
    return this.madeTimers;
  }

  /** Short name for logs: the base64 public key's first characters, as wireguard-go prints it. */
  get name(): string {
    const b64 = keyToBase64(this.publicKey);
    return `peer(${b64.slice(0, 4)}…${b64.slice(-5, -1)})`;
  }
}
