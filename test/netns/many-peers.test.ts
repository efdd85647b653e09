/**
 * An interface with 100,000 peers (issue 20): they go in through Debian's
 * `wg syncconf` while a live tunnel to one more peer keeps passing pings
 * (the apply runs in chunks that yield to the event loop; the data path and
 * the UAPI keep working), `wg show dump` gives every one back, and a
 * `wg setconf` of them again (replace_peers: 100,000 removals and adds)
 * works too.
 *
 *   A (xdpwg, B + 100,000 peers) ── veth ── B (xdpwg, peer A)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Lab, nsExec, nsSpawn, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, startImplementation, twoSides, type Side } from '../helpers/tunnel-lab.js';

const PEERS = 100_000;
const lab = new Lab('mp');
let a: Side;
let b: Side;

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'xdpwg', 223));
  await startImplementation(lab, a, { LOG_LEVEL: 'error' });
  await startImplementation(lab, b, { LOG_LEVEL: 'error' });
  configureInterface(a);
  configureInterface(b);
  addPeer(a, b);
  addPeer(b, a, { keepalive: 5 });
});
after(() => lab.cleanup());

/** The config: A's key and port, B as a peer (with its endpoint), and PEERS random peers with a /32 and a /128 each. */
function config(): { text: string; keys: string[] } {
  const keys: string[] = [];
  const raw = randomBytes(32 * PEERS);
  const parts = [
    `[Interface]\nPrivateKey = ${a.keys.privateKey}\nListenPort = ${a.port}\n`,
    `[Peer]\nPublicKey = ${b.keys.publicKey}\nEndpoint = ${b.outer4}:${b.port}\nAllowedIPs = ${b.inner4}/32, ${b.inner6}/128\n`,
  ];
  for (let i = 1; i <= PEERS; i++) {
    const k = raw.subarray((i - 1) * 32, i * 32).toString('base64');
    keys.push(k);
    parts.push(
      `[Peer]\nPublicKey = ${k}\nAllowedIPs = 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32, fd00:ee::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}/128\n`,
    );
  }
  return { text: parts.join(''), keys };
}

