/**
 * A transport keypair as a worker sees it: the shared state
 * (src/protocol/keypair.ts KeypairShared — keys, send counter, flags, replay
 * window) plus the facts the worker checks per burst: which peer slot it
 * belongs to, when it was derived and who initiated it. Sealing and opening
 * are src/protocol/transport.ts's job.
 */
import { KeypairShared } from '../protocol/keypair.js';
import { REJECT_AFTER_TIME_MS } from '../protocol/constants.js';
import type { KeypairWire } from './worker-messages.js';

export class DataKeypair {
  readonly shared: KeypairShared;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly createdMs: number;
  readonly isInitiator: boolean;
  /** The main thread's Keypair.serial. */
  readonly serial: number;

  constructor(
    w: KeypairWire,
    readonly slot: number,
  ) {
    this.shared = new KeypairShared(w.shared);
    this.localIndex = this.shared.localIndex;
    this.remoteIndex = this.shared.remoteIndex;
    this.createdMs = w.createdMs;
    this.isInitiator = w.isInitiator;
    this.serial = w.serial;
  }

  /** Past REJECT_AFTER_TIME or wiped by the main thread: neither sends nor receives (whitepaper §6.1). */
  expired(nowMs: number): boolean {
    return nowMs - this.createdMs >= REJECT_AFTER_TIME_MS || !this.shared.canReceive();
  }

  usableForSending(nowMs: number): boolean {
    return nowMs - this.createdMs < REJECT_AFTER_TIME_MS && this.shared.canSend();
  }
}
