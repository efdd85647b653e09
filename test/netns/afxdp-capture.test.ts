/**
 * `xdpwg capture`: the frames the AF_XDP path receives and sends, as a pcap
 * file tcpdump reads, while tcpdump on the uplink itself misses what AF_XDP
 * received.
 *
 *   A (xdpwg) ── B (wireguard-go)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, xdpwgBin, type Side } from '../helpers/tunnel-lab.js';
import { afxdpSides, carriedOverAfxdp, startFresh } from '../helpers/afxdp-lab.js';
import { readPcap, udpPayload } from '../helpers/pcap.js';

const lab = new Lab('sdc');
let a: Side, b: Side;
const dir = mkdtempSync(path.join(tmpdir(), 'sdc-'));

before(async () => {
  requireRoot();
  ({ a, b } = afxdpSides(lab, 'xdpwg', 'wireguard-go', 218));
  for (const x of [a, b]) {
    await startFresh(lab, x);
    configureInterface(x);
  }
  addPeer(b, a, { outer: 4 });
  addPeer(a, b, { outer: 4 });
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
});
after(() => {
  lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('xdpwg capture writes a pcap with both directions of a ping, which tcpdump reads', async () => {
  const file = path.join(dir, 'a.pcap');
  const count = 20;
  const cap = lab.spawn(a.ns, xdpwgBin, ['capture', a.ifname, '-w', file, '-c', String(count)]);
  let err = '';
  cap.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => cap.once('exit', (code) => r(code)));
  // The capture is on once the daemon streams; pings until the count is reached.
  const proof = await carriedOverAfxdp(a, b, 10, async () => {
    const done = { v: false };
    void exited.then(() => {
      done.v = true;
    });
    await waitFor(
      `xdpwg capture to collect ${count} frames`,
      () => {
        ping(a, b.inner4, 2);
        return done.v;
      },
      20_000,
      0,
    );
  });
  process.stderr.write(`# ${proof.text}\n`);
  assert.equal(await exited, 0, err);
  assert.match(err, new RegExp(`${count} frame\\(s\\) written`));
  // tcpdump reads it, and sees WireGuard both ways between the outer addresses.
  const text = nsExec(a.ns, 'tcpdump', ['-n', '-r', file]);
  const lines = text.trim().split('\n');
  assert.equal(lines.length, count, text);
  assert.ok(
    lines.some((l) => l.includes(`${a.outer4}.${a.port} > ${b.outer4}.${b.port}`)),
    `a sent frame\n${text}`,
  );
  assert.ok(
    lines.some((l) => l.includes(`${b.outer4}.${b.port} > ${a.outer4}.${a.port}`)),
    `a received frame\n${text}`,
  );
  const { linkType, packets } = readPcap(file);
  assert.equal(linkType, 1, 'Ethernet');
  const types = packets.map((f) => udpPayload(f, linkType)?.payload[0]);
  assert.ok(types.filter((t) => t === 4).length >= count / 2, `mostly transport data: ${types.join(',')}`);
});

test('a second capture while one runs is refused with a clear error; a missing daemon too', async () => {
  const first = lab.spawn(a.ns, xdpwgBin, ['capture', a.ifname, '-w', path.join(dir, 'first.pcap')]);
  let err1 = '';
  first.stderr?.on('data', (d: Buffer) => {
    err1 += d.toString();
  });
  const firstExit = new Promise<number | null>((r) => first.once('exit', (code) => r(code)));
  // The first runs once the daemon has sent it the pcap file header.
  const firstFile = path.join(dir, 'first.pcap');
  await waitFor('the first capture to start', () => existsSync(firstFile) && statSync(firstFile).size >= 24, 10_000, 50);
  const refused = (() => {
    try {
      nsExec(a.ns, xdpwgBin, ['capture', a.ifname, '-w', path.join(dir, 'second.pcap'), '-c', '1'], { timeoutMs: 5_000 });
      return 'accepted';
    } catch (e) {
      return (e as Error).message;
    }
  })();
  assert.match(refused, /another capture is running/);
  first.kill('SIGINT');
  assert.equal(await firstExit, 0, err1);
  assert.throws(
    () => nsExec(a.ns, xdpwgBin, ['capture', 'sdcnone', '-w', path.join(dir, 'x.pcap')]),
    /no stats socket at \/var\/run\/xdpwg\/sdcnone\.stats\.sock: is xdpwg running for .sdcnone'\?/,
  );
});
