/**
 * Admission of handshake messages, both halves: HandshakeAdmission decides
 * in each worker which messages reach the main thread's queue;
 * MainThreadAdmission (at the end) checks MAC1/MAC2 and the rate limit of
 * those that did, before any Diffie-Hellman.
 *
 * Which handshake messages a worker hands to the main thread (whitepaper
 * §5.3): the queue to the main thread is bounded, and under load nothing an
 * attacker can send without receiving at an address may shut anyone out.
 *
 * The kernel and wireguard-go rate-limit per source only once MAC2 proves
 * the source (the sender received our cookie at that address). Limiting
 * unproven sources instead hands an attacker two keys: spoofing a peer's
 * address uses up that peer's share, and ~65 k spoofed sources a second fill
 * the limiter's table so that no newcomer gets a share at all. So:
 *
 *  - not under load: admitted while the queue has room;
 *  - under load (HandshakeLoadDetector, the main thread's definition: the
 *    backlog reached capacity / 8 less than a second ago):
 *     · MAC2 valid for the message's source (checked here, with the cookie
 *       secret the main thread shares): per-source token bucket
 *       (RATELIMIT_PACKETS_PER_SECOND, burst RATELIMIT_BURST; once the
 *       queue is a quarter full, one message per second, so a few hundred
 *       proven sources cannot keep it full of messages that each cost the
 *       main thread a Diffie-Hellman), then admitted while the queue has room.
 *       A source whose bucket is empty is refused before its MAC2 is even
 *       checked: only proven messages empty a bucket, so such a source is
 *       over its rate by its own doing, and the check's cost is saved;
 *     · otherwise (no MAC2, or a wrong one): no per-source state at all;
 *       admitted while the queue is less than half full, so proven
 *       messages always find the other half. Such a message earns a
 *       cookie reply from the main thread, and the sender's retry carries MAC2.
 *
 * The cookie secret crosses threads in a CookieSecretShare (below).
 * Threading: a HandshakeAdmission belongs to one worker.
 */
import { isAllZero, KEY_LENGTH } from '../crypto/bytes.js';
import { HandshakeRateLimiter } from '../protocol/ratelimiter.js';
import type { Clock } from '../protocol/clock.js';
import { HandshakeLoadDetector } from '../protocol/load-detector.js';
import { mac2Matches, type CookieChecker } from '../protocol/cookie.js';
import { UdpAddrRecord as R } from '../native/udp-port.js';
import { Initiation, MAC_SIZE, MESSAGE_INITIATION, MESSAGE_RESPONSE, Response } from '../protocol/wire.js';
import type { DropReason } from '../packet/drop-reasons.js';

/** Bytes of an address record that name a source for cookies: IP (16) ‖ port (2), as the device's checker uses them. */
const COOKIE_SOURCE_BYTES = 18;
const SEQ_WORD = 0;
const SECRET_BYTE = 8;

/**
 * The device's current cookie secret (whitepaper §5.4.7), shared with the
 * workers so they can check MAC2. One SharedArrayBuffer: Int32 sequence
 * number at byte 0, the 32-byte secret at byte 8.
 *
 * A seqlock, one writer (the main thread, when the secret rotates, every
 * 120 s): publish() makes the sequence odd (Atomics.add), writes the
 * secret, makes it even again. A reader copies the secret between two
 * Atomics.loads of the sequence and keeps the copy only when both read the
 * same even value; otherwise it has no secret this time, and a message
 * counts as unproven (it still reaches the main thread if there is room).
 */
export class CookieSecretShare {
  readonly buffer: SharedArrayBuffer;
  private readonly seq: Int32Array;
  private readonly secret: Uint8Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(SECRET_BYTE + KEY_LENGTH)) {
    this.buffer = buffer;
    this.seq = new Int32Array(buffer, 0, 1);
    this.secret = new Uint8Array(buffer, SECRET_BYTE, KEY_LENGTH);
  }

  /** Main thread: the secret changed. */
  publish(secret: Uint8Array): void {
    Atomics.add(this.seq, SEQ_WORD, 1);
    this.secret.set(secret);
    Atomics.add(this.seq, SEQ_WORD, 1);
  }

  /** Worker: copies the secret into `into` if it changed since `knownSeq`; returns the sequence it holds now (−1: none). */
  readInto(into: Uint8Array, knownSeq: number): number {
    const before = Atomics.load(this.seq, SEQ_WORD);
    if (before === knownSeq) return knownSeq;
    if ((before & 1) !== 0 || before === 0) return -1;
    into.set(this.secret);
    return Atomics.load(this.seq, SEQ_WORD) === before ? before : -1;
  }
}

/** Why admit() refused a message: a proven source over its rate, or no room in the queue. */
export type AdmissionRefusal = Extract<DropReason, 'rx-ratelimited' | 'rx-handshake-queue-full'>;

