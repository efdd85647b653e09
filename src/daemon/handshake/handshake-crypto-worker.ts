/**
 * A handshake crypto thread: answers batches of initiations with
 * respondToInitiation (src/protocol/noise-responder.ts) — message A read,
 * message B written, session keys split — and posts the results back. It
 * holds no handshake state of the device: only what the main thread told it
 * (identity; the shared peer table, peer-key-table.ts, which it only reads) and caches derived from that (its own
 * native key objects, each peer's DH(static, static)), plus its own replay
 * pre-check, which only saves work (the main thread decides).
 *
 * What it imports is what it runs: the native responder
 * (noise-responder-native.ts), not noise-responder.ts with its JavaScript
 * reference path, which a thread (it always loads the addon) never takes
 * and which cost each start ~14 ms of CPU. The main thread's inline
 * answerer is given the full respondToInitiation (handshake-crypto-pool.ts).
 *
 * Threading: this thread alone; its inputs arrive in order on one port.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { keyPairFromPrivate, sharedSecret, type X25519KeyPair } from '../../crypto/x25519.js';
import { keyToHex } from '../../crypto/encoding.js';
import { KEY_LENGTH, wipe } from '../../crypto/bytes.js';
import { PeerKeyTable } from './peer-key-table.js';
import { INITIATION_SIZE } from '../../protocol/wire.js';
import type { DropReason } from '../../packet/drop-reasons.js';
import { ReplayPrefilter } from '../../protocol/replay-prefilter.js';
import type { InitiatorDirectory, RespondedInitiation } from '../../protocol/noise-responder-native.js';
import { respondToInitiationNative } from '../../protocol/noise-responder-native.js';
import { AnswerRecord, type FromCrypto, type ToCrypto } from './handshake-crypto-messages.js';
import { native } from '../../native/binding.js';

/** How an initiation is answered (respondToInitiation's shape). */
export type RespondFunction = (
  msg: Uint8Array,
  local: X25519KeyPair,
  directory: InitiatorDirectory,
  ephemeral?: X25519KeyPair,
) => RespondedInitiation | DropReason;

/** The marker workerData carries so that importing this file elsewhere does nothing. */
export const HANDSHAKE_CRYPTO_KIND = 'xdpwg-handshake-crypto';

/** The answerer; also run inline on the main thread by a cold pool (handshake-crypto-pool.ts). */
export class HandshakeCryptoThread {
  private identity: X25519KeyPair | null = null;
  private generation = 0;
  /**
   * The peers: the pool's shared table (peer-key-table.ts), a view of the
   * buffer it posted (the inline answerer: the pool's own writer table);
   * null until told (every initiation is from an unknown peer). Nothing is
   * built per peer: a thread that starts maps the buffer and is ready.
   * Kept here per peer, keyed by hex, only for peers that handshook: DH(static,
   * static) and the replay pre-check; the pool's 'forget' drops them when a
   * peer goes.
   */
  private table: PeerKeyTable | null = null;
  private readonly staticStatics = new Map<string, Uint8Array | null>();
  private readonly replays = new ReplayPrefilter();

  /**
   * `respondTo`: respondToInitiation of noise-responder.ts (any key) or its
   * native-only form (a thread); tests substitute one that records what it
   * was given.
   */
  constructor(
    private readonly post: (m: FromCrypto, transfer?: ArrayBuffer[]) => void,
    private readonly respondTo: RespondFunction,
  ) {}

  handle(m: ToCrypto): void {
    switch (m.t) {
      case 'identity':
        if (this.identity) wipe(this.identity.privateKey);
        this.identity = m.privateKey ? keyPairFromPrivate(m.privateKey) : null;
        if (m.privateKey) wipe(m.privateKey);
        this.generation = m.generation;
        for (const ss of this.staticStatics.values()) if (ss) wipe(ss);
        this.staticStatics.clear();
        // A new thread is told its identity after its peers (handshake-crypto-pool.ts startThread): ready now.
        this.onIdentity?.();
        this.onIdentity = undefined;
        return;
      case 'table':
        this.table = new PeerKeyTable(m.buffer);
        // The pool wipes the buffer this one replaces once every thread said it switched.
        this.post({ t: 'table-switched', id: m.id });
        return;
      case 'forget':
        for (let i = 0; i < m.count; i++) this.forget(keyToHex(m.publicKeys.subarray(i * KEY_LENGTH, (i + 1) * KEY_LENGTH)));
        return;
      case 'batch': {
        const records = new Uint8Array(m.count * AnswerRecord.size);
        const view = new DataView(records.buffer);
        const reasons: Array<DropReason | null> = [];
        for (let i = 0; i < m.count; i++) {
          const r = this.respond(m.messages.subarray(i * INITIATION_SIZE, (i + 1) * INITIATION_SIZE));
          if (typeof r === 'string') {
            reasons.push(r);
            continue;
          }
          reasons.push(null);
          const at = i * AnswerRecord.size;
          view.setUint32(at + AnswerRecord.version, this.version, true);
          view.setUint32(at + AnswerRecord.remoteIndex, r.remoteIndex, true);
          records.set(r.remoteStatic, at + AnswerRecord.remoteStatic);
          records.set(r.timestamp, at + AnswerRecord.timestamp);
          records.set(r.response, at + AnswerRecord.response);
          records.set(r.sendKey, at + AnswerRecord.keys);
          records.set(r.receiveKey, at + AnswerRecord.keys + KEY_LENGTH);
          wipe(r.sendKey, r.receiveKey);
        }
        // Transferred: the only copy of the keys is the one the main thread gets.
        this.post({ t: 'results', seq: m.seq, generation: this.generation, reasons, records }, [records.buffer]);
        return;
      }
    }
  }

