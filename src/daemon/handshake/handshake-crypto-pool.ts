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
 * Started on demand, stopped when idle: the threads (each a V8 isolate,
 * several MB) exist only while handshakes keep coming. A cold pool answers
 * initiations inline on the main thread (the same HandshakeCryptoThread
 * code, at most INLINE_PER_TURN a turn), and starts the threads once
 * START_AFTER initiations arrived within a second; until they are ready
 * the inline answers go on, so a flood is served from its first packet. The
 * threads stop after idleStopMs without a submission and with nothing in
 * flight. A new thread gets the current identity and the peer table before
 * any batch: the identity as a copy (the pool keeps one: `identity`), the
 * peers as the shared table's buffer (peer-key-table.ts), which it maps:
 * nothing is built or copied per peer, so a thread is ready in a few ms at
 * any peer count.
 *
 * Threading: main thread. What crosses to the threads is in
 * handshake-crypto-messages.ts; the main thread is the only writer of the
 * threads' identity and of the shared peer table (its protocol, and the
 * retirement of a buffer replaced by a rebuild, are in peer-key-table.ts;
 * the retirement bookkeeping is `retired` below).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { keyToHex } from '../../crypto/encoding.js';
import { INITIATION_SIZE } from '../../protocol/wire.js';
import type { DropReason } from '../../packet/drop-reasons.js';
import { AnswerRecord, type CryptoAnswer, type FromCrypto, type ToCrypto } from './handshake-crypto-messages.js';
import { isAllZero, KEY_LENGTH, wipe } from '../../crypto/bytes.js';
import { TAI64N_LENGTH } from '../../crypto/tai64n.js';
import { RESPONSE_SIZE } from '../../protocol/wire.js';
import { HANDSHAKE_CRYPTO_KIND, HandshakeCryptoThread } from './handshake-crypto-worker.js';
import { PeerKeyTable } from './peer-key-table.js';
import { respondToInitiation } from '../../protocol/noise-responder.js';

/** Threads at most: past the core count they only add switching. */
const MAX_THREADS = 4;
/** Initiations within one second that start the threads (fewer are answered inline). */
const START_AFTER = 8;
/** Initiations a cold pool answers inline per turn of the event loop (~0.4 ms each): the main thread keeps turning. */
const INLINE_PER_TURN = 16;
/** Idle time after which the threads stop. */
const IDLE_STOP_MS = 5000;

/**
 * V8 heap limits of a crypto thread: it holds a few keys per peer and one
 * batch of answers at a time. The young generation is what an idle isolate
 * keeps resident (its semi-spaces); small ones cost a few more scavenges.
 */
export const CRYPTO_THREAD_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };

/** A thread, or (thread undefined) the main thread's inline answerer. */
interface Member {
  thread?: Worker;
  inFlight: number;
  ready: boolean;
}
interface Pending<C> {
  message: Uint8Array;
  context: C;
}

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
  /** A thread died or could not start: the device cannot answer initiations any more. */
  onFatal: (reason: string) => void;
  /** Initiations within a second that start the threads (default START_AFTER; 1: the first one). */
  startAfter?: number;
  /** Idle time after which the threads stop (default IDLE_STOP_MS). */
  idleStopMs?: number;
}

export class HandshakeCryptoPool<C> {
  /** Threads started and not stopped, ready or not: every identity/peer change goes to each. */
  private members: Member[] = [];
  /** The inline answerer and its member record (for the batch bookkeeping). */
  private readonly inline: HandshakeCryptoThread;
  private readonly inlineMember: Member = { inFlight: 0, ready: true };
  /** What a new thread is told first: the private key (a copy, null: none). */
  private identity: Uint8Array | null = null;
  /**
   * The peers, with their versions and PSKs: the only copy of a PSK this
   * pool keeps, shared with the threads (peer-key-table.ts). A change is
   * seen by every thread as soon as it is written: before any initiation
   * submitted after it.
   */
  private readonly table = PeerKeyTable.create();
  /** Counts the table's buffers (the id each is posted with). */
  private tableId = 1;
  /** Buffers replaced by a rebuild, wiped once no thread in `waiting` reads them any more. */
  private retired: Array<{ id: number; buffer: SharedArrayBuffer; waiting: Set<Member> }> = [];
  /**
   * Public keys of peers removed while threads run, posted as one 'forget'
   * per thread at the end of the turn (or before anything else posted to
   * them), so they drop what they cached for those peers.
   */
  private forgets: Uint8Array[] = [];
  /** Submissions in the current one-second window (starts the threads past startAfter). */
  private windowStart = 0;
  private windowCount = 0;
  private lastSubmit = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly threadCount: number;
  private pending: Array<Pending<C>> = [];
  private flushScheduled = false;
  private inFlight = 0;
  private seq = 0;
  private readonly batches = new Map<number, { member: Member; contexts: C[] }>();
  private generation = 0;
  private nextVersion = 1;
  private closing = false;
  private arrived: Array<Extract<FromCrypto, { t: 'results' }>> = [];
  private drainScheduled = false;

