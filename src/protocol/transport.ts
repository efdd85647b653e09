/**
 * Transport data messages (whitepaper §5.4.6), sealed and opened in place in
 * packet memory, a burst at a time.
 *
 * A data message is
 *   type 4 (1) ‖ 3 zero bytes ‖ receiver index (4, LE) ‖ counter (8, LE) ‖ AEAD(plaintext padded to 16) ‖ tag (16)
 * and the AEAD nonce is 4 zero bytes ‖ counter (LE). A keepalive is the same
 * message with an empty plaintext.
 *
 * Sending (per burst):
 *  1. check each packet: keypair usable, 16 bytes of headroom before the
 *     plaintext for the header, room after it for padding and tag;
 *  2. zero-pad the plaintext to a multiple of 16, never past the MTU;
 *  3. reserve counters, one Atomics.add per run of packets on one keypair,
 *     refusing counters at REJECT_AFTER_MESSAGES (§6.1);
 *  4. write the header into the headroom;
 *  5. seal all plaintexts in place with one backend call;
 *  6. re-check each keypair's flags: a burst whose keypair was retired while
 *     it was being sealed is dropped, not sent (the keys it used were still
 *     intact: ./key-retirement.ts zeroes them only after every worker moved on).
 * Receiving (per burst):
 *  1. exact header checks: length ≥ 32, type 4 with zero reserved bytes, the
 *     receiver index of the keypair the caller looked up, counter in range;
 *  2. open all in place with one backend call;
 *  3. only for authenticated packets, and in order: the replay window's
 *     check-and-update (after authentication, so forgeries cannot poison it).
 * Failures are never thrown: each packet gets a result (negative = a
 * 'seal-…'/'open-…' DropReason, see dropOf), which the caller counts.
 *
 * The inner-packet checks that follow decryption (IP length against the
 * plaintext, source address against allowed IPs) belong to the receive path.
 *
 * With the native AEAD backend these steps run in C, the whole burst in one
 * call (native/data_transport.h, the backend's wholeBurst): the daemon's
 * threads use that. The JavaScript below is the same algorithm: the fallback
 * without the addon, and the reference the tests compare the native call
 * with (test/unit/transport-native.test.ts); XDPWG_DATA_TRANSPORT=js selects
 * it in the daemon.
 *
 * Threading: a DataTransport (and its bursts) belongs to one thread; the
 * keypairs' shared buffers may be used by several threads at once.
 */
import { REJECT_AFTER_MESSAGES } from './constants.js';
import { DATA_HEADER_SIZE, DATA_MIN_SIZE, Data, MESSAGE_DATA, TAG_SIZE, paddedLength, readU32, writeU32 } from './wire.js';
import { DROP_CODE, reasonOfCode, type DropReason } from '../packet/drop-reasons.js';
import { KEY_LENGTH } from '../crypto/bytes.js';
import { AeadBurst, AeadStatus, nodeCryptoAeadBurst, type AeadBurstBackend } from '../crypto/aead-burst.js';
import { KeypairFlag, type KeypairShared } from './keypair.js';
import { counterIsExhausted } from './replay-window.js';
import type { NativeTransportBurstFn } from '../native/binding.js';

/**
 * Why a message was not sealed or opened (src/packet/drop-reasons.ts, the
 * 'seal-…' and 'open-…' reasons): results hold the reason's DROP_CODE negated,
 * so a burst's results stay one Int32Array. Read one back with dropOf.
 */
