/**
 * A handshake crypto thread: answers batches of initiations with
 * respondToInitiation (src/protocol/noise-responder.ts) — message A read,
 * message B written, session keys split — and posts the results back. It
 * holds no handshake state of the device: only what the main thread told it
 * (identity, peers with their PSKs) and caches derived from that (its own
 * native key objects, each peer's DH(static, static)), plus its own replay
 * pre-check, which only saves work (the main thread decides).
 *
 * Threading: this thread alone; its inputs arrive in order on one port.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { keyPairFromPrivate, sharedSecret, type X25519KeyPair } from '../../crypto/x25519.js';
import { keyToHex } from '../../crypto/encoding.js';
import { KEY_LENGTH, isAllZero, wipe } from '../../crypto/bytes.js';
import { INITIATION_SIZE } from '../../protocol/wire.js';
import type { DropReason } from '../../packet/drop-reasons.js';
import { ReplayPrefilter, respondToInitiation, type RespondedInitiation } from '../../protocol/noise-responder.js';
import { AnswerRecord, type FromCrypto, type ToCrypto } from './handshake-crypto-messages.js';
import { native } from '../../native/binding.js';

/** True when the 32 bytes at `at` are all zero (no copy made: a table of 200,000 peers is scanned). */
function zeroAt(bytes: Uint8Array, at: number): boolean {
  let acc = 0;
  for (let i = at; i < at + KEY_LENGTH; i++) acc |= bytes[i]!;
  return acc === 0;
}

/** The PSK of every peer without one (all zeros; never written but by wipe). */
export const NO_PSK = new Uint8Array(KEY_LENGTH);

/** The marker workerData carries so that importing this file elsewhere does nothing. */
export const HANDSHAKE_CRYPTO_KIND = 'xdpwg-handshake-crypto';

/** The answerer; also run inline on the main thread by a cold pool (handshake-crypto-pool.ts). */
export class HandshakeCryptoThread {
  private identity: X25519KeyPair | null = null;
  private generation = 0;
  /**
   * What this answerer knows of the peers: per hex key a row of a flat
   * table (the key's 32 bytes in `keys`, the entry's version in `versions`;
   * 0: a free row, zeroed); its PSK only when it has one; DH(static,
   * static) only once it handshook (undefined: not computed, null: zero).
   * Side tables, not an object per peer: on the main thread (the inline
   * answerer, whose tables the pool keeps as its own record) a configured
   * peer costs one map entry and 36 bytes. The flat table is what a new
   * thread is sent, copied whole (peerTable): keys turned back from hex one
   * by one cost the main thread 1.3 s at 200,000 peers, on every start of
   * the threads, and the handshakes waiting meanwhile put the device under
   * load (cookie replies instead of answers).
   */
  private readonly rows = new Map<string, number>();
  private keys = new Uint8Array(64 * KEY_LENGTH);
  private versions = new Uint32Array(64);
  private rowsUsed = 0;
  private readonly freeRows: number[] = [];
  private readonly psks = new Map<string, Uint8Array>();
  private readonly staticStatics = new Map<string, Uint8Array | null>();
  private readonly replays = new ReplayPrefilter();

