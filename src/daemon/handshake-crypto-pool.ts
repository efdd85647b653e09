/**
 * Where the responder's handshake crypto runs: a few threads
 * (handshake-crypto-worker.ts), so a flood of initiations uses every core
 * instead of capping at one main thread (~2.6 k handshakes/s). The main
 * thread keeps the handshake *state* — it checks MACs, cookies and rate
 * limits before submitting, and checks replays, takes indices and installs
 * keypairs when the results come back (src/protocol/noise-responder.ts).
 *
 * Batching: initiations submitted during one turn of the event loop go out
 * at its end (setImmediate), split over the threads by how much each has in
 * flight, one message per thread; each thread answers a batch with one
 * message, and the answers that arrive in one turn are handled in one task
 * at its end.
 *
 * Bounded: at most maxInFlight initiations are submitted and unanswered;
 * submit() refuses beyond that (the caller counts the drop). The in-flight
 * ones also count in the shared handshake backlog word (see below), so the
 * "under load" test (cookies, rate limits) sees work waiting here as it sees
 * work waiting in the queue from the data-path workers.
 *
 * Threading: main thread. What crosses to the threads is in
 * handshake-crypto-messages.ts; the main thread is the only writer of the
 * threads' identity and peer table.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { keyToHex } from '../crypto/encoding.js';
import { INITIATION_SIZE } from '../protocol/wire.js';
import type { DropReason } from '../protocol/wire.js';
import { AnswerRecord, type CryptoAnswer, type FromCrypto, type ToCrypto } from './handshake-crypto-messages.js';
import { KEY_LENGTH } from '../crypto/bytes.js';
import { TAI64N_LENGTH } from '../crypto/tai64n.js';
import { RESPONSE_SIZE } from '../protocol/wire.js';
import { HANDSHAKE_CRYPTO_KIND } from './handshake-crypto-worker.js';

/** Threads at most: past the core count they only add switching. */
const MAX_THREADS = 4;

interface Member { thread: Worker; inFlight: number }
interface Pending<C> { message: Uint8Array; context: C }

export interface HandshakeCryptoPoolOptions<C> {
  threads: number;
  maxInFlight: number;
  /**
   * The handshake backlog word shared with the data-path workers (Int32
   * word 0, Atomics; see src/datapath/handshake-admission.ts): workers add
   * what they post, the main thread subtracts what it takes off. This pool
   * adds each submitted initiation and subtracts it when its result is
   * handled, so the word counts the work waiting here too.
   */
  backlog?: Int32Array;
  /**
   * Each result, in batch order, with the context it was submitted with. An
   * answer's arrays are views into the batch's buffer, zeroed when the call
   * returns: copy what is kept.
   */
  onResult: (result: CryptoAnswer | DropReason, context: C) => void;
  /** Runs the handling of one turn's answers (default: directly); the device holds the workers' wakes around it. */
  handleAnswers?: (handle: () => void) => void;
  /** A thread died: the device cannot answer initiations any more. */
  onFatal: (reason: string) => void;
}

export class HandshakeCryptoPool<C> {
  private readonly members: Member[] = [];
  private pending: Array<Pending<C>> = [];
  private flushScheduled = false;
  private inFlight = 0;
  private seq = 0;
  private readonly batches = new Map<number, { member: Member; contexts: C[] }>();
  private generation = 0;
  /** Per peer (hex key): the version of its entry the threads hold; and back. */
  private readonly versions = new Map<string, number>();
  private readonly peerOfVersion = new Map<number, string>();
  private nextVersion = 1;
  private closing = false;
  private arrived: Array<Extract<FromCrypto, { t: 'results' }>> = [];
  /**
   * Peer changes not yet posted: sent as one 'peers' message per thread at
   * the end of the turn, and always before anything else posted to the
   * threads (identity, initiation batches), so the threads see every change
   * in order and before any initiation submitted after it.
   */
  private peerOps: Array<Extract<ToCrypto, { t: 'peer' | 'peer-remove' }>> = [];
  private drainScheduled = false;

  private constructor(private readonly opts: HandshakeCryptoPoolOptions<C>) {}