const SEAL_KEYPAIR_UNUSABLE = -DROP_CODE['seal-keypair-unusable'];
const SEAL_NO_HEADROOM = -DROP_CODE['seal-no-headroom'];
const SEAL_NO_TAILROOM = -DROP_CODE['seal-no-tailroom'];
const SEAL_COUNTER_EXHAUSTED = -DROP_CODE['seal-counter-exhausted'];
const SEAL_AEAD_FAILED = -DROP_CODE['seal-aead-failed'];
const SEAL_KEYPAIR_RETIRED = -DROP_CODE['seal-keypair-retired'];
const OPEN_OUT_OF_BOUNDS = -DROP_CODE['open-out-of-bounds'];
const OPEN_TOO_SHORT = -DROP_CODE['open-too-short'];
const OPEN_BAD_HEADER = -DROP_CODE['open-bad-header'];
const OPEN_WRONG_RECEIVER_INDEX = -DROP_CODE['open-wrong-receiver-index'];
const OPEN_KEYPAIR_UNUSABLE = -DROP_CODE['open-keypair-unusable'];
const OPEN_COUNTER_EXHAUSTED = -DROP_CODE['open-counter-exhausted'];
const OPEN_AEAD_FAILED = -DROP_CODE['open-aead-failed'];
const OPEN_AUTH_FAILED = -DROP_CODE['open-auth-failed'];
const OPEN_REPLAY = -DROP_CODE['open-replay'];

/** Why the packet with this result (of seal, open, or a burst) was dropped; null when it was not. */
export function dropOf(result: number): DropReason | null {
  return result >= 0 ? null : reasonOfCode(-result);
}

/**
 * A burst of data messages to seal or open: preallocated, reused.
 * Seal: offset/length give the plaintext; its header goes in the 16 bytes
 * before it; result[i] is the message length (the message starts at
 * offset − 16). Open: offset/length give the whole message; result[i] is the
 * plaintext length (the plaintext starts at offset + 16, padding included).
 * A negative result is a drop (dropOf says why).
 */
export class DataBurst {
  /** Packets the burst has room for. */
  readonly capacity: number;
  /** Packets in the burst. */
  count = 0;
  /** The packet memory (a UMEM or frame buffer view). */
  buffer: Uint8Array = new Uint8Array(0);
  /** Per packet: byte offset in `buffer` (see the class comment). */
  readonly offset: Uint32Array;
  /** Per packet: byte length (see the class comment). */
  readonly length: Uint32Array;
  /** The same, interleaved (offset, length) per packet: as the native whole burst reads them. */
  readonly desc: Uint32Array;
  /** Per packet: the keypair to use. */
  readonly keypairs: (KeypairShared | undefined)[];
  /** Per packet after the call: length, or a negative drop code (dropOf). */
  readonly result: Int32Array;
  /**
   * Open only, per packet: 1 when this was the first message ever
   * authenticated with its keypair. The main thread must hear of it: it
   * confirms a responder's "next" keypair (KeypairSet.received).
   */
  readonly firstReceipt: Uint8Array;
  /** The descriptors handed to the AEAD backend. */
  readonly aead: AeadBurst;
  /** aead packet j is burst packet aeadToPacket[j]. */
  readonly aeadToPacket: Uint16Array;
  /** Which keypair owns each entry of the AEAD key table. */
  readonly keyOwners: (KeypairShared | undefined)[];
  /**
   * The burst's distinct keypairs (first keypairCount entries; a burst has few) and their
   * regions, and per packet the index of its keypair there: what the native whole-burst
   * transport reads. Filled by add, so neither path looks keypairs up again.
   */
  readonly owners: (KeypairShared | undefined)[];
  readonly regions: Uint8Array[];
  readonly keypairOf: Uint16Array;
  keypairCount = 0;
  private lastOwner = -1;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
    this.desc = new Uint32Array(2 * capacity);
    this.keypairs = new Array<KeypairShared | undefined>(capacity).fill(undefined);
    this.result = new Int32Array(capacity);
    this.firstReceipt = new Uint8Array(capacity);
    this.aead = new AeadBurst(capacity);
    this.aeadToPacket = new Uint16Array(capacity);
    this.keyOwners = new Array<KeypairShared | undefined>(capacity).fill(undefined);
    this.owners = new Array<KeypairShared | undefined>(capacity).fill(undefined);
    this.regions = new Array<Uint8Array>(capacity).fill(NO_REGION);
    this.keypairOf = new Uint16Array(capacity);
  }

  /** Starts an empty burst over `buffer`. */
  reset(buffer: Uint8Array): void {
    this.buffer = buffer;
    this.count = 0;
    this.keypairCount = 0;
    this.lastOwner = -1;
  }

  /** Appends a packet; returns its index, or −1 when the burst is full. */
  add(keypair: KeypairShared, offset: number, length: number): number {
    if (this.count === this.capacity) return -1;
    const i = this.count++;
    this.keypairs[i] = keypair;
    this.offset[i] = offset;
    this.length[i] = length;
    this.desc[2 * i] = offset;
    this.desc[2 * i + 1] = length;
    this.result[i] = 0;
    this.firstReceipt[i] = 0;
    let k = this.lastOwner;
    if (k < 0 || this.owners[k] !== keypair) {
      k = 0;
      while (k < this.keypairCount && this.owners[k] !== keypair) k++;
      if (k === this.keypairCount) {
        this.owners[k] = keypair;
        this.regions[k] = keypair.region;
        this.keypairCount++;
      }
      this.lastOwner = k;
    }
    this.keypairOf[i] = k;
    return i;
  }

  /** Runs the burst through the native whole burst `fn` (seal: last = the MTU; open: firstReceipt), then forgets its keypairs. */
  runWhole<Last>(fn: NativeTransportBurstFn<Last>, last: Last): number {
    const done = fn(
      this.buffer,
      this.desc,
      this.count,
      this.regions,
      this.keypairCount,
      this.keypairOf,
      this.result,
      TRANSPORT_CODES,
      last,
    );
    this.forgetKeypairs();
    return done;
  }

  /** Drops the burst's references to its keypairs (a retired one is not kept alive by a quiet worker). */
  forgetKeypairs(): void {
    for (let k = 0; k < this.keypairCount; k++) {
      this.owners[k] = undefined;
      this.regions[k] = NO_REGION;
    }
    this.keypairCount = 0;
    this.lastOwner = -1;
  }
}