  private constructor(private readonly opts: HandshakeCryptoPoolOptions<C>) {
    this.threadCount = Math.max(1, Math.min(MAX_THREADS, opts.threads));
    // Answers of the inline answerer come back synchronously, through the same path as a thread's.
    this.inline = new HandshakeCryptoThread((m) => this.arrive(m), respondToInitiation);
    this.inline.useTable(this.table);
  }

  /** A pool with no thread running yet: they start under handshake load (see above). */
  static async start<C>(opts: HandshakeCryptoPoolOptions<C>): Promise<HandshakeCryptoPool<C>> {
    return new HandshakeCryptoPool(opts);
  }

  /** Crypto threads running now (started, ready or not). */
  get threads(): number {
    return this.members.length;
  }

  /**
   * Starts the threads now unless they run; resolves once every one is
   * ready (rejects, after onFatal, when one cannot start). Submissions
   * start them by themselves: this is for whoever wants them warm.
   */
  startThreads(): Promise<void> {
    if (this.closing) return Promise.resolve();
    if (this.members.length === 0) {
      this.lastSubmit = performance.now();
      this.starting = Promise.all(Array.from({ length: this.threadCount }, () => this.startThread())).then(
        () => {
          this.scheduleIdleCheck();
          this.scheduleFlush();
        },
        (err: Error) => {
          this.opts.onFatal(`handshake crypto thread cannot start: ${err.message}`);
          throw err;
        },
      );
    }
    return this.starting;
  }
  private starting: Promise<void> = Promise.resolve();

  private startThread(): Promise<void> {
    const file = fileURLToPath(new URL('./handshake-crypto-worker.js', import.meta.url));
    const thread = new Worker(file, { workerData: { kind: HANDSHAKE_CRYPTO_KIND }, resourceLimits: CRYPTO_THREAD_LIMITS });
    const member: Member = { thread, inFlight: 0, ready: false };
    // Removals queued for the running threads go to them first (this one has cached nothing).
    this.flushForgets();
    this.members.push(member);
    // The shared table (mapped, not copied: the same cost at any peer count), then a copy of the
    // identity, moved to the thread (it wipes it), after which the thread says it is ready.
    this.post(member, { t: 'table', buffer: this.table.buffer, id: this.tableId });
    const identity = this.identity ? Uint8Array.from(this.identity) : null;
    this.post(member, { t: 'identity', privateKey: identity, generation: this.generation }, identity ? [identity.buffer] : undefined);
    return new Promise((resolve, reject) => {
      thread.on('message', (m: FromCrypto) => {
        if (m.t === 'ready') {
          member.ready = true;
          resolve();
          return;
        }
        if (m.t === 'table-switched') {
          this.switched(member, m.id);
          return;
        }
        this.arrive(m);
      });
      // A thread stopped on purpose (close, or the idle stop) is no longer a member: its end is not a
      // failure, even before it was ready (a thread terminated before it booted exits with code 0).
      const stopped = (): boolean => this.closing || !this.members.includes(member);
      thread.on('error', (err) => {
        if (stopped()) resolve();
        else if (!member.ready) reject(err);
        else this.opts.onFatal(`handshake crypto thread crashed: ${err.message}`);
      });
      thread.on('exit', (code) => {
        if (stopped()) resolve();
        else if (!member.ready) reject(new Error(`handshake crypto thread exited (${code}) before it was ready`));
        else this.opts.onFatal(`handshake crypto thread exited unexpectedly (code ${code})`);
        // A thread that is gone reads no table buffer.
        this.switched(member, Infinity);
      });
    });
  }

