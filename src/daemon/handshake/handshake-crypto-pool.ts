/**
 * Where the responder's handshake crypto runs: the handshake crew, native
 * threads of the addon (native/handshake_crew.cc), so a flood of initiations
 * uses every core instead of capping at one main thread. The main thread
 * keeps the handshake *state* — it checks MACs, cookies and rate limits
 * before submitting, and checks replays, takes indices and installs
 * keypairs when the answers come back (src/protocol/noise-responder.ts).
 *
 * The crew answers with no JavaScript: it reads the initiation, finds the
 * initiator in the shared peer table (peer-key-table.ts, which this pool
 * writes), writes the response and splits the keys. Its threads cost a few
 * pages each and start at once, so they are started with the pool and stay:
 * a flood meets them ready. (Node worker threads did this before: ~14 MB and
 * ~50 ms of CPU each to start, so they were stopped when idle and every
 * flood met them cold.)
 *
 * Batching: initiations submitted during one turn of the event loop go to
 * the crew at its end (setImmediate) as one job, which its threads share
 * a few initiations at a time; the answers of every job that completes in
 * one turn are handled in one task at its end.
 *
 * Bounded: at most maxInFlight initiations are submitted and unanswered;
 * submit() refuses beyond that (the caller counts the drop). The in-flight
 * ones also count in the shared handshake backlog word (see below), so the
 * "under load" test (cookies, rate limits) sees work waiting here as it sees
 * work waiting in the queue from the data-path workers.
 *
 * Keys: the crew gets the private key and the initial chaining state once
 * per change (copies this pool wipes at once: it keeps none), and reads the
 * PSKs from the shared table, the only copy of them. Every answer carries
 * the identity generation and the peer entry's version it used; an answer
 * whose keys changed while it was in flight is refused here.
 *
 * Threading: main thread. The crew's protocol (its locks, how a changed key
 * or a replaced table buffer is never read after the call that replaced it
 * returns) is in native/handshake_crew.cc; the table's in peer-key-table.ts.
 */
import { keyToHex } from '../../crypto/encoding.js';
import { INITIATION_SIZE, RESPONSE_SIZE } from '../../protocol/wire.js';
import type { DropReason } from '../../packet/drop-reasons.js';
import type { CryptoAnswer } from './handshake-crypto-messages.js';
import { AnswerRecord, CREW_STATUS_REASONS } from './handshake-crypto-messages.js';
import { isAllZero, KEY_LENGTH, wipe } from '../../crypto/bytes.js';
import { TAI64N_LENGTH } from '../../crypto/tai64n.js';
import { publicKeyOf } from '../../crypto/x25519.js';
import { initialStateFor } from '../../protocol/noise-responder-native.js';
import { PeerKeyTable } from './peer-key-table.js';
import { native, type NativeHandshakeCrew } from '../../native/binding.js';

/** Threads at most: past the core count they only add switching. */
const MAX_THREADS = 4;
/** Idle time after which each crew thread wipes its ready ephemerals. */
const IDLE_WIPE_MS = 5000;

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
   * Each result, in submission order within a batch, with the context it
   * was submitted with. An answer's arrays are views into the batch's
   * buffer, zeroed when the call returns: copy what is kept.
   */
  onResult: (result: CryptoAnswer | DropReason, context: C) => void;
  /** Runs the handling of one turn's answers (default: directly); the device holds the workers' wakes around it. */
  handleAnswers?: (handle: () => void) => void;
  /** Idle time after which a crew thread wipes its ready ephemerals (default IDLE_WIPE_MS). */
  idleWipeMs?: number;
}

interface Arrived {
  seq: number;
  statuses: Uint8Array;
  records: Uint8Array;
}

export class HandshakeCryptoPool<C> {
  private readonly crew: NativeHandshakeCrew;
  /** Threads the crew runs (fewer than asked when a thread limit stopped some; none started throws). */
  private readonly threadCount: number;
  /**
   * The peers, with their versions and PSKs: the only copy of a PSK this
   * pool keeps, shared with the crew (peer-key-table.ts). A change is seen
   * by the crew as soon as it is written: before any initiation submitted
   * after it.
   */
  private readonly table = PeerKeyTable.create();
  /**
   * Public keys of peers removed in this turn (forgetCount × 32 bytes, one
   * growing buffer: a `wg syncconf` may remove a million), told to the crew
   * at its end (it wipes what it cached for them).
   */
  private forgets = new Uint8Array(64 * KEY_LENGTH);
  private forgetCount = 0;
  /**
   * This turn's submissions: their messages side by side in one buffer,
   * reused from turn to turn (the crew copies a job when it is submitted),
   * and their contexts in order.
   */
  private pendingMessages = new Uint8Array(64 * INITIATION_SIZE);
  private pendingContexts: C[] = [];
  private flushScheduled = false;
  private inFlight = 0;
  private seq = 0;
  private readonly batches = new Map<number, C[]>();
  private generation = 0;
  private nextVersion = 1;
  private closing = false;
  private arrived: Arrived[] = [];
  private drainScheduled = false;

