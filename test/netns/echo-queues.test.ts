/**
 * Two queues, two workers: a 2-queue veth pair, `xdpwg echo --queues 2`, and
 * a client spreading its flows over many source ports (the veth picks the
 * queue by flow hash). Every reply must arrive; in native mode both queues
 * must carry traffic. In generic (skb) mode a veth without NAPI (no native
 * XDP, no GRO) hands the stack every packet without recording an rx queue,
 * so generic XDP sees queue 0 only: that mode checks the two-worker set-up
 * and the totals, not the spread.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeEchoLab, runClient, startEcho, type EchoLine } from './echo-fixture.js';

/** A final line's received packets (every final line has its port's counters). */
const ipacketsOf = (l: EchoLine): number => l.port?.ipackets ?? 0;

const env = makeEchoLab('h1q', 'h1q0', 'h1q1', 2);
after(() => env.lab.cleanup());
const PORT = 7301;

for (const mode of ['generic', 'native'] as const) {
  test(`2 queues, 2 workers (${mode}): all replies arrive${mode === 'native' ? ', both queues carry traffic' : ''}`, async () => {
    const echo = startEcho(env.lab, env.a, ['--interface', env.devA, '--queues', '2', '--port', String(PORT), '--mode', mode]);
    const ready = await echo.ready;
    assert.deepEqual(ready.queues, [0, 1]);
    const count = 4000;
    const r4 = runClient(env.b, 4, PORT, 64, count, 64, 16);
    const r6 = runClient(env.b, 6, PORT, 64, count, 64, 16);
    assert.deepEqual(r4, { sent: count, received: count, bad: 0 });
    assert.deepEqual(r6, { sent: count, received: count, bad: 0 });
    assert.equal(await echo.stop('SIGTERM'), 0, echo.stderr);
    const finals = echo.finals().sort((a, b) => a.queue! - b.queue!);
    assert.equal(finals.length, 2);
    if (mode === 'native') {
      for (const f of finals) assert.ok(ipacketsOf(f) > 0, `queue ${f.queue} carried traffic (${JSON.stringify(finals.map(ipacketsOf))})`);
    }
    assert.equal(ipacketsOf(finals[0]!) + ipacketsOf(finals[1]!), 2 * count);
    assert.equal(finals[0]!.echoed! + finals[1]!.echoed!, 2 * count);
  });
}
