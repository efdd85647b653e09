/**
 * MAC1, MAC2 and cookies (whitepaper §5.3 and §5.4.4, §5.4.7): the DoS
 * defence around handshake messages.
 *
 * - MAC1 = MAC(HASH("mac1----" ‖ receiver's public key), msg up to mac1)
 *   proves the sender knows our public key; checked on every handshake
 *   message, cheaply, before any Diffie-Hellman.
 * - Under load, a handshake message must also carry
 *   MAC2 = MAC(cookie, msg up to mac2), where the cookie is
 *   MAC(R, source IP ‖ port) and R a secret we rotate every 120 s. A sender
 *   without a valid MAC2 gets a cookie reply instead of a handshake: the
 *   cookie encrypted with XChaCha20-Poly1305 under HASH("cookie--" ‖ our
 *   public key), a random 24-byte nonce, and the message's MAC1 as AD (so
 *   only the sender of that message can use the reply).
 *
 * CookieChecker is the receiving side (one per device, our key);
 * CookieGenerator the sending side (one per peer, the peer's key).
 * Threading: main thread only. Time comes from the Clock passed in.
 */
import { randomFillSync } from 'node:crypto';
import { hash, mac } from '../crypto/blake2s.js';
import { xaeadOpen, xaeadSeal } from '../crypto/aead.js';
import { equalConstantTime, isAllZero, wipe, KEY_LENGTH } from '../crypto/bytes.js';
import type { Clock } from './clock.js';
import {
  COOKIE_NONCE_SIZE,
  COOKIE_REPLY_SIZE,
  CookieReply,
  Initiation,
  MAC_SIZE,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  Response,
  classify,
  readU32,
  writeType,
  writeU32,
} from './wire.js';
import type { DropReason } from '../packet/drop-reasons.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Label of the MAC1 key derivation (whitepaper §5.4.4). */
export const LABEL_MAC1 = utf8('mac1----');
/** Label of the cookie-reply key derivation (whitepaper §5.4.7). */
export const LABEL_COOKIE = utf8('cookie--');
/** The cookie secret is replaced after this long, and a received cookie is used for this long (whitepaper §6.1: 120 s). */
export const COOKIE_SECRET_MAX_AGE_MS = 120_000;

/** HASH("mac1----" ‖ public key): the key for MAC1 of messages sent to that key's owner. */
export function mac1Key(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_MAC1, publicKey);
}

/** HASH("cookie--" ‖ public key): the key for cookie replies sent by that key's owner. */
export function cookieKey(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_COOKIE, publicKey);
}

/** Outcome of checking a handshake message's MACs. */
export type MacValidation = 'ok' | 'bad-mac1' | 'need-cookie' | 'bad-mac2';

/** True when validate's result asks for a cookie reply (MAC2 missing or stale). */
export function needsCookieReply(result: MacValidation): boolean {
  return result === 'need-cookie' || result === 'bad-mac2';
}

/** Offsets of mac1 and mac2 in a handshake message, or null when msg is not one (wrong type or size). */
function macOffsets(msg: Uint8Array): { mac1: number; mac2: number } | null {
  switch (classify(msg)) {
    case MESSAGE_INITIATION:
      return { mac1: Initiation.mac1, mac2: Initiation.mac2 };
    case MESSAGE_RESPONSE:
      return { mac1: Response.mac1, mac2: Response.mac2 };
    default:
      return null;
  }
}

/**
 * Whether the MAC2 at msg[mac2At, mac2At + 16) was made with the cookie of
 * `source` under the cookie secret `secret`: MAC(MAC(secret, source), msg up
 * to mac2) (whitepaper §5.4.4, §5.4.7). Constant-time. The one MAC2 check:
 * the main thread's CookieChecker and the workers' admission
 * (src/datapath/handshake-admission.ts, with the secret the main thread
 * shares) both call it.
 */
