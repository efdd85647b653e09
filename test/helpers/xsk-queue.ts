/**
 * A stand-in AF_XDP queue for Receiver unit tests: it yields `frames` once,
 * each at its own 2 KiB offset of one buffer, then nothing; frames given back
 * are ignored.
 */
import type { XskState } from '../../src/datapath/worker-state.js';

export function queueOf(frames: Uint8Array[]): XskState {
  const buf = new Uint8Array(frames.length * 2048);
  frames.forEach((f, i) => buf.set(f, i * 2048));
  let given = false;
  const port = {
    rxBurst(desc: Uint32Array): number {
      if (given) return 0;
      given = true;
      frames.forEach((f, i) => {
        desc[2 * i] = i * 2048;
        desc[2 * i + 1] = f.length;
      });
      return frames.length;
    },
    freeFrames(): void {},
  };
  return { port, buf, ifindex: 2, name: 'test0' } as unknown as XskState;
}