  private constructor(private readonly opts: HandshakeCryptoPoolOptions<C>) {
    // XDPWG_EPHEMERAL_POOL=0 leaves the threads' ready-ephemeral pools empty (A/B runs: bench/handshake-rate.ts).
    this.crew = native().handshakeCrewStart(
      Math.max(1, Math.min(MAX_THREADS, opts.threads)),
      opts.idleWipeMs ?? IDLE_WIPE_MS,
      process.env.XDPWG_EPHEMERAL_POOL !== '0',
      (seq, statuses, records) => this.arrive({ seq, statuses, records }),
    );
    native().handshakeCrewTable(this.crew, this.table.words);
    this.threadCount = native().handshakeCrewState(this.crew).threads;
  }

  /** A pool with its crew running (throws when not one of its threads could start). */
  static async start<C>(opts: HandshakeCryptoPoolOptions<C>): Promise<HandshakeCryptoPool<C>> {
    return new HandshakeCryptoPool(opts);
  }

  /** Crew threads answering initiations. */
  get threads(): number {
    return this.closing ? 0 : this.threadCount;
  }

  /** Initiations submitted and not yet answered. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** What the crew holds: peers with a cached DH(static, static), jobs queued (tests, stats). */
  crewState(): { threads: number; cachedPeers: number; queuedJobs: number } {
    return native().handshakeCrewState(this.crew);
  }

  /** The device's private key changed (null: none). Answers computed with the old one are refused. */
  setIdentity(privateKey: Uint8Array | null): void {
    if (this.closing) return;
    this.generation++;
    this.flushForgets();
    if (!privateKey) {
      native().handshakeCrewIdentity(this.crew, null, null, this.generation);
      return;
    }
    const copy = Uint8Array.from(privateKey);
    const publicKey = publicKeyOf(copy);
    const state = initialStateFor(publicKey);
    native().handshakeCrewIdentity(this.crew, copy, state, this.generation);
    wipe(copy, state);
  }

  /**
   * A peer was added or its PSK changed (presharedKey: 32 bytes, zeros for
   * none): written into the shared table under a new version (the caller's
   * arrays are not kept). `_hex` is accepted for callers that have the key's
   * hex already; the table needs only the bytes.
   */
  setPeer(publicKey: Uint8Array, presharedKey: Uint8Array, _hex?: string): void {
    const replaced = this.table.set(publicKey, isAllZero(presharedKey) ? null : presharedKey, this.nextVersion++);
    if (!replaced) return;
    // Grown into a new buffer: the crew reads that one once this returns, and no longer the old one.
    if (!this.closing) native().handshakeCrewTable(this.crew, this.table.words);
    PeerKeyTable.wipeBuffer(replaced);
  }

  /** A peer is gone: its entry (and PSK) is wiped from the shared table; the crew drops its cache of it at the end of the turn. */
  removePeer(publicKey: Uint8Array): void {
    this.table.remove(publicKey);
    if (this.closing) return;
    if (this.forgetCount === 0) setImmediate(() => this.flushForgets());
    if ((this.forgetCount + 1) * KEY_LENGTH > this.forgets.length) {
      const bigger = new Uint8Array(this.forgets.length * 2);
      bigger.set(this.forgets);
      this.forgets = bigger;
    }
    this.forgets.set(publicKey, this.forgetCount++ * KEY_LENGTH);
  }

  /** Tells the crew the removals queued in this turn. */
  private flushForgets(): void {
    if (this.forgetCount === 0 || this.closing) return;
    native().handshakeCrewForget(this.crew, this.forgets.subarray(0, this.forgetCount * KEY_LENGTH));
    this.forgetCount = 0;
    // Public keys only, but a big one need not stay: back to the first size.
    if (this.forgets.length > 64 * KEY_LENGTH) this.forgets = new Uint8Array(64 * KEY_LENGTH);
  }

