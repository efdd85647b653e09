/**
 * `xdpwg echo` over AF_XDP: round trips from an ordinary UDP socket in the
 * peer namespace (the peer's kernel drops a reply with a bad UDP checksum, so
 * every correct reply also proves the checksums), in generic and native XDP
 * mode, IPv4 and IPv6, 64 B and 1400 B; counters equal to the traffic; a
 * clean exit leaves no program attached.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeEchoLab, runClient, startEcho, xdpAttached } from './echo-fixture.js';

const env = makeEchoLab('h1e', 'h1e0', 'h1e1');
after(() => env.lab.cleanup());
const PORT = 7001;
const COUNT = 10_000;

for (const mode of ['generic', 'native'] as const) {
  test(`echo round trip, ${mode} XDP: 10,000 datagrams x {64, 1400} B x {IPv4, IPv6}, counters exact`, async () => {
    const echo = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT), '--mode', mode]);
    const ready = await echo.ready;
    assert.equal(ready.filter?.mode, mode);
    assert.ok(xdpAttached(env.a, env.devA), 'filter attached while echo runs');
    let total = 0;
    for (const family of [4, 6] as const) {
      for (const size of [64, 1400]) {
        const r = runClient(env.b, family, PORT, size, COUNT);
        assert.deepEqual(r, { sent: COUNT, received: COUNT, bad: 0 }, `IPv${family} ${size} B`);
        total += COUNT;
      }
    }
    assert.equal(await echo.stop('SIGTERM'), 0, echo.stderr);
    const [fin] = echo.finals();
    assert.ok(fin?.port, `final stats printed: ${echo.stderr}`);
    assert.equal(fin.received, total);
    assert.equal(fin.echoed, total);
    assert.equal(fin.port.ipackets, total);
    assert.equal(fin.port.opackets, total);
    assert.equal(fin.port.completions, total, 'every transmitted frame completed');
    assert.equal(fin.port.imissed, 0);
    assert.equal(fin.port.rx_invalid, 0);
    assert.equal(fin.port.tx_invalid, 0);
    // IPv4 frames: 14 + 20 + 8 + payload; IPv6: 14 + 40 + 8 + payload.
    const bytes = COUNT * (42 + 64 + (42 + 1400) + (62 + 64) + (62 + 1400));
    assert.equal(fin.port.ibytes, bytes);
    assert.equal(fin.port.obytes, bytes);
    assert.deepEqual(fin.drops, {});
    assert.equal(xdpAttached(env.a, env.devA), false, 'no XDP program left after a clean exit');
  });
}

test('echo round trip over the UDP socket port (--udp): the same 4 x 10,000 datagrams, counters exact', async () => {
  const echo = startEcho(env.lab, env.a, ['--udp', '--port', String(PORT + 1)]);
  await echo.ready;
  assert.equal(xdpAttached(env.a, env.devA), false, '--udp attaches no XDP program');
  let total = 0;
  for (const family of [4, 6] as const) {
    for (const size of [64, 1400]) {
      const r = runClient(env.b, family, PORT + 1, size, COUNT);
      assert.deepEqual(r, { sent: COUNT, received: COUNT, bad: 0 }, `IPv${family} ${size} B`);
      total += COUNT;
    }
  }
  assert.equal(await echo.stop('SIGTERM'), 0, echo.stderr);
  const [fin] = echo.finals();
  assert.ok(fin?.port, echo.stderr);
  assert.equal(fin.port.ipackets, total);
  assert.equal(fin.port.opackets, total);
  assert.equal(fin.echoed, total);
  assert.equal(fin.port.ibytes, COUNT * 2 * (64 + 1400));
});