const NO_REGION = new Uint8Array(0);

/**
 * The TransportStatus order of native/data_transport.h: the native whole burst writes
 * TRANSPORT_CODES[status] as a refused packet's result, the same value the steps below write.
 */
const TRANSPORT_STATUS_REASONS: readonly DropReason[] = [
  'seal-keypair-unusable',
  'seal-no-headroom',
  'seal-no-tailroom',
  'seal-counter-exhausted',
  'seal-aead-failed',
  'seal-keypair-retired',
  'open-out-of-bounds',
  'open-too-short',
  'open-bad-header',
  'open-wrong-receiver-index',
  'open-keypair-unusable',
  'open-counter-exhausted',
  'open-aead-failed',
  'open-auth-failed',
  'open-replay',
];
const TRANSPORT_CODES = Int32Array.from(TRANSPORT_STATUS_REASONS, (r) => -DROP_CODE[r]);

/** Seals and opens data messages with one AEAD backend; the caller counts each refused packet under its reason (datapath/receive.ts, send.ts). */
export class DataTransport {
  /** The AEAD in use. */
  readonly backend: AeadBurstBackend;
  private readonly single = new DataBurst(1);

  constructor(backend: AeadBurstBackend = nodeCryptoAeadBurst) {
    this.backend = backend;
  }

