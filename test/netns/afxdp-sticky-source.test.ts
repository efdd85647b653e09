/**
 * Sticky source on the AF_XDP path: a server with two addresses per family
 * on its uplink answers each peer from the address that peer sent to, and
 * moves to one that exists when that address is removed.
 *
 *   S (xdpwg; A1, A2, B1, B2 on one uplink) ── switch (bridge) ── P1, P2 (wireguard-go)
 *
 * P1 talks to S's preferred source address, P2 to the other one. wireguard-go
 * moves a peer's endpoint to the source address of every authenticated
 * packet, so P2's endpoint for S says which source S answered from; S's own
 * counters say the answers took AF_XDP. Then P2's address goes away from S:
 * S must answer from the remaining address, and P2 follow it. S runs two
 * workers: a worker that did not see a peer move must not answer it from
 * the old endpoint (the peer would roam back).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { configureInterface, genKeys, logsOf, ping, wg, type Side } from '../helpers/tunnel-lab.js';
import { carriedOverAfxdp, startFresh } from '../helpers/afxdp-lab.js';

const N = 217;
const lab = new Lab('sds');
let s: Side, p1: Side, p2: Side;
const uplink = `${lab.prefix}u`;
/** S's addresses on its uplink, per family: the route's preferred source first. */
const addrs: Record<4 | 6, [string, string]> = { 4: [`10.${N}.0.1`, `10.${N}.0.11`], 6: [`fd00:${N}::1`, `fd00:${N}::11`] };

before(async () => {
  requireRoot();
  const sw = lab.ns('sw');
  const mk = (name: string, impl: Side['impl'], host: number, port: number): Side => ({
    ns: lab.ns(name),
    impl,
    ifname: `${lab.prefix}w${name}`,
    keys: genKeys(),
    port,
    log: [],
    outer4: `10.${N}.0.${host}`,
    outer6: `fd00:${N}::${host}`,
    inner4: `10.${N}.1.${host}`,
    inner6: `fd00:${N}:1::${host}`,
  });
  s = mk('s', 'xdpwg', 1, 51820);
  p1 = mk('p1', 'wireguard-go', 2, 51830);
  p2 = mk('p2', 'wireguard-go', 3, 51831);
  nsExec(sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
  nsExec(sw, 'ip', ['link', 'set', 'br0', 'up']);
  const hostAddrs = (x: Side): string[] =>
    x === s ? [...addrs[4], ...addrs[6]].map((a) => `${a}/${a.includes(':') ? 64 : 24}`) : [`${x.outer4}/24`, `${x.outer6}/64`];
  for (const x of [s, p1, p2]) {
    const port = `${lab.prefix}${x === s ? 'bs' : x === p1 ? 'b1' : 'b2'}`;
    lab.veth({ ns: x.ns, dev: x === s ? uplink : `${lab.prefix}v`, addrs: hostAddrs(x) }, { ns: sw, dev: port, addrs: [] });
    nsExec(sw, 'ip', ['link', 'set', port, 'master', 'br0']);
  }
  // Which of S's two addresses the kernel prefers towards the peers: P1 uses that one, P2 the other.
  for (const fam of [4, 6] as const) {
    const src = /src (\S+)/.exec(nsExec(s.ns, 'ip', [`-${fam}`, 'route', 'get', fam === 4 ? p1.outer4 : p1.outer6]))![1]!;
    assert.ok(addrs[fam].includes(src), `S's preferred source ${src} is one of its addresses`);
    if (addrs[fam][0] !== src) addrs[fam].reverse();
  }
  for (const x of [s, p1, p2]) {
    await startFresh(lab, x, x === s ? { XDPWG_WORKERS: '2' } : {});
    configureInterface(x);
  }
  // S is a server: it learns its peers' endpoints from them.
  for (const peer of [p1, p2]) wg(s, ['set', s.ifname, 'peer', peer.keys.publicKey, 'allowed-ips', `${peer.inner4}/32,${peer.inner6}/128`]);
  setEndpoints(4);
});
after(() => lab.cleanup());

function setEndpoints(fam: 4 | 6): void {
  const ep = (a: string): string => (fam === 4 ? `${a}:${s.port}` : `[${a}]:${s.port}`);
  for (const [peer, addr] of [
    [p1, addrs[fam][0]],
    [p2, addrs[fam][1]],
  ] as const) {
    wg(peer, ['set', peer.ifname, 'peer', s.keys.publicKey, 'allowed-ips', `${s.inner4}/32,${s.inner6}/128`, 'endpoint', ep(addr)]);
  }
}

/** The endpoint a wireguard-go peer holds for S: the source address of S's latest packet to it. */
function endpointOfS(peer: Side): string {
  return wg(peer, ['show', peer.ifname, 'endpoints']).trim().split('\t')[1] ?? '';
}

const hostOf = (endpoint: string): string => endpoint.replace(/^\[?([^\]]*?)\]?:\d+$/, '$1');

async function answersFromTheAddressUsed(fam: 4 | 6): Promise<void> {
  for (const [peer, addr] of [
    [p1, addrs[fam][0]],
    [p2, addrs[fam][1]],
  ] as const) {
    assert.equal(ping(peer, s.inner4, 3), 3, logsOf(s, peer));
    const proof = await carriedOverAfxdp(s, peer, 10, () => {
      assert.equal(ping(peer, s.inner6, 10), 10, logsOf(s, peer));
    });
    process.stderr.write(`# IPv${fam}: ${peer.ifname} sends to ${addr}; S answers from ${hostOf(endpointOfS(peer))}; ${proof.text}\n`);
    assert.equal(hostOf(endpointOfS(peer)), addr, `S answered ${peer.ifname} from the address it sent to`);
  }
}

async function followsRemoval(fam: 4 | 6): Promise<void> {
  const [kept, removed] = addrs[fam];
  nsExec(s.ns, 'ip', ['addr', 'del', `${removed}/${fam === 4 ? 24 : 64}`, 'dev', uplink]);
  // S speaks first (the peer still sends to the removed address): once the daemon has seen the
  // address go (netlink, read once a second), its packets must come from the one left, and the
  // peer moves there. Until then a ping may still pass through state that lags the removal.
  const t0 = Date.now();
  await waitFor(`${p2.ifname} to see S at ${kept}`, () => ping(s, p2.inner4, 1) === 1 && hostOf(endpointOfS(p2)) === kept, 15_000, 0);
  process.stderr.write(
    `# IPv${fam}: ${removed} removed; ${p2.ifname} sees S answering from ${hostOf(endpointOfS(p2))} after ${Date.now() - t0} ms\n`,
  );
  const proof = await carriedOverAfxdp(s, p2, 10, () => {
    assert.equal(ping(p2, s.inner4, 10), 10, logsOf(s, p2));
  });
  process.stderr.write(`# ${proof.text}\n`);
  // Put it back for the next family's run.
  nsExec(s.ns, 'ip', ['addr', 'add', `${removed}/${fam === 4 ? 24 : 64}`, 'dev', uplink, ...(fam === 6 ? ['nodad'] : [])]);
}

test('IPv4: each peer is answered from the address it sent to, over AF_XDP', () => answersFromTheAddressUsed(4));
test('IPv4: the address one peer uses is removed: S answers from the other, the peer follows', () => followsRemoval(4));
test('IPv6: each peer is answered from the address it sent to, over AF_XDP', async () => {
  setEndpoints(6);
  await answersFromTheAddressUsed(6);
});
test('IPv6: the address one peer uses is removed: S answers from the other, the peer follows', () => followsRemoval(6));