  /** Set on the first identity message (a thread: posts 'ready'). */
  onIdentity: (() => void) | undefined;

  /** The inline answerer reads the pool's own table (its writer object: it follows the pool's rebuilds). */
  useTable(table: PeerKeyTable): void {
    this.table = table;
  }

  /** Wipes and drops what is kept for a peer that went (its DH cache, its replay pre-check); hex: keyToHex of its key. */
  forget(hex: string): void {
    const ss = this.staticStatics.get(hex);
    if (ss) wipe(ss);
    this.staticStatics.delete(hex);
    this.replays.forget(hex);
  }

  /** Wipes every key kept (the pool closes). */
  wipeAll(): void {
    for (const ss of this.staticStatics.values()) if (ss) wipe(ss);
    this.staticStatics.clear();
    if (this.identity) wipe(this.identity.privateKey);
    this.identity = null;
    this.table = null;
  }

  /**
   * The PSK of the initiation being answered, read with its version from one
   * entry write (peer-key-table.ts): one scratch array per thread, not one
   * per handshake. The JavaScript path keeps the PSK in its state and wipes it
   * with the state; this copy is used only within respond() and wiped when
   * it returns (also when it throws).
   */
  private readonly psk = new Uint8Array(KEY_LENGTH);
  /** What the directory call of the current respond() found: the entry's version and the key's hex. */
  private version = 0;
  private hex = '';
  private local: X25519KeyPair | null = null;
  /** The directory respondToInitiation asks (one function for the thread, not a closure per handshake). */
  private readonly directory = (
    rs: Uint8Array,
  ): { presharedKey: Uint8Array; staticStatic: Uint8Array | null; notAfter?: Uint8Array } | null => {
    const local = this.local!;
    this.version = this.table?.lookup(rs, this.psk) ?? 0;
    if (this.version === 0) return null;
    const hex = (this.hex = keyToHex(rs));
    let staticStatic = this.staticStatics.get(hex);
    if (staticStatic === undefined) this.staticStatics.set(hex, (staticStatic = sharedSecret(local, rs)));
    return { presharedKey: this.psk, staticStatic, notAfter: this.replays.seen(hex) };
  };

  /** Answers one initiation; on success `this.version` is the version of the peer entry used. */
  private respond(msg: Uint8Array): RespondedInitiation | DropReason {
    const local = this.identity;
    if (!local) return 'unknown-peer';
    this.version = 0;
    this.hex = '';
    this.local = local;
    let r: RespondedInitiation | DropReason;
    try {
      r = this.respondTo(msg, local, this.directory);
    } finally {
      wipe(this.psk);
      this.local = null;
    }
    if (typeof r === 'string') return r;
    this.replays.answered(this.hex, r.timestamp);
    return r;
  }
}

/**
 * Keeps this thread's pool of ready ephemeral key pairs (native/noise_ikpsk2.cc)
 * full while the thread has nothing else to do, so a handshake that finds
 * one skips its key generation. Started by a batch (a thread that never
 * answered one makes none), one key pair per turn of the event loop (~30 µs),
 * so a batch that arrives meanwhile waits at most one key's time; it stops
 * once the pool is full and the next batch starts it again. Under a
 * sustained flood the pool stays near empty and each handshake makes its own
 * key pair, as without the pool. The pool and its protocol (each pair taken
 * once, its slot zeroed at once) are the addon's, per thread.
 * XDPWG_EPHEMERAL_POOL=0 in the daemon's environment leaves the pool empty
 * (for A/B measurements: bench/handshake-rate.ts).
 */
export class EphemeralRefiller {
  private running = false;
  constructor(private readonly refill: (max: number) => number) {}

  /** A batch was answered: refill from the next turn on, unless already at it. */
  kick(): void {
    if (this.running) return;
    this.running = true;
    setImmediate(() => this.step());
  }

  private step(): void {
    if (this.refill(1) > 0) setImmediate(() => this.step());
    else this.running = false;
  }
}

if (parentPort && (workerData as { kind?: string } | null)?.kind === HANDSHAKE_CRYPTO_KIND) {
  const port = parentPort;
  const thread = new HandshakeCryptoThread((m, transfer) => port.postMessage(m, transfer), respondToInitiationNative);
  const addon = native();
  const refiller = process.env.XDPWG_EPHEMERAL_POOL === '0' ? null : new EphemeralRefiller((max) => addon.noiseEphemeralRefill(max));
  // Ready once it knows its peers and identity (the pool sends them first): until then the pool
  // answers inline, rather than leave initiations waiting behind a big peer table.
  thread.onIdentity = () => port.postMessage({ t: 'ready' } satisfies FromCrypto);
  port.on('message', (m: ToCrypto) => {
    thread.handle(m);
    if (m.t === 'batch') refiller?.kick();
  });
}
