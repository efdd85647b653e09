/**
 * Waiter (native/waiter.cc): wakes on fd readiness with the right bit, on
 * wakeFd from another worker_thread (bit 30, drained), times out on time;
 * wakeFd refuses fds that are not eventfds. Also: objects made in a worker
 * (Waiter, UdpPort, NetlinkMonitor) release their fds when the worker ends,
 * without close() — the addon's env cleanup hooks.
 * No root needed: loopback UDP sockets and eventfds only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readlinkSync } from 'node:fs';
import { once } from 'node:events';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Waiter, WAKE_BIT, wake } from '../../src/native/waiter.js';
import { openUdpPort } from '../../src/native/udp-port.js';
import { NetlinkMonitor } from '../../src/native/netlink.js';

type Job = { kind: 'wake'; eventFd: number; delayMs: number } | { kind: 'leak' };

if (!isMainThread) {
  const job = workerData as Job;
  if (job.kind === 'wake') {
    setTimeout(() => parentPort!.postMessage(wake(job.eventFd)), job.delayMs);
  } else {
    // Opened and never closed: the worker's environment teardown must close them.
    const w = new Waiter();
    const p = openUdpPort({ port: 0, bindAddress: '127.0.0.1', frameCount: 4 });
    const m = new NetlinkMonitor(['link']);
    parentPort!.postMessage({ waiter: w.eventFd, port: p.fd, monitor: m.fd });
    // Stay alive until the main thread has looked at the fds, then end.
    parentPort!.once('message', () => parentPort!.close());
  }
}

/** What an fd number refers to now ('' when closed). */
function fdTarget(fd: number): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return '';
  }
}

async function sendTo(port: number, n = 1): Promise<void> {
  const s = dgram.createSocket('udp4');
  for (let i = 0; i < n; i++) await new Promise<void>((r) => s.send(Buffer.from('x'), port, '127.0.0.1', () => r()));
  s.close();
}