  /** `respond`: respondToInitiation (tests substitute one that records what it was given). */
  constructor(
    private readonly post: (m: FromCrypto, transfer?: ArrayBuffer[]) => void,
    private readonly respondTo: typeof respondToInitiation = respondToInitiation,
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
      case 'peer':
        this.setPeer(keyToHex(m.publicKey), m.publicKey, isAllZero(m.presharedKey) ? null : m.presharedKey, m.version);
        return;
      case 'peers': {
        const keys = m.publicKeys,
          psks = m.presharedKeys;
        for (let i = 0; i < m.count; i++) {
          const at = i * KEY_LENGTH;
          const version = m.versions[i]!;
          // A free row of a table copy (peerTable): nothing to do.
          if (version === 0 && zeroAt(keys, at)) continue;
          const publicKey = keys.subarray(at, at + KEY_LENGTH);
          if (version === 0) this.removePeer(keyToHex(publicKey));
          else this.setPeer(keyToHex(publicKey), publicKey, zeroAt(psks, at) ? null : psks.slice(at, at + KEY_LENGTH), version);
        }
        wipe(psks);
        return;
      }
      case 'peer-remove':
        this.removePeer(keyToHex(m.publicKey));
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
          view.setUint32(at + AnswerRecord.version, r.version, true);
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

  /**
   * A peer is known, or its PSK changed (null: none), under a new version
   * (> 0). `hex` is keyToHex(publicKey). The PSK is kept as given (the
   * caller's copy, wiped when it changes). Called by 'peer' messages, and
   * by the pool directly on its inline answerer.
   */
  setPeer(hex: string, publicKey: Uint8Array, presharedKey: Uint8Array | null, version: number): void {
    this.forget(hex);
    let row = this.rows.get(hex);
    if (row === undefined) {
      row = this.freeRows.pop() ?? this.rowsUsed++;
      if (row >= this.versions.length) {
        const keys = new Uint8Array(this.keys.length * 2);
        keys.set(this.keys);
        this.keys = keys;
        const versions = new Uint32Array(this.versions.length * 2);
        versions.set(this.versions);
        this.versions = versions;
      }
      this.keys.set(publicKey, row * KEY_LENGTH);
      this.rows.set(hex, row);
    }
    this.versions[row] = version;
    if (presharedKey) this.psks.set(hex, presharedKey);
  }

  /** A peer is gone. */
  removePeer(hex: string): void {
    this.forget(hex);
    const row = this.rows.get(hex);
    if (row !== undefined) {
      this.keys.fill(0, row * KEY_LENGTH, (row + 1) * KEY_LENGTH);
      this.versions[row] = 0;
      this.freeRows.push(row);
      this.rows.delete(hex);
    }
    this.replays.forget(hex);
  }

  /** The version of a peer's entry (undefined: unknown peer). */
  versionOf(hex: string): number | undefined {
    const row = this.rows.get(hex);
    return row === undefined ? undefined : this.versions[row];
  }

  /**
   * Every peer as one 'peers' message (free rows: zero key, version 0),
   * copies of the flat table, for a new thread; the PSK buffer is moved to
   * it (transfer it).
   */
  peerTable(): Extract<ToCrypto, { t: 'peers' }> {
    const count = this.rowsUsed;
    const presharedKeys = new Uint8Array(count * KEY_LENGTH);
    for (const [hex, psk] of this.psks) presharedKeys.set(psk, this.rows.get(hex)! * KEY_LENGTH);
    return {
      t: 'peers',
      count,
      publicKeys: this.keys.slice(0, count * KEY_LENGTH),
      presharedKeys,
      versions: this.versions.slice(0, count),
    };
  }

  /** Wipes and drops what is kept for a peer (its PSK, its DH cache): it changes or goes. */
  private forget(hex: string): void {
    const psk = this.psks.get(hex);
    if (psk) {
      wipe(psk);
      this.psks.delete(hex);
    }
    const ss = this.staticStatics.get(hex);
    if (ss) wipe(ss);
    this.staticStatics.delete(hex);
  }

  /** Wipes every key kept (the pool closes). */
  wipeAll(): void {
    for (const hex of [...this.rows.keys()]) this.forget(hex);
    this.rows.clear();
  }

  private respond(msg: Uint8Array): (RespondedInitiation & { version: number }) | DropReason {
    const local = this.identity;
    if (!local) return 'unknown-peer';
    let version: number | undefined;
    let hex = '';
    let psk: Uint8Array | null = null;
    let r: RespondedInitiation | DropReason;
    try {
      r = this.respondTo(msg, local, (rs) => {
        hex = keyToHex(rs);
        version = this.versionOf(hex);
        if (version === undefined) return null;
        let staticStatic = this.staticStatics.get(hex);
        if (staticStatic === undefined) this.staticStatics.set(hex, (staticStatic = sharedSecret(local, rs)));
        // A copy: the JavaScript path keeps the PSK in its state and wipes it with the state (the peer's
        // own must survive). This thread's alone, used only within this call: wiped when it returns.
        psk = Uint8Array.from(this.psks.get(hex) ?? NO_PSK);
        return { presharedKey: psk, staticStatic, notAfter: this.replays.seen(hex) };
      });
    } finally {
      wipe(psk);
    }
    if (typeof r === 'string') return r;
    this.replays.answered(hex, r.timestamp);
    return { ...r, version: version! };
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
  const thread = new HandshakeCryptoThread((m, transfer) => port.postMessage(m, transfer));
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
