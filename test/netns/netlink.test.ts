/**
 * Netlink in namespaces h2-n1 / h2-n2 joined by a veth pair (h2n1 <-> h2n2):
 * link, address and route add + get + delete round trips (checked against
 * `ip -j`), routeGet through a gateway, neighGet after a ping (IPv4 and IPv6),
 * errors carrying the errno name, and the monitor reporting link, address,
 * route and neighbour changes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot } from '../helpers/netns.js';
import {
  addrAdd,
  addrDel,
  addrList,
  enterNetns,
  linkInfo,
  linkSetMtu,
  linkSetUp,
  neighGet,
  NetlinkMonitor,
  routeAdd,
  routeDel,
  routeGet,
  type NetlinkEvent,
} from '../../src/native/netlink.js';
import { Waiter } from '../../src/native/waiter.js';

const NS1 = 'h2-n1';
const NS2 = 'h2-n2';

interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
}
interface IpAddr {
  ifindex: number;
  addr_info: { family: string; local: string; prefixlen: number }[];
}
interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  metric?: number;
  table?: string;
}

function ipJson<T>(ns: string, args: string[]): T {
  return JSON.parse(nsExec(ns, 'ip', ['-j', ...args])) as T;
}

const lab = new Lab('h2');
let leave: (() => void) | undefined;
let ifindex = 0;

before(() => {
  requireRoot();
  lab.ns('n1');
  lab.ns('n2');
  lab.veth({ ns: NS1, dev: 'h2n1', addrs: [] }, { ns: NS2, dev: 'h2n2', addrs: ['10.79.0.2/24', 'fd79::2/64'] }, 2);
  leave = enterNetns(NS1);
  ifindex = linkInfo('h2n1')!.ifindex;
});
after(() => {
  leave?.();
  lab.cleanup();
});

/** Asserts that fn throws an Error with this errno code and the operation in its message. */
function throwsCode(fn: () => unknown, code: string, op: string): void {
  assert.throws(fn, (e: Error & { code?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message, new RegExp(op));
    return true;
  });
}

test('linkInfo by name and by index matches ip link; MTU and up/down round trip', () => {
  const [ip] = ipJson<IpLink[]>(NS1, ['link', 'show', 'h2n1']);
  const byName = linkInfo('h2n1')!;
  assert.deepEqual(linkInfo(ifindex), byName);
  assert.equal(byName.ifindex, ip!.ifindex);
  assert.equal(byName.name, 'h2n1');
  assert.equal(byName.mac, ip!.address);
  assert.equal(byName.mtu, ip!.mtu);
  assert.equal(byName.kind, 'veth');
  assert.equal(byName.numTxQueues, 2);
  assert.equal(byName.numRxQueues, 2);
  assert.equal(byName.up, true);

  linkSetMtu(ifindex, 1400);
  assert.equal(linkInfo(ifindex)!.mtu, 1400);
  assert.equal(ipJson<IpLink[]>(NS1, ['link', 'show', 'h2n1'])[0]!.mtu, 1400);
  linkSetMtu(ifindex, 1500);

  linkSetUp(ifindex, false);
  assert.equal(linkInfo(ifindex)!.up, false);
  assert.ok(!ipJson<IpLink[]>(NS1, ['link', 'show', 'h2n1'])[0]!.flags.includes('UP'));
  linkSetUp(ifindex, true);
  assert.equal(linkInfo(ifindex)!.up, true);

  assert.equal(linkInfo('h2nothere'), null);
  assert.equal(linkInfo(999_999), null);
  throwsCode(() => linkSetMtu(999_999, 1400), 'ENODEV', 'linkSetMtu');
  assert.throws(() => linkSetMtu(ifindex, 20), RangeError);
});

