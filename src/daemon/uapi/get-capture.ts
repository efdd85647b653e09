/**
 * A `get=1` snapshot of the device taken in one pass into a few big arrays,
 * so that 1,000,000 peers cost no object each: per peer, a reference to its
 * (never changed) public key array, its handshake time and byte counters in
 * one Float64Array, its settings as DeviceSetting.read gives them (kept by
 * reference: read copies what the device changes in place; apply.ts), and
 * its allowed IPs packed into one byte array
 * (src/packet/packed-prefixes.ts). The former snapshot
 * made ~8 objects per peer and kept them all until the answer was written,
 * which made the collector, not the formatting, most of a large `wg show`.
 *
 * Read back through {@link snapshot}: a DeviceSnapshot whose `peers` yields
 * ONE object, refilled for each peer (its `allowedIPs` one refilled prefix),
 * for serializeUapiGet (src/daemon/uapi/protocol.ts), which reads each
 * peer whole before taking the next and keeps none.
 *
 * Threading: main thread; filled by UapiApply (apply.ts captureForGet, or
 * captureForGetInTurns in chunks, each peer whole within one chunk), read
 * while the answer drains.
 */
import type { DeviceSnapshot, PeerSnapshot } from '../config/device-config.js';
import { PEER_SETTING_LIST, setPeerSetting } from '../config/peer-settings.js';
import { PackedPrefixes } from '../../packet/packed-prefixes.js';

/** Float64 words per peer in `numbers`: last handshake (wall-clock ms, 0 = never), rx bytes, tx bytes. */
const NUMBERS = 3;

export class GetCapture {
  private count = 0;
  private readonly publicKeys: Uint8Array[];
  private readonly numbers: Float64Array;
  /** Per setting (PEER_SETTING_LIST's order), per peer: its value, or undefined when not set. */
  private readonly settings: unknown[][];
  /** The allowed IPs of every peer, in peer order. */
  readonly prefixes = new PackedPrefixes(4096);
  /** Per peer: where its allowed IPs end in `prefixes` (they start where the previous peer's end). */
  private readonly prefixEnds: Uint32Array;

  /** `capacity`: how many peers will be added (the device's peer count). */
  constructor(
    readonly capacity: number,
    private readonly device: Omit<DeviceSnapshot, 'peers'>,
  ) {
    this.publicKeys = new Array<Uint8Array>(capacity);
    this.numbers = new Float64Array(capacity * NUMBERS);
    this.settings = PEER_SETTING_LIST.map(() => new Array<unknown>(capacity));
    this.prefixEnds = new Uint32Array(capacity);
  }

  /**
   * Adds a peer; then set its settings ({@link setting}) and push its allowed
   * IPs onto {@link prefixes}, then {@link endPeer}. `publicKey` is kept by
   * reference: it must never change.
   */
  addPeer(publicKey: Uint8Array, lastHandshakeWallMs: number, rxBytes: number, txBytes: number): void {
    if (this.count === this.capacity) throw new RangeError(`a get capture holds ${this.capacity} peers`);
    const i = this.count;
    this.publicKeys[i] = publicKey;
    this.numbers[i * NUMBERS] = lastHandshakeWallMs;
    this.numbers[i * NUMBERS + 1] = rxBytes;
    this.numbers[i * NUMBERS + 2] = txBytes;
  }

  /** The current peer's value of setting `k` (PEER_SETTING_LIST index); kept by reference. */
  setting(k: number, value: unknown): void {
    this.settings[k]![this.count] = value;
  }

  /** Ends the current peer (its allowed IPs are what was pushed since the previous one). */
  endPeer(): void {
    this.prefixEnds[this.count++] = this.prefixes.length;
  }

  /** The captured device, its peers one refilled object (see the top of this file). */
  snapshot(): DeviceSnapshot {
    return { ...this.device, peers: { [Symbol.iterator]: () => this.peers() } };
  }

  private *peers(): Generator<PeerSnapshot, void, undefined> {
    const view: PeerSnapshot = {
      publicKey: new Uint8Array(0),
      lastHandshakeSec: 0,
      lastHandshakeNsec: 0,
      rxBytes: 0,
      txBytes: 0,
      allowedIPs: [],
    };
    let start = 0;
    for (let i = 0; i < this.count; i++) {
      view.publicKey = this.publicKeys[i]!;
      const hs = this.numbers[i * NUMBERS]!;
      view.lastHandshakeSec = hs ? Math.floor(hs / 1000) : 0;
      view.lastHandshakeNsec = hs ? (hs % 1000) * 1_000_000 : 0;
      view.rxBytes = this.numbers[i * NUMBERS + 1]!;
      view.txBytes = this.numbers[i * NUMBERS + 2]!;
      for (let k = 0; k < PEER_SETTING_LIST.length; k++)
        setPeerSetting(view, PEER_SETTING_LIST[k]!.name, this.settings[k]![i] as undefined);
      const end = this.prefixEnds[i]!;
      view.allowedIPs = this.prefixes.range(start, end);
      start = end;
      yield view;
    }
  }
}