export function mac2Matches(secret: Uint8Array, source: Uint8Array, msg: Uint8Array, mac2At: number): boolean {
  const cookie = mac(secret, source);
  const ok = equalConstantTime(mac(cookie, msg.subarray(0, mac2At)), msg.subarray(mac2At, mac2At + MAC_SIZE));
  wipe(cookie);
  return ok;
}

/**
 * An opaque, canonical byte string naming a UDP source for cookies: the
 * address text as the socket layer reports it, then the port big-endian.
 * Any injective encoding works, because only we ever compute cookies for our
 * own secret; the datapath may pass raw address bytes ‖ port instead.
 */
export function sourceBytes(address: string, port: number): Uint8Array {
  const text = utf8(address);
  const out = new Uint8Array(text.length + 2);
  out.set(text);
  out[text.length] = (port >>> 8) & 0xff;
  out[text.length + 1] = port & 0xff;
  return out;
}

/**
 * The receiving side: checks MAC1/MAC2 of handshake messages sent to us and
 * makes cookie replies. One per device.
 */
export class CookieChecker {
  private mac1KeyBytes: Uint8Array;
  private cookieKeyBytes: Uint8Array;
  private readonly secret = new Uint8Array(KEY_LENGTH);
  private secretBornAt = -Infinity;
  /** Told the new secret whenever it is replaced (the device shares it with the workers, which check MAC2 too). */
  onSecretRotated: (secret: Uint8Array) => void = () => {};

  /**
   * @param localPublic our static public key
   * @param random fills a buffer with random bytes (tests pass a seeded one)
   */
  constructor(
    localPublic: Uint8Array,
    private readonly clock: Clock,
    private readonly random: (buf: Uint8Array) => void = (b) => {
      randomFillSync(b);
    },
  ) {
    this.mac1KeyBytes = mac1Key(localPublic);
    this.cookieKeyBytes = cookieKey(localPublic);
  }

  /** Our static key changed: derive the MAC1 and cookie keys anew. */
  setLocalPublic(localPublic: Uint8Array): void {
    wipe(this.mac1KeyBytes, this.cookieKeyBytes);
    this.mac1KeyBytes = mac1Key(localPublic);
    this.cookieKeyBytes = cookieKey(localPublic);
  }

  /**
   * Checks a received initiation or response (exact size already checked by
   * classify) from source (see {@link sourceBytes}):
   *   'bad-mac1'    drop it;
   *   'ok'          process it (not under load, or MAC2 valid);
   *   'need-cookie' / 'bad-mac2'  under load without a valid MAC2: answer
   *                 with createReply(msg, source) and drop the message.
   * Constant-time comparisons; never throws.
   */
  validate(msg: Uint8Array, source: Uint8Array, underLoad: boolean): MacValidation {
    const at = macOffsets(msg);
    if (!at) return 'bad-mac1';
    const expected1 = mac(this.mac1KeyBytes, msg.subarray(0, at.mac1));
    if (!equalConstantTime(expected1, msg.subarray(at.mac1, at.mac1 + MAC_SIZE))) return 'bad-mac1';
    if (!underLoad) return 'ok';
    if (isAllZero(msg.subarray(at.mac2, at.mac2 + MAC_SIZE))) return 'need-cookie';
    return mac2Matches(this.currentSecret(), source, msg, at.mac2) ? 'ok' : 'bad-mac2';
  }

  /**
   * The cookie reply (64 bytes) to a handshake message from source: receiver
   * = the message's sender index, a random nonce, and the cookie for source
   * encrypted with the message's MAC1 as AD. Null when msg is not a
   * handshake message.
   */
  createReply(msg: Uint8Array, source: Uint8Array): Uint8Array | null {
    const at = macOffsets(msg);
    if (!at) return null;
    const reply = new Uint8Array(COOKIE_REPLY_SIZE);
    writeType(reply, MESSAGE_COOKIE_REPLY);
    // The sender index is at offset 4 in both initiation and response.
    writeU32(reply, CookieReply.receiver, readU32(msg, Initiation.sender));
    const nonce = reply.subarray(CookieReply.nonce, CookieReply.nonce + COOKIE_NONCE_SIZE);
    this.random(nonce);
    const cookie = this.cookieFor(source);
    reply.set(xaeadSeal(this.cookieKeyBytes, nonce, cookie, msg.subarray(at.mac1, at.mac1 + MAC_SIZE)), CookieReply.encryptedCookie);
    wipe(cookie);
    return reply;
  }