  /**
   * Seals every packet of the burst (see DataBurst). `mtu` is the tunnel MTU
   * that bounds padding. Returns how many were sealed.
   */
  sealBurst(burst: DataBurst, mtu: number): number {
    const whole = this.backend.wholeBurst;
    if (whole) {
      return burst.runWhole(whole.seal, mtu);
    }
    const buffer = burst.buffer;
    // 1–2. Per-packet checks and padding.
    for (let i = 0; i < burst.count; i++) {
      const keypair = burst.keypairs[i]!;
      const offset = burst.offset[i]!;
      const length = burst.length[i]!;
      const padded = paddedLength(length, mtu);
      let drop = 0;
      if (!keypair.canSend()) drop = SEAL_KEYPAIR_UNUSABLE;
      else if (offset < DATA_HEADER_SIZE) drop = SEAL_NO_HEADROOM;
      else if (offset + padded + TAG_SIZE > buffer.length) drop = SEAL_NO_TAILROOM;
      if (drop !== 0) {
        burst.result[i] = drop;
        continue;
      }
      buffer.fill(0, offset + length, offset + padded);
      burst.result[i] = padded; // provisional: the padded plaintext length
    }
    // 3–4. Counters (one reservation per run of one keypair) and headers.
    const aead = burst.aead;
    aead.reset(buffer);
    for (let i = 0; i < burst.count;) {
      if (burst.result[i]! < 0) {
        i++;
        continue;
      }
      const keypair = burst.keypairs[i]!;
      let runEnd = i;
      let wanted = 0;
      while (runEnd < burst.count && (burst.result[runEnd]! < 0 || burst.keypairs[runEnd] === keypair)) {
        if (burst.result[runEnd]! >= 0) wanted++;
        runEnd++;
      }
      const base = keypair.reserveSendCounters(wanted);
      let lo = 0;
      let hi = 0;
      let exhausted = base >= REJECT_AFTER_MESSAGES;
      if (!exhausted) {
        lo = Number(base & 0xffff_ffffn);
        hi = Number(base >> 32n);
      }
      const keyIndex = this.keyIndexFor(burst, keypair, keypair.sendKey);
      const remoteIndex = keypair.remoteIndex;
      for (let k = i; k < runEnd; k++) {
        if (burst.result[k]! < 0) continue;
        if (exhausted || counterIsExhausted(lo, hi)) {
          exhausted = true;
          keypair.setFlags(KeypairFlag.sendExhausted);
          burst.result[k] = SEAL_COUNTER_EXHAUSTED;
          continue;
        }
        const offset = burst.offset[k]!;
        writeHeader(buffer, offset - DATA_HEADER_SIZE, remoteIndex, lo, hi);
        const j = aead.count++;
        aead.desc[2 * j] = offset;
        aead.desc[2 * j + 1] = burst.result[k]!;
        aead.keyIndex[j] = keyIndex;
        aead.counters[2 * j] = lo;
        aead.counters[2 * j + 1] = hi;
        burst.aeadToPacket[j] = k;
        if (++lo === 0x1_0000_0000) {
          lo = 0;
          hi++;
        }
      }
      i = runEnd;
    }
    // 5. One backend call for the burst.
    if (aead.count > 0) aead.sealWith(this.backend);
    // 6. Re-check after sealing (see the file comment).
    let sealed = 0;
    for (let j = 0; j < aead.count; j++) {
      const k = burst.aeadToPacket[j]!;
      if (burst.keypairs[k]!.isRetired()) {
        burst.result[k] = SEAL_KEYPAIR_RETIRED;
      } else if (aead.status[j] === AeadStatus.ok) {
        burst.result[k] = DATA_HEADER_SIZE + burst.result[k]! + TAG_SIZE;
        sealed++;
      } else {
        burst.result[k] = SEAL_AEAD_FAILED;
      }
    }
    this.finish(burst);
    return sealed;
  }