/** Runs `wg CMD` with the config while pinging B through the tunnel; returns the apply's time and the pings answered. */
async function applyWhilePinging(cmd: 'syncconf' | 'setconf', file: string): Promise<{ ms: number; sent: number; received: number }> {
  const pinger = nsSpawn(a.ns, 'ping', ['-i', '0.05', '-W', '1', b.inner4], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  pinger.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<void>((resolve) => pinger.once('exit', () => resolve()));
  try {
    await waitFor('the first ping reply through the tunnel', () => /bytes from/.test(out), 10_000, 20);
    const t0 = Date.now();
    nsExec(a.ns, 'wg', [cmd, a.ifname, file], { timeoutMs: 120_000 });
    const ms = Date.now() - t0;
    // Pings sent until here count, and a few after it.
    await new Promise((r) => setTimeout(r, 300));
    return { ms, ...(await stop()) };
  } finally {
    pinger.kill('SIGKILL');
  }
  async function stop(): Promise<{ sent: number; received: number }> {
    pinger.kill('SIGINT');
    await done;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    assert.ok(m, `ping summary missing:\n${out.slice(-500)}`);
    return { sent: Number(m[1]), received: Number(m[2]) };
  }
}

function dumpKeys(): { keys: Set<string>; ms: number } {
  const t0 = Date.now();
  const lines = nsExec(a.ns, 'wg', ['show', a.ifname, 'dump'], { timeoutMs: 60_000 }).trim().split('\n').slice(1);
  const ms = Date.now() - t0;
  return { keys: new Set(lines.map((l) => l.split('\t')[0]!)), ms };
}

test(
  `${PEERS.toLocaleString('en')} peers through wg syncconf and setconf while a tunnel keeps passing pings; wg show dump lists every one`,
  { timeout: 180_000 },
  async () => {
    await waitFor('the tunnel A → B', () => ping(a, b.inner4, 1) === 1, 15_000);
    const { text, keys } = config();
    const file = `/tmp/xdpwg-${a.ns}-many.conf`;
    writeFileSync(file, text, { mode: 0o600 });

    const sync = await applyWhilePinging('syncconf', file);
    const first = dumpKeys();
    process.stderr.write(`# syncconf of ${PEERS} peers: ${sync.ms} ms, pings ${sync.received}/${sync.sent}; dump ${first.ms} ms\n`);
    assert.equal(first.keys.size, PEERS + 1, `dump lists ${first.keys.size} peers`);
    for (const k of keys) assert.ok(first.keys.has(k), `peer ${k} missing from the dump`);
    assert.ok(first.keys.has(b.keys.publicKey));
    // The tunnel's session survives the apply (syncconf keeps peer B), and its data path kept running.
    assert.ok(sync.received >= sync.sent - 3, `pings answered during the apply: ${sync.received}/${sync.sent}\n${logsOf(a, b)}`);

    // setconf replaces every peer (B too: its session restarts at the next packet).
    const set = await applyWhilePinging('setconf', file);
    const second = dumpKeys();
    process.stderr.write(`# setconf of ${PEERS} peers: ${set.ms} ms, pings ${set.received}/${set.sent}; dump ${second.ms} ms\n`);
    assert.equal(second.keys.size, PEERS + 1);
    for (const k of keys) assert.ok(second.keys.has(k), `peer ${k} missing after setconf`);
    await waitFor('the tunnel A → B after setconf', () => ping(a, b.inner4, 1) === 1, 15_000);
    assert.ok(set.received >= set.sent / 2, `pings answered during the setconf: ${set.received}/${set.sent}`);
  },
);

/** B's received-bytes counter for peer A, as B's `wg show transfer` reports it. */
function rxAtB(): number {
  const line = nsExec(b.ns, 'wg', ['show', b.ifname, 'transfer'])
    .split('\n')
    .find((l) => l.startsWith(a.keys.publicKey));
  assert.ok(line, 'B lists A');
  return Number(line.split('\t')[1]);
}

test(
  "a peer removed while its packets are in flight is never sealed for again, and its slot's next peer gets none of them",
  { timeout: 60_000 },
  async () => {
    await waitFor('the tunnel A → B', () => ping(a, b.inner4, 1) === 1, 15_000);
    const flood = nsSpawn(a.ns, 'ping', ['-i', '0.002', '-s', '1000', b.inner4], { stdio: 'ignore' });
    try {
      await waitFor(
        'the flood reaching B',
        async () => {
          const before = rxAtB();
          await new Promise((r) => setTimeout(r, 100));
          return rxAtB() > before;
        },
        10_000,
      );
      // One apply: B goes, C comes (and may get B's slot). C owns no address the flood goes to.
      const c = randomBytes(32).toString('base64');
      nsExec(a.ns, 'wg', [
        'set',
        a.ifname,
        'peer',
        b.keys.publicKey,
        'remove',
        'peer',
        c,
        'allowed-ips',
        '10.223.7.7/32',
        'endpoint',
        `${b.outer4}:${b.port}`,
      ]);
      // What was in flight lands within a moment; after that nothing more may be sealed for B.
      await new Promise((r) => setTimeout(r, 300));
      const settled = rxAtB();
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(rxAtB(), settled, 'A kept sealing packets for the removed peer B');
      // Had B's packets been staged for C, A would have sent C handshake initiations.
      const cLine = nsExec(a.ns, 'wg', ['show', a.ifname, 'dump'])
        .split('\n')
        .find((l) => l.startsWith(c));
      assert.ok(cLine, 'C is configured');
      assert.equal(Number(cLine.split('\t')[6]), 0, `A sent to C, which owns none of the flood's addresses: ${cLine}`);
    } finally {
      flood.kill('SIGKILL');
    }
  },
);
