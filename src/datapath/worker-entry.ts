/**
 * A data-path worker thread's entry (worker-pool.ts starts it): loads the
 * worker's modules compiled eagerly (eager-load.ts), then runs its loop.
 */
import { workerData } from 'node:worker_threads';
import { loadEagerly } from './eager-load.js';
import type { WorkerInit } from './worker-state.js';

const { Worker } = await loadEagerly(() => import('./worker.js'));
new Worker((workerData as { init: WorkerInit }).init).run();