  /**
   * Queues an initiation (INITIATION_SIZE bytes, MACs checked) for the
   * crew; false when maxInFlight are already waiting (count the drop).
   */
  submit(message: Uint8Array, context: C): boolean {
    if (message.length !== INITIATION_SIZE || this.inFlight >= this.opts.maxInFlight || this.closing) return false;
    if (this.inFlight++ === 0) native().handshakeCrewKeepAlive(this.crew, true);
    if (this.opts.backlog) Atomics.add(this.opts.backlog, 0, 1);
    const at = this.pendingContexts.length * INITIATION_SIZE;
    if (at + INITIATION_SIZE > this.pendingMessages.length) {
      const bigger = new Uint8Array(this.pendingMessages.length * 2);
      bigger.set(this.pendingMessages);
      this.pendingMessages = bigger;
    }
    this.pendingMessages.set(message, at);
    this.pendingContexts.push(context);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Sends what this turn submitted to the crew as one job. */
  private flush(): void {
    this.flushScheduled = false;
    this.flushForgets();
    const contexts = this.pendingContexts;
    if (contexts.length === 0 || this.closing) return;
    this.pendingContexts = [];
    const seq = (this.seq = (this.seq + 1) >>> 0);
    this.batches.set(seq, contexts);
    native().handshakeCrewSubmit(this.crew, seq, this.pendingMessages.subarray(0, contexts.length * INITIATION_SIZE));
  }

  /**
   * A job's answers (the crew's thread-safe callback): handled together
   * with whatever else arrives in this turn of the event loop, in one task,
   * so the device's per-task costs (the workers' wake, one sendmmsg) are
   * paid once for all of them.
   */
  private arrive(a: Arrived): void {
    this.arrived.push(a);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drainArrived());
    }
  }

  private drainArrived(): void {
    this.drainScheduled = false;
    const arrived = this.arrived;
    this.arrived = [];
    const handle = (): void => {
      for (const a of arrived) this.onResults(a);
    };
    if (this.opts.handleAnswers) this.opts.handleAnswers(handle);
    else handle();
  }

  private onResults(a: Arrived): void {
    const contexts = this.batches.get(a.seq);
    const rec = a.records;
    if (!contexts) {
      rec.fill(0); // the pool closed meanwhile
      return;
    }
    this.batches.delete(a.seq);
    const n = contexts.length;
    this.inFlight -= n;
    if (this.inFlight === 0) native().handshakeCrewKeepAlive(this.crew, false);
    if (this.opts.backlog) Atomics.sub(this.opts.backlog, 0, n);
    const view = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    for (let i = 0; i < n; i++) {
      const status = a.statuses[i]!;
      if (status !== 0) {
        this.opts.onResult(CREW_STATUS_REASONS[status] ?? 'handshake-decrypt-failed', contexts[i]!);
        continue;
      }
      const at = i * AnswerRecord.size;
      // Keys that changed while the initiation was in flight (identity, the peer's PSK, the peer gone): its
      // answer used the old ones. The record names the initiator's key; its entry must still be the one used.
      const remoteStatic = rec.subarray(at + AnswerRecord.remoteStatic, at + AnswerRecord.remoteStatic + KEY_LENGTH);
      if (
        view.getUint32(at + AnswerRecord.generation, true) !== this.generation ||
        this.table.lookup(remoteStatic) !== view.getUint32(at + AnswerRecord.version, true)
      ) {
        this.opts.onResult('unknown-peer', contexts[i]!);
        continue;
      }
      const keys = at + AnswerRecord.keys;
      this.opts.onResult(
        {
          initiatorHex: keyToHex(remoteStatic),
          remoteIndex: view.getUint32(at + AnswerRecord.remoteIndex, true),
          remoteStatic,
          timestamp: rec.subarray(at + AnswerRecord.timestamp, at + AnswerRecord.timestamp + TAI64N_LENGTH),
          response: rec.subarray(at + AnswerRecord.response, at + AnswerRecord.response + RESPONSE_SIZE),
          sendKey: rec.subarray(keys, keys + KEY_LENGTH),
          receiveKey: rec.subarray(keys + KEY_LENGTH, keys + 2 * KEY_LENGTH),
        },
        contexts[i]!,
      );
    }
    // The handler copied what it keeps (keypairs, the responses into frames): the keys go now.
    rec.fill(0);
  }

  /** Stops the crew (joins its threads); what is in flight is dropped; every key is wiped. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.opts.backlog && this.inFlight > 0) Atomics.sub(this.opts.backlog, 0, this.inFlight);
    this.inFlight = 0;
    this.batches.clear();
    this.pendingContexts = [];
    native().handshakeCrewClose(this.crew);
    // No thread is left to read the table: the PSKs go.
    this.table.wipe();
  }
}
