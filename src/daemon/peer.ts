/**
 * One peer as the main thread keeps it: identity, handshake, keypairs,
 * endpoint, timers, staged packets, and the counters the UAPI reports.
 *
 * Threading: main thread only. The data path sees a peer as its slot number
 * and the keypairs/endpoint the device broadcasts to the workers.
 */
import type { X25519KeyPair } from '../crypto/x25519.js';
import { keyToBase64 } from '../crypto/encoding.js';
import { Handshake } from '../protocol/noise.js';
import { KeypairSet } from '../protocol/keypair.js';
import { STAGED_QUEUE_CAPACITY } from '../protocol/constants.js';
import type { Endpoint } from './device-config.js';

export class Peer {
  readonly handshake: Handshake<Peer>;
  readonly keypairs = new KeypairSet();
  /** Where to send: a 40-byte UDP address record (remote + sticky local source). */
  endpointAddr: Uint8Array | null = null;
  endpoint: Endpoint | undefined;
  persistentKeepalive = 0;
  /** Packets waiting for a session (whitepaper §6.5 / wireguard-go's staged queue); oldest dropped. */
  readonly staged: Uint8Array[] = [];
  stagedDropped = 0;
  /** Wall-clock ms of the last completed handshake (0 = never). */
  lastHandshakeWallMs = 0;
  /** Bytes sent/received by the main thread itself (handshakes, keepalives, staged sends). */
  controlTxBytes = 0;
  controlRxBytes = 0;

  // Timer state (whitepaper §6), driven by Device.tick().
  /** When the handshake in flight began retrying (0 = none in flight). */
  handshakeAttemptStart = 0;
  /** Next retransmission of the initiation (0 = none due). */
  retransmitAt = 0;
  /** Earliest time a new initiation may be sent (REKEY_TIMEOUT rate limit). */
  lastInitiationSent = 0;
  /** Send a keepalive at this time unless data goes out first (0 = none). */
  keepaliveAt = 0;
  /** Start a new handshake at this time unless something is received (0 = none). */
  newHandshakeAt = 0;
  /** Zero all keys at this time (3 × REJECT_AFTER_TIME after the last session, 0 = none). */
  zeroKeysAt = 0;
  /** Next persistent keepalive (0 = off). */
  persistentKeepaliveAt = 0;
  /** Last traffic stamps seen in the workers' counters (to turn them into timer events). */
  seenDataTx = 0;
  seenDataRx = 0;
  seenAuthRx = 0;
  seenAnyTx = 0;

  constructor(readonly slot: number, readonly publicKey: Uint8Array, local: X25519KeyPair, presharedKey?: Uint8Array) {
    this.handshake = new Handshake<Peer>(this, local, publicKey, presharedKey ?? null);
  }

  /** Short name for logs: the base64 public key's first characters, as wireguard-go prints it. */
  get name(): string {
    const b64 = keyToBase64(this.publicKey);
    return `peer(${b64.slice(0, 4)}…${b64.slice(-5, -1)})`;
  }

  /** Queues a packet for when the session exists; the oldest goes when full. */
  stage(packet: Uint8Array): void {
    if (this.staged.length >= STAGED_QUEUE_CAPACITY) {
      this.staged.shift();
      this.stagedDropped++;
    }
    this.staged.push(packet);
  }
}
