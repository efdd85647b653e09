// A TunQueue's native state (the 64 KiB read scratch of an offload queue)
// goes with the worker thread that made it, whether the worker closed it or
// not. Run by run-aead-burst-asan.sh --addon under LeakSanitizer, in a
// network namespace of its own (unshare -n: the TUN dies with the process).
// Worker threads make TunQueues on the queues of an offload TUN and end
// without close(), half of them with the queue still reachable; the main
// thread keeps one to the end. A build that leaks on purpose (Release not
// freeing the state) makes LeakSanitizer report 21 leaks naming TunQueue here.
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { openTun, openTunQueue, tunQueueSpecs } from '../../dist/src/native/tun.js';

const ROUNDS = 10;

if (isMainThread) {
  const set = openTun('tqleak0', 2, true, { offload: true });
  if (!set.vnetHdr) throw new Error('the TUN took no vnet header: nothing to check');
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(tunQueueSpecs(set).map((spec) => new Promise((resolve, reject) => {
      const w = new Worker(new URL(import.meta.url), { workerData: { spec, keep: round % 2 === 0 } });
      w.on('error', reject);
      w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
    })));
  }
  globalThis.kept = openTunQueue(tunQueueSpecs(set)[0]); // freed when the main environment ends
  console.log(`tun-queue-leak: ${ROUNDS * set.fds.length} worker queues and one main-thread queue made`);
} else {
  const q = openTunQueue(workerData.spec);
  if (q.readBurst(new ArrayBuffer(2048), new Uint32Array([0, 1500]), 1) !== 0) throw new Error('an idle TUN queue read a packet');
  if (workerData.keep) globalThis.kept = q; // still reachable when the worker's environment ends
}