/** One worker's admission decisions; see the file comment. */
export class HandshakeAdmission {
  private readonly limiter: HandshakeRateLimiter;
  /** The same, once the queue is a quarter full. */
  private readonly tightLimiter: HandshakeRateLimiter;
  private readonly secret = new Uint8Array(KEY_LENGTH);
  private secretSeq = -1;
  /** "Under load" as the main thread decides it (load-detector.ts), over the same shared backlog. */
  private readonly load: HandshakeLoadDetector;

  /**
   * @param backlog Int32 word 0: messages posted to the main thread and not yet taken (shared; Atomics)
   * @param capacity the queue bound
   */
  constructor(
    private readonly backlog: Int32Array,
    private readonly capacity: number,
    private readonly share: CookieSecretShare,
    clock: Clock,
  ) {
    this.limiter = new HandshakeRateLimiter(clock);
    this.load = new HandshakeLoadDetector(clock, capacity);
    this.tightLimiter = new HandshakeRateLimiter(clock, { packetsPerSecond: 1, burst: 1 });
  }

  /**
   * Decides for a handshake message buf[off, off+len) (type 1 or 2 of the
   * exact size; a cookie reply, type 3, has no MACs) from the source in
   * addr[at, at + ADDR_RECORD_SIZE). When admitted, the backlog is already
   * counted: the caller posts the message (and the main thread takes it off).
   * Null when admitted, else the drop reason.
   */
  admit(buf: Uint8Array, off: number, len: number, addr: Uint8Array, at: number): AdmissionRefusal | null {
    const backlog = Atomics.load(this.backlog, 0);
    let limit = this.capacity;
    if (this.load.underLoad(backlog)) {
      const limiter = backlog >= this.capacity / 4 ? this.tightLimiter : this.limiter;
      const family = familyOf(addr, at),
        ipAt = ipOffset(addr, at);
      if (!limiter.hasCredit(family, addr, ipAt)) return 'rx-ratelimited';
      if (this.mac2Proves(buf, off, len, addr, at)) {
        if (!limiter.allow(family, addr, ipAt)) return 'rx-ratelimited';
      } else {
        limit = this.capacity / 2;
      }
    }
    if (Atomics.add(this.backlog, 0, 1) >= limit) {
      Atomics.sub(this.backlog, 0, 1);
      return 'rx-handshake-queue-full';
    }
    return null;
  }

  /** Whether the message carries a MAC2 made with our current cookie for its source. */
  private mac2Proves(buf: Uint8Array, off: number, len: number, addr: Uint8Array, at: number): boolean {
    const type = buf[off];
    const mac2At = type === MESSAGE_INITIATION ? Initiation.mac2 : type === MESSAGE_RESPONSE ? Response.mac2 : -1;
    if (mac2At < 0 || len < mac2At + MAC_SIZE) return false;
    if (isAllZero(buf.subarray(off + mac2At, off + mac2At + MAC_SIZE))) return false;
    this.secretSeq = this.share.readInto(this.secret, this.secretSeq);
    if (this.secretSeq < 0) return false;
    return mac2Matches(this.secret, addr.subarray(at, at + COOKIE_SOURCE_BYTES), buf.subarray(off, off + len), mac2At);
  }
}

/**
 * The main thread's half of admission, for a message a worker admitted
 * (whitepaper §5.3, §5.4.7): MAC1 always; under load (the same
 * HandshakeLoadDetector definition as the workers') a valid MAC2, else the
 * sender gets a cookie reply, and the per-source rate limit. Main thread only.
 */
export class MainThreadAdmission {
  private readonly rateLimiter: HandshakeRateLimiter;
  private readonly load: HandshakeLoadDetector;

  constructor(clock: Clock) {
    this.rateLimiter = new HandshakeRateLimiter(clock);
    this.load = new HandshakeLoadDetector(clock);
  }

  /**
   * For a handshake message `msg` from the address record `addr`, with
   * `backlog` messages queued: null to process it, or why not. 'need-cookie'
   * and 'bad-mac2' ask the caller to answer with checker.createReply. A
   * cookie reply (type 3) carries no MACs and always passes; it still samples
   * the backlog, so the load state is the same whatever the message mix.
   */
  check(checker: CookieChecker, msg: Uint8Array, addr: Uint8Array, backlog: number): DropReason | null {
    const underLoad = this.load.underLoad(backlog);
    const type = msg[0];
    if (type !== MESSAGE_INITIATION && type !== MESSAGE_RESPONSE) return null;
    const verdict = checker.validate(msg, addr.subarray(0, COOKIE_SOURCE_BYTES), underLoad);
    if (verdict !== 'ok') return verdict;
    if (underLoad && !this.rateLimiter.allow(familyOf(addr, 0), addr, ipOffset(addr, 0))) return 'rx-ratelimited';
    return null;
  }
}

/** The IP family of the address record at addr[at]. */
function familyOf(addr: Uint8Array, at: number): 4 | 6 {
  return addr[at + R.family] === 4 ? 4 : 6;
}

/** Where the remote IP of the address record at addr[at] starts (4 bytes for IPv4, 16 for IPv6). */
function ipOffset(addr: Uint8Array, at: number): number {
  return at + (addr[at + R.family] === 4 ? R.remoteIpv4 : R.remoteIp);
}