test('addresses: add, list (as ip addr sees them), duplicate refused with EEXIST, delete', () => {
  addrAdd(ifindex, '10.79.0.1/24');
  addrAdd(ifindex, 'fd79::1/64', { noDad: true });
  const ours = addrList(ifindex)
    .filter((a) => a.scope === 0)
    .map((a) => a.cidr)
    .sort();
  assert.deepEqual(ours, ['10.79.0.1/24', 'fd79::1/64']);
  const ip = ipJson<IpAddr[]>(NS1, ['addr', 'show', 'dev', 'h2n1'])[0]!
    .addr_info.filter((a) => !a.local.startsWith('fe80'))
    .map((a) => `${a.local}/${a.prefixlen}`)
    .sort();
  assert.deepEqual(ip, ours);
  const v6 = addrList(ifindex).find((a) => a.address === 'fd79::1')!;
  assert.equal(v6.family, 6);
  assert.equal(v6.prefixLen, 64);
  assert.ok(
    addrList().some((a) => a.ifindex === 1 && a.address === '127.0.0.1'),
    'addrList() lists every link',
  );

  throwsCode(() => addrAdd(ifindex, '10.79.0.1/24'), 'EEXIST', 'addrAdd');
  addrAdd(ifindex, '10.79.0.99/24');
  addrDel(ifindex, '10.79.0.99/24');
  assert.ok(!addrList(ifindex).some((a) => a.address === '10.79.0.99'));
  throwsCode(() => addrDel(ifindex, '10.79.0.99/24'), 'EADDRNOTAVAIL', 'addrDel');
  assert.throws(() => addrAdd(ifindex, '10.79.0.300/24'), TypeError);
  assert.throws(() => addrAdd(ifindex, 'fd79::1/129'), TypeError);
});

for (const [family, dst, probe] of [
  ['IPv4', '10.80.0.0/16', '10.80.1.2'],
  ['IPv6', 'fd80::/48', 'fd80::1:2'],
] as const) {
  test(`routes (${family}): add on-link, get, add in another table with a metric, delete`, () => {
    routeAdd({ dst, ifindex });
    const got = routeGet(probe)!;
    assert.equal(got.ifindex, ifindex);
    assert.equal(got.gateway, undefined);
    assert.equal(got.table, 254);
    assert.equal(got.type, 'unicast');
    const ip = ipJson<IpRoute[]>(NS1, [family === 'IPv6' ? '-6' : '-4', 'route', 'show', dst]);
    assert.equal(ip.length, 1);
    assert.equal(ip[0]!.dev, 'h2n1');
    throwsCode(() => routeAdd({ dst, ifindex }), 'EEXIST', 'routeAdd');
    routeAdd({ dst, ifindex, replace: true });

    routeAdd({ dst, ifindex, table: 1234, metric: 77 });
    const t = ipJson<IpRoute[]>(NS1, [family === 'IPv6' ? '-6' : '-4', 'route', 'show', 'table', '1234']);
    assert.deepEqual(
      t.map((r) => [r.dst, r.dev, r.metric]),
      [[dst, 'h2n1', 77]],
    );
    routeDel({ dst, ifindex, table: 1234, metric: 77 });
    assert.deepEqual(ipJson<IpRoute[]>(NS1, [family === 'IPv6' ? '-6' : '-4', 'route', 'show', 'table', '1234']), []);

    routeDel({ dst, ifindex });
    assert.equal(routeGet(probe), null, 'unreachable once the route is gone');
    throwsCode(() => routeDel({ dst, ifindex }), 'ESRCH', 'routeDel');
  });
}

for (const [family, dst, probe, gw, src] of [
  ['IPv4', '10.81.0.0/16', '10.81.5.5', '10.79.0.2', '10.79.0.1'],
  ['IPv6', 'fd81::/48', 'fd81::5:5', 'fd79::2', 'fd79::1'],
] as const) {
  test(`routeGet through a gateway (${family}) returns the gateway, the interface and the preferred source`, () => {
    routeAdd({ dst, gateway: gw, ifindex });
    try {
      const r = routeGet(probe)!;
      assert.deepEqual(
        { ifindex: r.ifindex, gateway: r.gateway, prefsrc: r.prefsrc, table: r.table, type: r.type, family: r.family },
        { ifindex, gateway: gw, prefsrc: src, table: 254, type: 'unicast', family: family === 'IPv4' ? 4 : 6 },
      );
      // Our own address: a local route.
      assert.equal(routeGet(src)!.type, 'local');
    } finally {
      routeDel({ dst, gateway: gw, ifindex });
    }
    // A gateway that is not on the link: the kernel refuses (IPv4 says ENETUNREACH, IPv6 EHOSTUNREACH).
    throwsCode(
      () => routeAdd({ dst, gateway: family === 'IPv4' ? '10.99.0.1' : 'fd99::1', ifindex }),
      family === 'IPv4' ? 'ENETUNREACH' : 'EHOSTUNREACH',
      'routeAdd',
    );
  });
}