  /** Opens every message of the burst (see DataBurst). Returns how many were accepted. */
  openBurst(burst: DataBurst): number {
    const whole = this.backend.wholeBurst;
    if (whole) {
      return burst.runWhole(whole.open, burst.firstReceipt);
    }
    const buffer = burst.buffer;
    const aead = burst.aead;
    aead.reset(buffer);
    // 1. Exact header checks.
    for (let i = 0; i < burst.count; i++) {
      const keypair = burst.keypairs[i]!;
      const o = burst.offset[i]!;
      const length = burst.length[i]!;
      let drop = 0;
      if (o + length > buffer.length) drop = OPEN_OUT_OF_BOUNDS;
      else if (length < DATA_MIN_SIZE) drop = OPEN_TOO_SHORT;
      else if (readU32(buffer, o + Data.type) !== MESSAGE_DATA)
        drop = OPEN_BAD_HEADER; // type 4, reserved bytes zero
      else if (readU32(buffer, o + Data.receiver) !== keypair.localIndex) drop = OPEN_WRONG_RECEIVER_INDEX;
      else if (!keypair.canReceive()) drop = OPEN_KEYPAIR_UNUSABLE;
      if (drop !== 0) {
        burst.result[i] = drop;
        continue;
      }
      const lo = readU32(buffer, o + Data.counter);
      const hi = readU32(buffer, o + Data.counter + 4);
      if (counterIsExhausted(lo, hi)) {
        burst.result[i] = OPEN_COUNTER_EXHAUSTED;
        continue;
      }
      const j = aead.count++;
      aead.desc[2 * j] = o + DATA_HEADER_SIZE;
      aead.desc[2 * j + 1] = length - DATA_MIN_SIZE;
      aead.keyIndex[j] = this.keyIndexFor(burst, keypair, keypair.receiveKey);
      aead.counters[2 * j] = lo;
      aead.counters[2 * j + 1] = hi;
      burst.aeadToPacket[j] = i;
    }
    // 2. One backend call for the burst.
    if (aead.count > 0) aead.openWith(this.backend);
    // 3. Replay window, after authentication, in arrival order.
    let accepted = 0;
    for (let j = 0; j < aead.count; j++) {
      const i = burst.aeadToPacket[j]!;
      const status = aead.status[j];
      if (status !== AeadStatus.ok) {
        burst.result[i] = status === AeadStatus.authFailed ? OPEN_AUTH_FAILED : OPEN_AEAD_FAILED;
        continue;
      }
      const keypair = burst.keypairs[i]!;
      if (!keypair.replay.checkAndUpdate(aead.counters[2 * j]!, aead.counters[2 * j + 1]!)) {
        burst.result[i] = OPEN_REPLAY;
        continue;
      }
      if ((keypair.flags & KeypairFlag.received) === 0) {
        burst.firstReceipt[i] = (keypair.setFlags(KeypairFlag.received) & KeypairFlag.received) === 0 ? 1 : 0;
      }
      burst.result[i] = aead.desc[2 * j + 1]!;
      accepted++;
    }
    this.finish(burst);
    return accepted;
  }

  /**
   * Seals one packet: plaintext at buffer[offset, offset+length) with 16
   * bytes of headroom before it. Returns the message length (the message
   * starts at offset − 16), or a negative drop code (dropOf).
   */
  seal(keypair: KeypairShared, buffer: Uint8Array, offset: number, length: number, mtu: number): number {
    const burst = this.single;
    burst.reset(buffer);
    burst.add(keypair, offset, length);
    this.sealBurst(burst, mtu);
    return burst.result[0]!;
  }

  /**
   * Opens one message at buffer[offset, offset+length). Returns the plaintext
   * length (plaintext at offset + 16; 0 is a keepalive), or a negative drop code (dropOf).
   * `firstReceipt` of the single burst is available via lastFirstReceipt.
   */
  open(keypair: KeypairShared, buffer: Uint8Array, offset: number, length: number): number {
    const burst = this.single;
    burst.reset(buffer);
    burst.add(keypair, offset, length);
    this.openBurst(burst);
    return burst.result[0]!;
  }

  /** Whether the last open() was the first message authenticated with its keypair. */
  get lastFirstReceipt(): boolean {
    return this.single.firstReceipt[0] === 1;
  }

  /** Index of `keypair`'s key in the burst's AEAD key table, copying it in on first use. */
  private keyIndexFor(burst: DataBurst, keypair: KeypairShared, key: Uint8Array): number {
    const aead = burst.aead;
    for (let k = 0; k < aead.keyCount; k++) if (burst.keyOwners[k] === keypair) return k;
    const k = aead.keyCount++;
    burst.keyOwners[k] = keypair;
    aead.keys.set(key, k * KEY_LENGTH);
    return k;
  }

  /** Wipes the burst's copies of keys. */
  private finish(burst: DataBurst): void {
    for (let k = 0; k < burst.aead.keyCount; k++) burst.keyOwners[k] = undefined;
    burst.aead.wipeKeys();
  }
}

/** type 4 ‖ 0 0 0 ‖ receiver index LE ‖ counter LE (§5.4.6). */
function writeHeader(buffer: Uint8Array, o: number, receiverIndex: number, counterLo: number, counterHi: number): void {
  writeU32(buffer, o + Data.type, MESSAGE_DATA);
  writeU32(buffer, o + Data.receiver, receiverIndex);
  writeU32(buffer, o + Data.counter, counterLo);
  writeU32(buffer, o + Data.counter + 4, counterHi);
}
