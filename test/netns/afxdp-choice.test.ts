/**
 * "afxdp": "auto" on a virtual device (src/daemon/xdp/afxdp-choice.ts): two
 * xdpwg over a veth with the default setting take the kernel socket, attach
 * no XDP program, and so leave the veth's segmentation offload on (an XDP
 * program on one end turns it off on the other: the sender's GSO packets
 * would be cut into MTU frames before they cross). Every peer's path says
 * why, and a TCP transfer arrives intact. With "afxdp": "on" (what the other
 * namespace tests run with, test/helpers/netns.ts) the same pair attaches
 * its program and carries the data on AF_XDP, and the offload goes off.
 *
 *   A (xdpwg, 10.231.0.1) ── veth ── B (xdpwg, 10.231.0.2)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Lab, nsExec, requireRoot } from '../helpers/netns.js';
import { pathTo, portTotals, statsAfter, stopSide, tcpTransferDigest } from '../helpers/afxdp-lab.js';
import { logsOf, ping, startPeered, twoSides, type Side } from '../helpers/tunnel-lab.js';

// One lab per test: each has its own pair of namespaces.
const autoLab = new Lab('axc');
const onLab = new Lab('axo');
after(() => {
  autoLab.cleanup();
  onLab.cleanup();
});

/** The veth's end in side's namespace (twoSides names it PREFIX + va / vb). */
const vethOf = (lab: Lab, letter: 'a' | 'b'): string => `${lab.prefix}v${letter}`;

function hasXdp(side: Side, dev: string): boolean {
  return / xdp(generic|drv|offload)? /.test(nsExec(side.ns, 'ip', ['-d', 'link', 'show', 'dev', dev]));
}

function udpSegmentation(side: Side, dev: string): string {
  const line = nsExec(side.ns, 'ethtool', ['-k', dev])
    .split('\n')
    .find((l) => l.trim().startsWith('tx-udp-segmentation:'));
  return line?.split(':')[1]?.trim() ?? '(not listed)';
}

async function pair(lab: Lab, afxdp: string, subnet: number): Promise<{ a: Side; b: Side }> {
  const { a, b } = twoSides(lab, 'xdpwg', 'xdpwg', subnet);
  // An empty XDPWG_AFXDP leaves the default ("auto"); the tests' default is "on".
  const env = { XDPWG_AFXDP: afxdp };
  await startPeered(lab, a, b, env);
  assert.ok(ping(a, b.inner4, 3) > 0, `ping through the tunnel\n${logsOf(a, b)}`);
  return { a, b };
}

async function transferIntact(lab: Lab, a: Side, b: Side, port: number): Promise<void> {
  const data = randomBytes(8 << 20);
  const file = `/tmp/${lab.prefix}-${process.pid}-${port}.bin`;
  writeFileSync(file, data);
  const digest = await tcpTransferDigest(lab, a, b, port, file);
  assert.equal(digest, createHash('sha256').update(data).digest('hex'), `8 MiB over TCP arrive intact\n${logsOf(a, b)}`);
}

test('auto: on a veth no XDP program, the offload stays on, the kernel socket carries the tunnel and says why', async () => {
  requireRoot();
  const { a, b } = await pair(autoLab, '', 231);
  try {
    for (const [side, letter] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      const dev = vethOf(autoLab, letter);
      assert.equal(hasXdp(side, dev), false, `no XDP program on ${dev}\n${nsExec(side.ns, 'ip', ['-d', 'link', 'show', 'dev', dev])}`);
      assert.equal(udpSegmentation(side, dev), 'on', `${dev} keeps tx-udp-segmentation`);
    }
    await transferIntact(autoLab, a, b, 5231);
    const s = await statsAfter(a, (st) => portTotals(st, 'udp').opackets > 1000);
    assert.match(pathTo(s, b.keys.publicKey), /kernel socket \(.*a virtual device/, 'the path names the reason');
    assert.equal(portTotals(s, 'af_xdp').opackets, 0, 'nothing left by AF_XDP');
    assert.ok(
      a.log.some((l) => l.includes('a virtual device: AF_XDP here is copy mode')),
      `the log says why\n${logsOf(a)}`,
    );
  } finally {
    await stopSide(a);
    await stopSide(b);
  }
});

test('on: the same veth takes AF_XDP, with the program attached and the peer offload off', async () => {
  requireRoot();
  const { a, b } = await pair(onLab, 'on', 232);
  try {
    assert.equal(hasXdp(a, vethOf(onLab, 'a')), true, 'our XDP program on A’s veth');
    assert.equal(udpSegmentation(b, vethOf(onLab, 'b')), 'off [fixed]', 'B’s end loses UDP segmentation to A’s program');
    await transferIntact(onLab, a, b, 5232);
    const s = await statsAfter(a, (st) => portTotals(st, 'af_xdp').opackets > 1000);
    assert.equal(pathTo(s, b.keys.publicKey), 'af_xdp');
  } finally {
    await stopSide(a);
    await stopSide(b);
  }
});
