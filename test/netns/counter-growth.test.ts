/**
 * A device's per-peer counters stay true after its workers' counter slabs
 * grew (issue 20: they start at 1,024 slots and double as peers come; a
 * worker takes a bigger slab and tells the main thread, which reads it from
 * then on). A's workers run when 3,000 peers arrive, so the slabs grow
 * twice under them; then a session with B carries pings, and A's
 * `wg show transfer` for B must count them, as B's does for A.
 *
 *   A (xdpwg, 3,000 peers + B) ── veth ── B (xdpwg, peer A)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import {
  addPeer,
  configureInterface,
  logsOf,
  peerDump,
  ping,
  startImplementation,
  twoSides,
  wg,
  type Side,
} from '../helpers/tunnel-lab.js';

const EXTRA_PEERS = 3000;
const PINGS = 10;
const PING_SIZE = 1000;

const lab = new Lab('cgr');
let a: Side;
let b: Side;

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'xdpwg', 229));
  await startImplementation(lab, a, { LOG_LEVEL: 'error' });
  await startImplementation(lab, b, { LOG_LEVEL: 'error' });
  configureInterface(a);
  configureInterface(b);
});
after(() => lab.cleanup());

test(
  `counters after the slabs grew: ${EXTRA_PEERS} peers first, then a session's bytes show in wg show on both sides`,
  { timeout: 120_000 },
  async () => {
    // Added while the workers run: each doubling of the slabs is a hand-over to every worker.
    const parts: string[] = [];
    const keys = randomBytes(32 * EXTRA_PEERS);
    for (let i = 0; i < EXTRA_PEERS; i++) {
      parts.push(
        `[Peer]\nPublicKey = ${keys.subarray(i * 32, i * 32 + 32).toString('base64')}\nAllowedIPs = 10.228.${i >> 8}.${i & 255}/32\n`,
      );
    }
    const file = `/tmp/xdpwg-${a.ns}-extra.conf`;
    writeFileSync(file, parts.join(''), { mode: 0o600 });
    nsExec(a.ns, 'wg', ['addconf', a.ifname, file], { timeoutMs: 60_000 });
    assert.equal(wg(a, ['show', a.ifname, 'peers']).trim().split('\n').length, EXTRA_PEERS);
    addPeer(b, a);
    addPeer(a, b);
    const before = { a: peerDump(a, b.keys.publicKey)!, b: peerDump(b, a.keys.publicKey)! };
    assert.equal(ping(a, b.inner4, PINGS, PING_SIZE), PINGS, logsOf(a, b));
    // Each echo request and reply is a data message of more than PING_SIZE bytes each way; the
    // handshake is under 300 bytes. Counters are read by the main thread about every 100 ms.
    const least = PINGS * PING_SIZE;
    const seen = await waitFor(
      `A's counters for B to show ${least} bytes each way`,
      () => {
        const d = { a: peerDump(a, b.keys.publicKey)!, b: peerDump(b, a.keys.publicKey)! };
        return d.a.rx - before.a.rx >= least && d.a.tx - before.a.tx >= least ? d : undefined;
      },
      5_000,
    ).catch((err: Error) => {
      const d = { a: peerDump(a, b.keys.publicKey), b: peerDump(b, a.keys.publicKey) };
      throw new Error(`${err.message}: A sees rx ${d.a?.rx} tx ${d.a?.tx}, B sees rx ${d.b?.rx} tx ${d.b?.tx}\n${logsOf(a, b)}`);
    });
    assert.ok(seen.b.rx - before.b.rx >= least && seen.b.tx - before.b.tx >= least, `B sees rx ${seen.b.rx} tx ${seen.b.tx}`);
  },
);