for (const [family, peer] of [
  ['IPv4', '10.79.0.2'],
  ['IPv6', 'fd79::2'],
] as const) {
  test(`neighGet after a ping (${family}) returns the peer's MAC`, () => {
    const peerMac = ipJson<IpLink[]>(NS2, ['link', 'show', 'h2n2'])[0]!.address;
    nsExec(NS1, 'ping', [family === 'IPv6' ? '-6' : '-4', '-c', '1', '-W', '2', peer]);
    const n = neighGet(ifindex, peer)!;
    assert.ok(n, 'neighbour entry exists');
    assert.equal(n.mac, peerMac);
    assert.equal(n.ip, peer);
    assert.equal(n.ifindex, ifindex);
    assert.ok(['reachable', 'stale', 'delay', 'probe'].includes(n.state), n.state);
    assert.equal(neighGet(ifindex, family === 'IPv6' ? 'fd79::77' : '10.79.0.77'), null);
  });
}

test('netnsEnter: links are looked up in the namespace the thread is in', () => {
  assert.equal(linkInfo('h2n2'), null);
  const back = enterNetns(NS2);
  try {
    assert.equal(linkInfo('h2n2')!.name, 'h2n2');
  } finally {
    back();
  }
  assert.equal(linkInfo('h2n2'), null);
});

test('monitor: link, address, route and neighbour changes arrive as events', () => {
  const mon = new NetlinkMonitor(['link', 'addr', 'route', 'neigh']);
  const waiter = new Waiter([mon.fd]);
  const events: NetlinkEvent[] = [];
  const collect = (until: (e: NetlinkEvent) => boolean): NetlinkEvent => {
    const end = Date.now() + 3000;
    for (;;) {
      const hit = events.find(until);
      if (hit) return hit;
      if (Date.now() > end)
        throw new Error(`event not seen; got ${JSON.stringify(events.map((e) => [e.type, 'action' in e ? e.action : '']))}`);
      if (waiter.wait(100)) events.push(...mon.read());
    }
  };
  try {
    assert.deepEqual(mon.read(), [], 'nothing queued yet');
    nsExec(NS1, 'ip', ['link', 'add', 'h2dum0', 'type', 'veth', 'peer', 'name', 'h2dum1']);
    const linkNew = collect((e) => e.type === 'link' && e.action === 'new' && e.name === 'h2dum0');
    const dumIndex = (linkNew as { ifindex: number }).ifindex;
    addrAdd(dumIndex, '10.82.0.1/24');
    linkSetUp(dumIndex, true);
    collect((e) => e.type === 'addr' && e.action === 'new' && e.cidr === '10.82.0.1/24' && e.ifindex === dumIndex);
    collect((e) => e.type === 'route' && e.action === 'new' && e.dst === '10.82.0.0/24' && e.ifindex === dumIndex);
    addrDel(dumIndex, '10.82.0.1/24');
    collect((e) => e.type === 'addr' && e.action === 'del' && e.cidr === '10.82.0.1/24');
    nsExec(NS1, 'ip', ['neigh', 'replace', '10.79.0.55', 'lladdr', '02:00:00:00:00:55', 'dev', 'h2n1', 'nud', 'permanent']);
    const nb = collect((e) => e.type === 'neigh' && e.action === 'new' && e.ip === '10.79.0.55');
    assert.equal((nb as { mac: string }).mac, '02:00:00:00:00:55');
    assert.equal((nb as { state: string }).state, 'permanent');
    nsExec(NS1, 'ip', ['link', 'del', 'h2dum0']);
    collect((e) => e.type === 'link' && e.action === 'del' && e.ifindex === dumIndex);
  } finally {
    waiter.close();
    mon.close();
  }
  assert.equal(mon.fd, -1);
  assert.throws(() => mon.read(), /closed/);
  assert.throws(() => new NetlinkMonitor(['bogus' as 'link']), TypeError);
});
