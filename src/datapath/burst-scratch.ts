/**
 * A worker's burst scratch: the descriptor, address and keypair arrays a
 * burst moves through, allocated once per worker and named by the role they
 * play, so that nothing is allocated per packet.
 *
 * Descriptor arrays follow the addon's contract (src/native/binding.ts):
 * desc[2i] = byte offset, desc[2i+1] = length. Address arrays hold one
 * 40-byte record per packet (addr-record.ts); the socket port keeps its
 * own (src/native/port.ts SocketPort.addr).
 *
 * Sharing rule: one thread, one burst at a time. A receive burst and a send
 * burst never interleave (the loop in worker.ts runs one to the end before
 * the next), so the arrays both directions use (crypt*, tunDesc, freeList)
 * never hold two bursts' data at once.
 */
import { BURST_SIZE } from '../native/frames.js';
import type { DataKeypair } from './data-keypair.js';
import { ADDR_RECORD_SIZE } from './addr-record.js';
import { DataBurst } from '../protocol/transport.js';

export class BurstScratch {
  // -- receive (receive.ts)
  /** AF_XDP rx: the frames as the rx ring handed them, before the outer parse. */
  readonly xskRxDesc = new Uint32Array(BURST_SIZE * 2);
  /** AF_XDP rx: every frame of the burst, freed after delivery. */
  readonly xskRxFrames = new Uint32Array(BURST_SIZE);
  /** The WireGuard messages of a receive burst (the UDP payloads). */
  readonly rxMessages = new Uint32Array(BURST_SIZE * 2);
  /** AF_XDP rx: who sent each message of rxMessages (recordFromFrame); the socket port has its own records (Port.addr). */
  readonly rxSenders = new Uint8Array(BURST_SIZE * ADDR_RECORD_SIZE);
  /** Receive: for crypt job j, the index of its message in rxMessages / rxSenders. */
  readonly cryptRxIndex = new Int32Array(BURST_SIZE);

  // -- both directions
  /** The data messages to open (receive) or plaintexts to seal (send), one crypt job each. */
  readonly cryptDesc = new Uint32Array(BURST_SIZE * 2);
  /** The keypair of each crypt job. */
  readonly cryptKeys: Array<DataKeypair | undefined> = new Array<DataKeypair | undefined>(BURST_SIZE);
  /** The burst handed to the AEAD (src/protocol/transport.ts), built from the crypt jobs. */
  readonly crypt = new DataBurst(BURST_SIZE);
  /** TUN reads (send: empty frames to fill) and writes (receive: inner packets to deliver). */
  readonly tunDesc = new Uint32Array(BURST_SIZE * 2);
  /** Frame offsets to hand back to a port's pool with one freeFrames call. */
  readonly freeList = new Uint32Array(BURST_SIZE);

  // -- send (send.ts)
  /** Send: the peer slot of each crypt job. */
  readonly cryptSlot = new Int32Array(BURST_SIZE);
  /** Sealed messages for the kernel UDP socket (their endpoints go in the port's records, Port.addr). */
  readonly udpTxDesc = new Uint32Array(BURST_SIZE * 2);
  /** Whole outer frames for the AF_XDP tx ring of the device TUN frames live on. */
  readonly xskTxDesc = new Uint32Array(BURST_SIZE * 2);
  /** One frame taken from another pool (a copy to the socket or to another AF_XDP device). */
  readonly oneFrame = new Uint32Array(1);
  /** The descriptor of one frame sent alone on another AF_XDP device. */
  readonly oneTxDesc = new Uint32Array(2);
}
