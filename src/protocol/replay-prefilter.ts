/**
 * The crypto thread's replay pre-check (see ReplayPrefilter). Its own file:
 * a crypto thread needs it without the rest of noise-responder.ts.
 *
 * Threading: one instance per thread.
 */
/**
 * A thread's own memory of the greatest timestamp it answered per
 * initiator, to skip writing responses the owner will refuse as replays. A
 * genuine initiator never repeats a timestamp (each initiation takes a new
 * one, §5.1), so skipping on "not greater than one already answered here"
 * only ever skips replays; the owner's check stays the authority.
 */
export class ReplayPrefilter {
  private readonly greatest = new Map<string, Uint8Array>();

  /** The greatest timestamp answered for this key here, if any (pass it as KnownInitiator.notAfter). */
  seen(remoteStaticHex: string): Uint8Array | undefined {
    return this.greatest.get(remoteStaticHex);
  }

  /** A response was written for this timestamp (later than any seen). */
  answered(remoteStaticHex: string, timestamp: Uint8Array): void {
    const seen = this.greatest.get(remoteStaticHex);
    if (seen) seen.set(timestamp);
    else this.greatest.set(remoteStaticHex, Uint8Array.from(timestamp));
  }

  /** Forgets a key (its peer was removed). */
  forget(remoteStaticHex: string): void {
    this.greatest.delete(remoteStaticHex);
  }
}