if (isMainThread) {
  test('wakes on readiness of the right fd: bit i for fds[i]', async () => {
    const a = openUdpPort({ port: 0, bindAddress: '127.0.0.1', frameCount: 4 });
    const b = openUdpPort({ port: 0, bindAddress: '127.0.0.1', frameCount: 4 });
    const w = new Waiter([a.fd, b.fd]);
    try {
      assert.equal(w.wait(0), 0, 'nothing ready');
      await sendTo(b.port);
      assert.equal(w.wait(1000), 1 << 1);
      await sendTo(a.port);
      assert.equal(w.wait(1000), (1 << 0) | (1 << 1), 'level-triggered: b is still unread');
    } finally {
      w.close();
      a.close();
      b.close();
    }
  });

  test('wakeFd from another worker_thread wakes a blocked wait with bit 30, drained afterwards', async () => {
    const w = new Waiter();
    try {
      const worker = new Worker(new URL(import.meta.url), { workerData: { kind: 'wake', eventFd: w.eventFd, delayMs: 150 } satisfies Job });
      const replied = once(worker, 'message');
      const t0 = performance.now();
      const r = w.wait(5000); // blocks this thread; the worker runs on its own
      const elapsed = performance.now() - t0;
      assert.equal(r, WAKE_BIT);
      assert.ok(elapsed >= 100 && elapsed < 2000, `woke after ${elapsed.toFixed(0)} ms`);
      assert.deepEqual(await replied, [true]);
      await worker.terminate();
      assert.equal(w.wait(0), 0, 'the wake was consumed');
      // Wakes coalesce: three wakes, one wake-up, then nothing.
      wake(w.eventFd);
      wake(w.eventFd);
      wake(w.eventFd);
      assert.equal(w.wait(0), WAKE_BIT);
      assert.equal(w.wait(0), 0);
    } finally {
      w.close();
    }
  });

  test('times out after timeoutMs with 0', () => {
    const p = openUdpPort({ port: 0, bindAddress: '127.0.0.1', frameCount: 4 });
    const w = new Waiter([p.fd]);
    try {
      for (const ms of [50, 200]) {
        const t0 = performance.now();
        assert.equal(w.wait(ms), 0);
        const elapsed = performance.now() - t0;
        assert.ok(elapsed >= ms - 2 && elapsed < ms + 150, `wait(${ms}) took ${elapsed.toFixed(1)} ms`);
      }
    } finally {
      w.close();
      p.close();
    }
  });

  test('spinUs: checks without sleeping first (CPU used), then sleeps; bounded; never with timeout 0', async () => {
    const p = openUdpPort({ port: 0, bindAddress: '127.0.0.1', frameCount: 4 });
    const w = new Waiter([p.fd]);
    try {
      // Nothing arrives: the 8 ms spin busy-checks (CPU time), then the 30 ms sleep (none).
      const cpu0 = process.cpuUsage();
      let t0 = performance.now();
      assert.equal(w.wait(30, 8_000), 0);
      let elapsed = performance.now() - t0;
      const used = process.cpuUsage(cpu0);
      const cpuMs = (used.user + used.system) / 1000;
      assert.ok(elapsed >= 36 && elapsed < 500, `spin 8 ms + wait 30 ms took ${elapsed.toFixed(1)} ms`);
      assert.ok(cpuMs >= 5, `the spin used ${cpuMs.toFixed(1)} ms of CPU`);
      // The spin is capped at 10 ms whatever is asked.
      t0 = performance.now();
      assert.equal(w.wait(1, 5_000_000), 0);
      elapsed = performance.now() - t0;
      assert.ok(elapsed >= 10 && elapsed < 500, `a 5 s spin asked, ${elapsed.toFixed(1)} ms spent`);
      // timeout 0 only checks: no spin.
      t0 = performance.now();
      for (let i = 0; i < 10; i++) assert.equal(w.wait(0, 10_000), 0);
      elapsed = performance.now() - t0;
      assert.ok(elapsed < 50, `ten checks with a spin asked took ${elapsed.toFixed(1)} ms`);
      // Readiness found during the spin: its bit at once; a wake too.
      await sendTo(p.port);
      t0 = performance.now();
      assert.equal(w.wait(5000, 1000), 1);
      wake(w.eventFd);
      assert.equal(w.wait(5000, 1000) & WAKE_BIT, WAKE_BIT);
      assert.ok(performance.now() - t0 < 1000);
    } finally {
      w.close();
      p.close();
    }
  });

  test('wakeFd refuses fds that are not eventfds (a reused number is never written to)', () => {
    const p = openUdpPort({ port: 0, bindAddress: '127.0.0.1', frameCount: 4 });
    const w = new Waiter();
    const fd = w.eventFd;
    try {
      assert.equal(wake(p.fd), false);
      assert.equal(wake(-1), false);
      assert.equal(p.stats().opackets, 0);
    } finally {
      w.close();
      p.close();
    }
    assert.equal(w.eventFd, -1);
    if (fdTarget(fd) === '') assert.equal(wake(fd), false, 'closed waiter');
    assert.throws(() => w.wait(0), /closed/);
    assert.throws(() => new Waiter(Array.from({ length: 31 }, () => 0)), RangeError);
  });

  test('a worker that exits without close() leaves no Waiter, UdpPort or NetlinkMonitor fd open', async () => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { kind: 'leak' } satisfies Job });
    const [fds] = (await once(worker, 'message')) as [{ waiter: number; port: number; monitor: number }];
    assert.equal(fdTarget(fds.waiter), 'anon_inode:[eventfd]');
    assert.match(fdTarget(fds.port), /^socket:/);
    assert.match(fdTarget(fds.monitor), /^socket:/);
    const exited = once(worker, 'exit');
    worker.postMessage('exit');
    await exited;
    for (const fd of [fds.waiter, fds.port, fds.monitor]) assert.equal(fdTarget(fd), '', `fd ${fd} still open after the worker ended`);
  });
}
