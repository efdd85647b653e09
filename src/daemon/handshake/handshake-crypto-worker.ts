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

/** What this thread knows of one peer. */
interface PeerEntry { presharedKey: Uint8Array; version: number; staticStatic?: Uint8Array | null }

/** The PSK of every peer without one (all zeros; never written but by wipe). */
export const NO_PSK = new Uint8Array(KEY_LENGTH);

/** The marker workerData carries so that importing this file elsewhere does nothing. */
export const HANDSHAKE_CRYPTO_KIND = 'xdpwg-handshake-crypto';

/** The answerer; also run inline on the main thread by a cold pool (handshake-crypto-pool.ts). */
export class HandshakeCryptoThread {
  private identity: X25519KeyPair | null = null;
  private generation = 0;
  private readonly peers = new Map<string, PeerEntry>();
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
        for (const p of this.peers.values()) this.forgetStaticStatic(p);
        return;
      case 'peer': {
        const hex = keyToHex(m.publicKey);
        const old = this.peers.get(hex);
        if (old) { wipe(old.presharedKey); this.forgetStaticStatic(old); }
        // Most peers have no PSK: they share one zero key (only ever wiped, i.e. zeroed again) instead of 32 bytes and an ArrayBuffer each.
        this.peers.set(hex, { presharedKey: isAllZero(m.presharedKey) ? NO_PSK : m.presharedKey, version: m.version });
        return;
      }
      case 'peers':
        for (let i = 0; i < m.count; i++) {
          const publicKey = m.publicKeys.subarray(i * KEY_LENGTH, (i + 1) * KEY_LENGTH);
          const version = m.versions[i]!;
          if (version === 0) this.handle({ t: 'peer-remove', publicKey });
          else this.handle({ t: 'peer', publicKey, presharedKey: m.presharedKeys.slice(i * KEY_LENGTH, (i + 1) * KEY_LENGTH), version });
        }
        wipe(m.presharedKeys);
        return;
      case 'peer-remove': {
        const hex = keyToHex(m.publicKey);
        const old = this.peers.get(hex);
        if (old) { wipe(old.presharedKey); this.forgetStaticStatic(old); }
        this.peers.delete(hex);
        this.replays.forget(hex);
        return;
      }
      case 'batch': {
        const records = new Uint8Array(m.count * AnswerRecord.size);
        const view = new DataView(records.buffer);
        const reasons: Array<DropReason | null> = [];
        for (let i = 0; i < m.count; i++) {
          const r = this.respond(m.messages.subarray(i * INITIATION_SIZE, (i + 1) * INITIATION_SIZE));
          if (typeof r === 'string') { reasons.push(r); continue; }
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

  private respond(msg: Uint8Array): (RespondedInitiation & { version: number }) | DropReason {
    const local = this.identity;
    if (!local) return 'unknown-peer';
    let entry: PeerEntry | undefined;
    let hex = '';
    let psk: Uint8Array | null = null;
    let r: RespondedInitiation | DropReason;
    try {
      r = this.respondTo(msg, local, (rs) => {
        hex = keyToHex(rs);
        entry = this.peers.get(hex);
        if (!entry) return null;
        if (entry.staticStatic === undefined) entry.staticStatic = sharedSecret(local, rs);
        // A copy: the JavaScript path keeps the PSK in its state and wipes it with the state (the peer's
        // own must survive). This thread's alone, used only within this call: wiped when it returns.
        psk = Uint8Array.from(entry.presharedKey);
        return { presharedKey: psk, staticStatic: entry.staticStatic, notAfter: this.replays.seen(hex) };
      });
    } finally {
      wipe(psk);
    }
    if (typeof r === 'string') return r;
    this.replays.answered(hex, r.timestamp);
    return { ...r, version: entry!.version };
  }

  private forgetStaticStatic(p: PeerEntry): void {
    if (p.staticStatic) wipe(p.staticStatic);
    delete p.staticStatic;
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
  port.on('message', (m: ToCrypto) => {
    thread.handle(m);
    if (m.t === 'batch') refiller?.kick();
  });
  port.postMessage({ t: 'ready' } satisfies FromCrypto);
}