  /**
   * Results of a thread or of the inline answerer: handled together with
   * whatever else arrives in this turn of the event loop, in one task, so
   * the device's per-task costs (the workers' wake, one sendmmsg) are paid
   * once for all of them.
   */
  private arrive(m: FromCrypto): void {
    if (m.t !== 'results') return;
    this.arrived.push(m);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drainArrived());
    }
  }

  /** Stops the threads after idleStopMs without submissions, once nothing is in flight on them. */
  private scheduleIdleCheck(): void {
    if (this.idleTimer || this.closing) return;
    const idleMs = this.opts.idleStopMs ?? IDLE_STOP_MS;
    this.idleTimer = setTimeout(
      () => {
        this.idleTimer = undefined;
        if (this.members.length === 0 || this.closing) return;
        const busy = this.members.some((m) => m.inFlight > 0 || !m.ready);
        if (busy || performance.now() - this.lastSubmit < idleMs) {
          this.scheduleIdleCheck();
          return;
        }
        this.stopThreads();
      },
      Math.max(10, Math.min(idleMs, idleMs - (performance.now() - this.lastSubmit))),
    );
    this.idleTimer.unref();
  }

  private stopThreads(): void {
    const stopping = this.members;
    this.members = [];
    // Removed from members first: their exit is not a crash. Once gone they read no retired buffer.
    for (const m of stopping) void m.thread!.terminate().then(() => this.switched(m, Infinity));
  }

  /** The device's private key changed (null: none). Results computed with the old one are refused. */
  setIdentity(privateKey: Uint8Array | null): void {
    this.generation++;
    this.flushForgets();
    // The pool keeps one copy (threads started later need it), wiped when replaced. Each member gets its
    // own copy, moved to it (transferred, not cloned), and wipes it once it has made its key object.
    if (this.identity) wipe(this.identity);
    this.identity = privateKey ? Uint8Array.from(privateKey) : null;
    for (const m of this.allMembers()) {
      const copy = privateKey ? Uint8Array.from(privateKey) : null;
      this.post(m, { t: 'identity', privateKey: copy, generation: this.generation }, copy ? [copy.buffer] : undefined);
    }
  }

  /**
   * A peer was added or its PSK changed (presharedKey: 32 bytes, zeros for
   * none): written into the shared table under a new version (the caller's
   * arrays are not kept). `_hex` is accepted for callers that have the key's
   * hex already; the table needs only the bytes.
   */
  setPeer(publicKey: Uint8Array, presharedKey: Uint8Array, _hex?: string): void {
    const replaced = this.table.set(publicKey, isAllZero(presharedKey) ? null : presharedKey, this.nextVersion++);
    if (replaced) this.retire(replaced);
  }

  /** A peer is gone: its entry (and PSK) is wiped from the shared table; running threads drop their caches of it. */
  removePeer(publicKey: Uint8Array): void {
    this.table.remove(publicKey);
    this.inline.forget(keyToHex(publicKey));
    if (this.members.length === 0) return;
    if (this.forgets.length === 0) setImmediate(() => this.flushForgets());
    this.forgets.push(Uint8Array.from(publicKey));
  }

  /** Posts the queued removals to every thread. */
  private flushForgets(): void {
    if (this.forgets.length === 0) return;
    const keys = this.forgets;
    this.forgets = [];
    const publicKeys = new Uint8Array(keys.length * KEY_LENGTH);
    keys.forEach((k, i) => publicKeys.set(k, i * KEY_LENGTH));
    for (const m of this.members) this.post(m, { t: 'forget', count: keys.length, publicKeys });
  }

  /**
   * The table was rebuilt into a new buffer: every thread is told to read
   * that one (before any batch posted after this), and the old one is wiped
   * once each has said it switched (or is gone). The inline answerer reads
   * the table object itself: it switched already.
   */
  private retire(old: SharedArrayBuffer): void {
    const id = ++this.tableId;
    const waiting = new Set(this.members);
    for (const m of this.members) this.post(m, { t: 'table', buffer: this.table.buffer, id });
    if (waiting.size === 0) PeerKeyTable.wipeBuffer(old);
    else this.retired.push({ id: id - 1, buffer: old, waiting });
  }

  /** `member` reads buffer `id` (Infinity: none any more): older retired buffers it no longer reads; wiped when no one does. */
  private switched(member: Member, id: number): void {
    if (this.retired.length === 0) return;
    this.retired = this.retired.filter((r) => {
      if (r.id < id) r.waiting.delete(member);
      if (r.waiting.size > 0) return true;
      PeerKeyTable.wipeBuffer(r.buffer);
      return false;
    });
  }

  /** The threads and the inline answerer: each keeps its own copy of the keys. */
  private allMembers(): Member[] {
    return [this.inlineMember, ...this.members];
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
    const now = performance.now();
    this.lastSubmit = now;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount >= (this.opts.startAfter ?? START_AFTER) && this.members.length === 0)
      void this.startThreads().catch(() => {
        /* onFatal was told */
      });
    this.scheduleFlush();
    return true;
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled && this.pending.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Sends what this turn submitted: each ready thread gets a share that
   * evens out what they have in flight. With none ready, up to
   * INLINE_PER_TURN are answered here and the rest wait for the next turn.
   */
  private flush(): void {
    this.flushScheduled = false;
    this.flushForgets();
    if (this.pending.length === 0 || this.closing) return;
    const ready = this.members.filter((m) => m.ready);
    if (ready.length === 0) {
      this.sendBatch(this.inlineMember, this.pending.splice(0, INLINE_PER_TURN));
      this.scheduleFlush();
      return;
    }
    const items = this.pending;
    this.pending = [];
    const total = items.length + ready.reduce((a, m) => a + m.inFlight, 0);
    const fair = Math.ceil(total / ready.length);
    let from = 0;
    for (const member of ready) {
      const take = Math.min(items.length - from, Math.max(0, fair - member.inFlight));
      if (take > 0) this.sendBatch(member, items.slice(from, from + take));
      from += take;
    }
    if (from < items.length) this.sendBatch(ready[0]!, items.slice(from));
  }

  private sendBatch(member: Member, items: Array<Pending<C>>): void {
    const messages = new Uint8Array(items.length * INITIATION_SIZE);
    items.forEach((it, i) => messages.set(it.message, i * INITIATION_SIZE));
    const seq = ++this.seq;
    this.batches.set(seq, { member, contexts: items.map((it) => it.context) });
    member.inFlight += items.length;
    this.post(member, { t: 'batch', seq, count: items.length, messages }, [messages.buffer]);
  }

  private drainArrived(): void {
    this.drainScheduled = false;
    const arrived = this.arrived;
    this.arrived = [];
    const handle = (): void => {
      for (const m of arrived) this.onResults(m);
    };
    if (this.opts.handleAnswers) this.opts.handleAnswers(handle);
    else handle();
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
      if (reason) {
        this.opts.onResult(reason, batch.contexts[i]!);
        continue;
      }
      const at = i * AnswerRecord.size;
      // Keys that changed while the initiation was in flight (identity, the peer's PSK, the peer gone): its
      // answer used the old ones. The record names the initiator's key; its entry must still be the one used.
      const remoteStatic = rec.subarray(at + AnswerRecord.remoteStatic, at + AnswerRecord.remoteStatic + KEY_LENGTH);
      const initiatorHex = keyToHex(remoteStatic);
      if (m.generation !== this.generation || this.table.lookup(remoteStatic) !== view.getUint32(at + AnswerRecord.version, true)) {
        this.opts.onResult('unknown-peer', batch.contexts[i]!);
        continue;
      }
      const keys = at + AnswerRecord.keys;
      this.opts.onResult(
        {
          initiatorHex,
          remoteIndex: view.getUint32(at + AnswerRecord.remoteIndex, true),
          remoteStatic,
          timestamp: rec.subarray(at + AnswerRecord.timestamp, at + AnswerRecord.timestamp + TAI64N_LENGTH),
          response: rec.subarray(at + AnswerRecord.response, at + AnswerRecord.response + RESPONSE_SIZE),
          sendKey: rec.subarray(keys, keys + KEY_LENGTH),
          receiveKey: rec.subarray(keys + KEY_LENGTH, keys + 2 * KEY_LENGTH),
        },
        batch.contexts[i]!,
      );
    }
    // The handler copied what it keeps (keypairs, the responses into frames): the keys go now.
    rec.fill(0);
  }

  /** To a thread (moving what `transfer` names), or to the inline answerer directly (it keeps what it is given: callers pass copies). */
  private post(member: Member, m: ToCrypto, transfer?: ArrayBuffer[]): void {
    if (member.thread) member.thread.postMessage(m, transfer ?? []);
    else this.inline.handle(m);
  }

  /** Stops the threads; what is in flight is dropped. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.opts.backlog && this.inFlight > 0) Atomics.sub(this.opts.backlog, 0, this.inFlight);
    this.inFlight = 0;
    this.batches.clear();
    if (this.identity) wipe(this.identity);
    this.inline.wipeAll();
    const stopping = this.members;
    this.members = [];
    await Promise.all(stopping.map((m) => m.thread!.terminate()));
    // No thread is left to read a table buffer: the PSKs go.
    this.table.wipe();
    for (const r of this.retired) PeerKeyTable.wipeBuffer(r.buffer);
    this.retired = [];
  }
}
