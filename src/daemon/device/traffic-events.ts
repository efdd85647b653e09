/**
 * The workers' traffic stamps (src/datapath/peer-counters.ts) turned into
 * the timer events of whitepaper §6, in the order the packets went.
 *
 * The main thread reads the stamps once per tick and sees only the latest
 * time of each kind. Order matters: "data sent" arms the new-handshake timer
 * and "authenticated packet received" disarms it; "data received" arms the
 * passive keepalive and "authenticated packet sent" disarms it. A request
 * and its reply inside one tick must leave the timers as if each event had
 * been applied when it happened, so the events go out sorted by their
 * stamps. Stamps are milliseconds: on a tie the sends go first, because the
 * mistakes the two choices can make are not equal: taking a reply for a
 * request (receive before send) re-arms the new-handshake timer and costs a
 * needless handshake 15 s later, while the other order at worst sends one
 * spare keepalive.
 *
 * Main thread only.
 */
import type { Keypair } from '../../protocol/keypair.js';
import type { PeerTimers } from '../../protocol/timers.js';
import type { PeerTraffic } from '../../datapath/peer-counters.js';

/** The stamps already turned into events, per peer (src/daemon/device/peer.ts keeps them). */
export interface SeenStamps {
  seenAuthRx: number;
  seenDataRx: number;
  seenDataTx: number;
  seenAnyTx: number;
}

const enum TrafficEvent {
  dataSent,
  anySent,
  authReceived,
  dataReceived,
}

/**
 * Applies to `timers` the events whose stamps moved since `seen`, oldest
 * first (sends before receives on equal stamps), and records them in `seen`.
 * `current`: the peer's current keypair (the rekey rules look at it).
 */
export function applyTrafficStamps(seen: SeenStamps, t: PeerTraffic, timers: PeerTimers, current: Keypair | undefined): void {
  // At most four events; the enum order is the tie-break order.
  const events: Array<[number, TrafficEvent]> = [];
  if (t.lastDataTxMs > seen.seenDataTx) {
    seen.seenDataTx = t.lastDataTxMs;
    events.push([t.lastDataTxMs, TrafficEvent.dataSent]);
  }
  if (t.lastAnyTxMs > seen.seenAnyTx) {
    seen.seenAnyTx = t.lastAnyTxMs;
    events.push([t.lastAnyTxMs, TrafficEvent.anySent]);
  }
  if (t.lastAuthRxMs > seen.seenAuthRx) {
    seen.seenAuthRx = t.lastAuthRxMs;
    events.push([t.lastAuthRxMs, TrafficEvent.authReceived]);
  }
  if (t.lastDataRxMs > seen.seenDataRx) {
    seen.seenDataRx = t.lastDataRxMs;
    events.push([t.lastDataRxMs, TrafficEvent.dataReceived]);
  }
  if (events.length > 1) events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [, event] of events) {
    switch (event) {
      case TrafficEvent.dataSent:
        timers.dataSent();
        break;
      case TrafficEvent.anySent:
        timers.anyAuthenticatedPacketSent();
        timers.anyAuthenticatedPacketTraversal();
        if (current) timers.transportMessageSent(current);
        break;
      case TrafficEvent.authReceived:
        timers.anyAuthenticatedPacketReceived();
        timers.anyAuthenticatedPacketTraversal();
        if (current) timers.transportMessageReceived(current);
        break;
      case TrafficEvent.dataReceived:
        timers.dataReceived();
        break;
    }
  }
}
