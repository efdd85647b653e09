/**
 * The responder's handshake crypto per initiation, on one thread, with the
 * calls the handshake crew makes (respondToInitiation's native path:
 * noiseReadA1 + noiseRespond, the peer's static-static DH cached): µs per handshake, median of rounds.
 * With --pooled the ephemerals come from the thread's ready pool
 * (noiseEphemeralRefill before each 16, not timed: the cost a handshake
 * sees when the thread had idle time to make them); without, each handshake
 * makes its own. No root, no daemon; pin it for steady figures:
 *
 *   taskset -c 1 node dist/bench/responder-crypto.js [--rounds 9] [--count 2000] [--pooled]
 */
import { performance } from 'node:perf_hooks';
import { generatePrivateKey, keyPairFromPrivate, sharedSecret } from '../src/crypto/x25519.js';
import { keyToHex } from '../src/crypto/encoding.js';
import { FakeClock } from '../src/protocol/clock.js';
import { Handshake, createInitiation, type IndexAllocator } from '../src/protocol/noise.js';
import { respondToInitiation, type KnownInitiator } from '../src/protocol/noise-responder.js';
import { native } from '../src/native/binding.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const rounds = opt('--rounds', 9);
const count = opt('--count', 2000);
const pooled = args.includes('--pooled');
const addon = native() as ReturnType<typeof native> & { noiseEphemeralRefill?: (max: number) => number };
if (pooled && !addon.noiseEphemeralRefill) throw new Error('--pooled: this build has no ephemeral pool');

const responder = keyPairFromPrivate(generatePrivateKey());
const clock = new FakeClock();
let nextIndex = 1;
const indices: IndexAllocator<Handshake<number>> = { insert: () => nextIndex++, remove: () => true };
const peers = new Map<string, KnownInitiator>();
const initiators = Array.from({ length: 50 }, () => {
  const s = keyPairFromPrivate(generatePrivateKey());
  peers.set(keyToHex(s.publicKey), { presharedKey: new Uint8Array(32), staticStatic: sharedSecret(responder, s.publicKey) });
  return new Handshake(0, s, responder.publicKey);
});
const messages: Uint8Array[] = [];
for (let i = 0; i < count; i++) {
  clock.advance?.(1);
  messages.push(Uint8Array.from(createInitiation(initiators[i % initiators.length]!, indices, clock)!));
}
const directory = (rs: Uint8Array): KnownInitiator | null => peers.get(keyToHex(rs)) ?? null;

const perRound: number[] = [];
for (let r = 0; r < rounds; r++) {
  let ms = 0;
  for (let i = 0; i < count; i += 16) {
    if (pooled) addon.noiseEphemeralRefill!(16);
    const t0 = performance.now();
    for (let j = i; j < Math.min(count, i + 16); j++) {
      const res = respondToInitiation(messages[j]!, responder, directory);
      if (typeof res === 'string') throw new Error(`refused: ${res}`);
    }
    ms += performance.now() - t0;
  }
  perRound.push((ms * 1000) / count);
}
perRound.sort((a, b) => a - b);
process.stdout.write(
  `responder crypto${pooled ? ' (pooled ephemerals)' : ''}: median ${perRound[rounds >> 1]!.toFixed(1)} µs/handshake ` +
    `(min ${perRound[0]!.toFixed(1)}, ${rounds} rounds of ${count})\n`,
);