  /** Starts the threads; resolves once every one is ready. */
  static async start<C>(opts: HandshakeCryptoPoolOptions<C>): Promise<HandshakeCryptoPool<C>> {
    const pool = new HandshakeCryptoPool(opts);
    const n = Math.max(1, Math.min(MAX_THREADS, opts.threads));
    await Promise.all(Array.from({ length: n }, () => pool.startThread()));
    return pool;
  }

  private startThread(): Promise<void> {
    const file = fileURLToPath(new URL('./handshake-crypto-worker.js', import.meta.url));
    const thread = new Worker(file, { workerData: { kind: HANDSHAKE_CRYPTO_KIND } });
    const member: Member = { thread, inFlight: 0 };
    this.members.push(member);
    return new Promise((resolve, reject) => {
      let ready = false;
      thread.on('message', (m: FromCrypto) => {
        if (m.t === 'ready') { ready = true; resolve(); return; }
        // Handled together with whatever else arrives in this turn of the event loop: one task, so
        // the device's per-task costs (the workers' wake, one sendmmsg) are paid once for all of them.
        this.arrived.push(m);
        if (!this.drainScheduled) { this.drainScheduled = true; setImmediate(() => this.drainArrived()); }
      });
      thread.on('error', (err) => { if (!ready) reject(err); else this.opts.onFatal(`handshake crypto thread crashed: ${err.message}`); });
      thread.on('exit', (code) => {
        if (!ready) reject(new Error(`handshake crypto thread exited (${code}) before it was ready`));
        else if (!this.closing) this.opts.onFatal(`handshake crypto thread exited unexpectedly (code ${code})`);
      });
    });
  }

  /** The device's private key changed (null: none). Results computed with the old one are refused. */
  setIdentity(privateKey: Uint8Array | null): void {
    this.generation++;
    this.flushPeerOps();
    for (const m of this.members) this.post(m, { t: 'identity', privateKey: privateKey ? Uint8Array.from(privateKey) : null, generation: this.generation });
  }

  /** A peer was added or its PSK changed (presharedKey: 32 bytes, zeros for none). */
  setPeer(publicKey: Uint8Array, presharedKey: Uint8Array): void {
    const version = this.nextVersion++;
    const hex = keyToHex(publicKey);
    const old = this.versions.get(hex);
    if (old !== undefined) this.peerOfVersion.delete(old);
    this.versions.set(hex, version);
    this.peerOfVersion.set(version, hex);
    this.queuePeerOp({ t: 'peer', publicKey, presharedKey: Uint8Array.from(presharedKey), version });
  }

  removePeer(publicKey: Uint8Array): void {
    const hex = keyToHex(publicKey);
    const old = this.versions.get(hex);
    if (old !== undefined) this.peerOfVersion.delete(old);
    this.versions.delete(hex);
    this.queuePeerOp({ t: 'peer-remove', publicKey });
  }

  private queuePeerOp(op: Extract<ToCrypto, { t: 'peer' | 'peer-remove' }>): void {
    if (this.peerOps.length === 0) setImmediate(() => this.flushPeerOps());
    this.peerOps.push(op);
  }

  private flushPeerOps(): void {
    if (this.peerOps.length === 0) return;
    const ops = this.peerOps;
    this.peerOps = [];
    const count = ops.length;
    const publicKeys = new Uint8Array(count * KEY_LENGTH);
    const presharedKeys = new Uint8Array(count * KEY_LENGTH);
    const versions = new Uint32Array(count);
    ops.forEach((op, i) => {
      publicKeys.set(op.publicKey, i * KEY_LENGTH);
      if (op.t === 'peer') {
        presharedKeys.set(op.presharedKey, i * KEY_LENGTH);
        op.presharedKey.fill(0);
        versions[i] = op.version;
      }
    });
    for (const m of this.members) this.post(m, { t: 'peers', count, publicKeys, presharedKeys, versions });
    // postMessage cloned it: the main thread's copy of the PSKs goes now.
    presharedKeys.fill(0);
  }