  /** R, replaced first when it is 120 s old (whitepaper §5.4.7). */
  private currentSecret(): Uint8Array {
    const now = this.clock.now();
    if (now - this.secretBornAt >= COOKIE_SECRET_MAX_AGE_MS) {
      this.random(this.secret);
      this.secretBornAt = now;
      this.onSecretRotated(this.secret);
    }
    return this.secret;
  }

  /** MAC(R, source): the cookie for a source. */
  private cookieFor(source: Uint8Array): Uint8Array {
    return mac(this.currentSecret(), source);
  }
}

/**
 * The sending side for one peer: adds MAC1/MAC2 to the handshake messages we
 * send it, and takes the cookies it sends back.
 */
export class CookieGenerator {
  private readonly mac1KeyBytes: Uint8Array;
  private readonly cookieKeyBytes: Uint8Array;
  private cookie: Uint8Array | null = null;
  private cookieReceivedAt = -Infinity;
  /** MAC1 of the last handshake message we sent, awaiting a possible cookie reply. */
  private lastMac1: Uint8Array | null = null;

  /** @param remotePublic the peer's static public key */
  constructor(
    remotePublic: Uint8Array,
    private readonly clock: Clock,
  ) {
    this.mac1KeyBytes = mac1Key(remotePublic);
    this.cookieKeyBytes = cookieKey(remotePublic);
  }

  /** True while a cookie received from the peer is younger than 120 s (MAC2 will be sent). */
  hasFreshCookie(): boolean {
    return this.cookie !== null && this.clock.now() - this.cookieReceivedAt < COOKIE_SECRET_MAX_AGE_MS;
  }

  /**
   * Fills mac1 and mac2 of an initiation or response we are about to send
   * (in place; MAC2 is zeros unless we hold a fresh cookie) and remembers
   * MAC1 to authenticate a cookie reply. False when msg is not a handshake
   * message of the exact size.
   */
  addMacs(msg: Uint8Array): boolean {
    const at = macOffsets(msg);
    if (!at) return false;
    const mac1 = mac(this.mac1KeyBytes, msg.subarray(0, at.mac1));
    msg.set(mac1, at.mac1);
    this.lastMac1 = mac1;
    if (this.hasFreshCookie()) {
      msg.set(mac(this.cookie!, msg.subarray(0, at.mac2)), at.mac2);
    } else {
      msg.fill(0, at.mac2, at.mac2 + MAC_SIZE);
    }
    return true;
  }

  /**
   * Takes a cookie reply addressed to this peer's handshake (the caller
   * found us by its receiver index). Accepted only if it decrypts with the
   * MAC1 we last sent as AD, and only once per MAC1: otherwise ignored with
   * the reason. On 'ok' the cookie is used for MAC2 for the next 120 s.
   */
  consumeReply(reply: Uint8Array): 'ok' | DropReason {
    const type = classify(reply);
    if (type !== MESSAGE_COOKIE_REPLY) return typeof type === 'string' ? type : 'unknown-type';
    if (!this.lastMac1) return 'unexpected-cookie-reply';
    const cookie = xaeadOpen(
      this.cookieKeyBytes,
      reply.subarray(CookieReply.nonce, CookieReply.nonce + COOKIE_NONCE_SIZE),
      reply.subarray(CookieReply.encryptedCookie, COOKIE_REPLY_SIZE),
      this.lastMac1,
    );
    if (!cookie) return 'forged-cookie-reply';
    wipe(this.cookie);
    this.cookie = cookie;
    this.cookieReceivedAt = this.clock.now();
    this.lastMac1 = null;
    return 'ok';
  }
}
