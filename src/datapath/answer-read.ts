/**
 * Whether to read the TUN right after a wake that wrote into it, without
 * waiting in poll first.
 *
 * Why: a packet written into the TUN is often answered at once. The kernel
 * processes what the write hands it before the write returns (a ping's echo
 * reply, a TCP segment's ACK), so the answer is already queued on the TUN
 * when the worker is done with its receive burst. Reading it then saves the
 * worker a poll and a pass of its loop on the path of that answer. But where
 * nothing answers through the TUN (the pinging side: ping takes its reply
 * from its own socket), the read finds nothing, every time. So the worker
 * tries, and after an empty read lets a growing number of writing wakes pass
 * (1, 2, 4, … up to MAX_SKIP) before it tries again; a read that finds a
 * packet makes it try at every writing wake again.
 *
 * Threading: one per worker, its own thread's.
 */

/** The most writing wakes let pass between tries after empty reads. */
const MAX_SKIP = 64;

export class AnswerRead {
  /** Writing wakes still to let pass before the next try. */
  private skip = 0;
  /** How many wakes to let pass after the next empty read. */
  private backoff = 1;

  /** XDPWG_ANSWER_READ=0 turns it off (to measure with and without). */
  constructor(private readonly enabled = true) {}

  /** A wake wrote packets into the TUN and poll did not say it is readable: read it now? */
  shouldTry(): boolean {
    if (!this.enabled) return false;
    if (this.skip === 0) return true;
    this.skip--;
    return false;
  }

  /** The outcome of a try: whether the read found a packet. */
  found(packets: number): void {
    if (packets > 0) {
      this.backoff = 1;
      return;
    }
    this.skip = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_SKIP);
  }
}
