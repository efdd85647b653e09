/**
 * The responder's handshake as two single-threaded steps on a Handshake
 * (whitepaper §5.4.2-§5.4.3), the order the whitepaper describes: check the
 * initiation (replay, flood) before writing a response. The daemon runs
 * src/protocol/noise-responder.ts instead (the crypto on any thread, the
 * checks after it on the owner's); this is the tests' and the bench's
 * reference for it: test/unit/noise-responder.test.ts compares the two. The
 * replay/flood check is the daemon's own (initiationRefusal), not a copy.
 *
 *   consumeInitiation → createResponse → (send) → beginSession (noise.ts)
 */
import { generateKeyPair, type X25519KeyPair } from '../../src/crypto/x25519.js';
import { KEY_LENGTH } from '../../src/crypto/bytes.js';
import type { Clock } from '../../src/protocol/clock.js';
import {
  Initiation,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  RESPONSE_SIZE,
  Response,
  classify,
  readU32,
  writeType,
  writeU32,
} from '../../src/protocol/wire.js';
import type { DropReason } from '../../src/packet/drop-reasons.js';
import { IKpsk2State, readMessageA, writeMessageB } from '../../src/protocol/noise-ikpsk2.js';
import { CONSTRUCTION, IDENTIFIER, type Handshake, type IndexAllocator } from '../../src/protocol/noise.js';
import { initiationRefusal } from '../../src/protocol/noise-responder.js';

/**
 * Responder, step 1: consumes an initiation whose MAC1 (and, under load,
 * MAC2) has already been checked. lookup finds the peer's handshake by the
 * decrypted static key. Refused: unknown key, bad AEAD, small-order keys, a
 * timestamp not later than the last accepted from that peer (replay), and
 * an initiation within 20 ms of the last accepted one (flood). Nothing in the
 * peer's state changes unless the initiation is accepted.
 * Returns the peer's handshake, now 'consumed-initiation', or the drop reason.
 */
export function consumeInitiation<P>(
  msg: Uint8Array,
  local: X25519KeyPair,
  lookup: (remoteStatic: Uint8Array) => Handshake<P> | undefined,
  clock: Clock,
): Handshake<P> | DropReason {
  const type = classify(msg);
  if (type !== MESSAGE_INITIATION) return typeof type === 'string' ? type : 'unknown-type';
  const state = new IKpsk2State('responder', local, null, new Uint8Array(KEY_LENGTH), CONSTRUCTION, IDENTIFIER);
  let peer: Handshake<P> | undefined;
  const timestamp = readMessageA(state, msg.subarray(Initiation.ephemeral, Initiation.mac1), (rs) => {
    peer = lookup(rs);
    return peer ? { presharedKey: Uint8Array.from(peer.presharedKey), staticStatic: peer.cachedStaticStatic } : null;
  });
  if (typeof timestamp === 'string') {
    state.wipe();
    return timestamp;
  }
  const hs = peer!;
  const now = clock.now();
  const refused = initiationRefusal(hs, timestamp, now);
  if (refused) {
    state.wipe();
    return refused;
  }
  // Accepted: this initiation replaces whatever was in flight with the peer
  // (our own pending initiation's index stays until createResponse replaces it).
  hs.inFlight = state;
  hs.remoteIndex = readU32(msg, Initiation.sender);
  hs.recordTimestamp(timestamp);
  hs.lastInitiationConsumedAt = now;
  hs.stage = 'consumed-initiation';
  return hs;
}

/**
 * Responder, step 2: the handshake response (92 bytes, MAC fields zero: add
 * them with CookieGenerator.addMacs) to the initiation just consumed. Takes
 * a new random index (freeing the previous one). Null when the handshake is
 * not at 'consumed-initiation' or a DH result is zero.
 */
export function createResponse<P>(
  hs: Handshake<P>,
  indices: IndexAllocator<Handshake<P>>,
  ephemeral: X25519KeyPair = generateKeyPair(),
): Uint8Array | null {
  const state = hs.inFlight;
  if (hs.stage !== 'consumed-initiation' || !state) return null;
  const msg = new Uint8Array(RESPONSE_SIZE);
  writeType(msg, MESSAGE_RESPONSE);
  if (!writeMessageB(state, ephemeral, new Uint8Array(0), msg, Response.ephemeral)) {
    hs.clear(indices);
    return null;
  }
  if (hs.localIndex !== null) indices.remove(hs.localIndex);
  hs.localIndex = indices.insert(hs);
  writeU32(msg, Response.sender, hs.localIndex);
  writeU32(msg, Response.receiver, hs.remoteIndex);
  hs.stage = 'created-response';
  return msg;
}
