/**
 * What the daemon's log says (issue 22): timestamps carry their zone (UTC,
 * 'Z'); the UDP port is announced once (a rebind says the change); no
 * "shares" claim when a single xdpwg runs; the AF_XDP queue's mode is the
 * kernel's (as `ip -d link` shows the attach) even under `ip netns exec`,
 * where libxdp has no bpffs and cannot tell; a peer's moves between AF_XDP
 * and the kernel socket are logged both ways, once per change.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping } from '../helpers/tunnel-lab.js';
import { afxdpSides, startFresh } from '../helpers/afxdp-lab.js';

const lab = new Lab('h22l');
after(() => lab.cleanup());

test('log lines: zone, one UDP listening line, no false "shares", kernel-reported AF_XDP mode, path moves both ways', async () => {
  requireRoot();
  const { a, b, vethA } = afxdpSides(lab, 'xdpwg', 'xdpwg', 226, { queues: 1 });
  // Auto mode on a veth: the filter goes on in native mode; libxdp sees no bpffs here.
  await startFresh(lab, a, { XDPWG_WORKERS: '1', LOG_LEVEL: 'verbose' });
  await startFresh(lab, b, { XDPWG_WORKERS: '1', LOG_LEVEL: 'verbose' });
  configureInterface(a);
  configureInterface(b);
  addPeer(b, a, { outer: 4 });
  addPeer(a, b, { outer: 4 });
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  const text = (): string => a.log.join('\n');
  await waitFor('the AF_XDP path to b', () => /takes AF_XDP on/.test(text()), 10_000, 100).catch((e: Error) => {
    throw new Error(`${e.message}\n${logsOf(a)}`);
  });

  // The attach mode as the kernel has it: "xdp" (driver) or "xdpgeneric" (skb) after the MTU.
  const link = nsExec(a.ns, 'ip', ['-d', 'link', 'show', 'dev', vethA]);
  const kernelMode = / mtu \d+ xdpgeneric /.test(link) ? 'generic' : / mtu \d+ xdp /.test(link) ? 'native' : undefined;
  assert.ok(kernelMode, `an XDP program on ${vethA}: ${link}`);
  const queueModes = [...text().matchAll(/AF_XDP queue \d+: (\w+) mode/g)].map((m) => m[1]);
  assert.ok(queueModes.length > 0, logsOf(a));
  for (const m of queueModes) assert.equal(m, kernelMode, `the queue's mode is the kernel's (${link.split('\n')[0]})\n${logsOf(a)}`);
  const filter = /XDP filter attached in (\w+) mode/.exec(text());
  assert.equal(filter?.[1], kernelMode, 'the filter and the queues report the same mode');

  assert.equal([...text().matchAll(/UDP listening on port/g)].length, 1, `one UDP listening line\n${logsOf(a)}`);
  assert.doesNotMatch(text(), /\bshares\b/, 'a single xdpwg: nothing shares its program');
  for (const line of a.log.filter((l) => /^(ERROR|INFO|DEBUG):/.test(l))) {
    assert.match(line, /^[A-Z]+: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d) /, `timestamp with its zone: ${line}`);
  }

  // b's neighbour entry lost: the peer moves back to the kernel socket, which is said, with why.
  const moves = (): string[] => a.log.filter((l) => /takes AF_XDP on|moves back to the kernel UDP socket/.test(l));
  const before = moves().length;
  nsExec(a.ns, 'ip', ['neigh', 'del', b.outer4, 'dev', vethA]);
  await waitFor(
    'the move back to the kernel socket in the log',
    () =>
      moves()
        .slice(before)
        .some((l) => /moves back to the kernel UDP socket: neighbour 10\.226\.0\.2/.test(l)),
    10_000,
    100,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${logsOf(a)}`);
  });
  // Traffic resolves it again: the move back to AF_XDP is said again.
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  await waitFor('the move to AF_XDP again', () => /takes AF_XDP on/.test(moves().slice(before).join('\n')), 10_000, 100).catch(
    (e: Error) => {
      throw new Error(`${e.message}\n${logsOf(a)}`);
    },
  );
  const after = moves().slice(before);
  assert.deepEqual(
    after.map((l) => (/takes AF_XDP/.test(l) ? 'xdp' : 'kernel')),
    ['kernel', 'xdp'],
    `one line per change:\n${after.join('\n')}`,
  );
});