  /**
   * Queues an initiation (INITIATION_SIZE bytes, MACs checked) for the
   * threads; false when maxInFlight are already waiting (count the drop).
   */
  submit(message: Uint8Array, context: C): boolean {
    if (message.length !== INITIATION_SIZE || this.inFlight >= this.opts.maxInFlight || this.closing) return false;
    this.inFlight++;
    if (this.opts.backlog) Atomics.add(this.opts.backlog, 0, 1);
    this.pending.push({ message, context });
    if (!this.flushScheduled) { this.flushScheduled = true; setImmediate(() => this.flush()); }
    return true;
  }

  /** Sends what this turn submitted: each thread gets a share that evens out what they have in flight. */
  private flush(): void {
    this.flushScheduled = false;
    this.flushPeerOps();
    const items = this.pending;
    this.pending = [];
    if (items.length === 0 || this.closing) return;
    const total = items.length + this.members.reduce((a, m) => a + m.inFlight, 0);
    const fair = Math.ceil(total / this.members.length);
    let from = 0;
    for (const member of this.members) {
      const take = Math.min(items.length - from, Math.max(0, fair - member.inFlight));
      if (take > 0) this.sendBatch(member, items.slice(from, from + take));
      from += take;
    }
    if (from < items.length) this.sendBatch(this.members[0]!, items.slice(from));
  }

  private sendBatch(member: Member, items: Array<Pending<C>>): void {
    const messages = new Uint8Array(items.length * INITIATION_SIZE);
    items.forEach((it, i) => messages.set(it.message, i * INITIATION_SIZE));
    const seq = ++this.seq;
    this.batches.set(seq, { member, contexts: items.map((it) => it.context) });
    member.inFlight += items.length;
    member.thread.postMessage({ t: 'batch', seq, count: items.length, messages } satisfies ToCrypto, [messages.buffer]);
  }

  private drainArrived(): void {
    this.drainScheduled = false;
    const arrived = this.arrived;
    this.arrived = [];
    const handle = (): void => { for (const m of arrived) this.onResults(m); };
    if (this.opts.handleAnswers) this.opts.handleAnswers(handle); else handle();
  }

  private onResults(m: Extract<FromCrypto, { t: 'results' }>): void {
    const batch = this.batches.get(m.seq);
    if (!batch) return;
    this.batches.delete(m.seq);
    const n = m.reasons.length;
    batch.member.inFlight -= n;
    this.inFlight -= n;
    if (this.opts.backlog) Atomics.sub(this.opts.backlog, 0, n);
    const rec = m.records;
    const view = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    for (let i = 0; i < n; i++) {
      const reason = m.reasons[i];
      if (reason) { this.opts.onResult(reason, batch.contexts[i]!); continue; }
      const at = i * AnswerRecord.size;
      // Keys that changed while the initiation was in flight (identity, the peer's PSK, the peer gone): its answer used the old ones.
      const initiatorHex = m.generation === this.generation ? this.peerOfVersion.get(view.getUint32(at + AnswerRecord.version, true)) : undefined;
      if (initiatorHex === undefined) { this.opts.onResult('unknown-peer', batch.contexts[i]!); continue; }
      const keys = at + AnswerRecord.keys;
      this.opts.onResult({
        initiatorHex,
        remoteIndex: view.getUint32(at + AnswerRecord.remoteIndex, true),
        remoteStatic: rec.subarray(at + AnswerRecord.remoteStatic, at + AnswerRecord.remoteStatic + KEY_LENGTH),
        timestamp: rec.subarray(at + AnswerRecord.timestamp, at + AnswerRecord.timestamp + TAI64N_LENGTH),
        response: rec.subarray(at + AnswerRecord.response, at + AnswerRecord.response + RESPONSE_SIZE),
        sendKey: rec.subarray(keys, keys + KEY_LENGTH),
        receiveKey: rec.subarray(keys + KEY_LENGTH, keys + 2 * KEY_LENGTH),
      }, batch.contexts[i]!);
    }
    // The handler copied what it keeps (keypairs, the responses into frames): the keys go now.
    rec.fill(0);
  }

  private post(member: Member, m: ToCrypto): void {
    member.thread.postMessage(m);
  }

  /** Stops the threads; what is in flight is dropped. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.opts.backlog && this.inFlight > 0) Atomics.sub(this.opts.backlog, 0, this.inFlight);
    this.inFlight = 0;
    this.batches.clear();
    await Promise.all(this.members.map((m) => m.thread.terminate()));
  }
}
