/**
 * RouteLookups (src/daemon/xdp/route-lookups.ts): each netlink question is
 * asked once between two forget() calls (many new endpoints at one address
 * cost one set of look-ups, not one per endpoint), per fwmark, and asked
 * again after forget() (a refresh, an fwmark change).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteLookups } from '../../src/daemon/xdp/route-lookups.js';
import type { LinkInfo, NeighInfo, RouteLookup } from '../../src/native/binding.js';

test('route look-ups: asked once per question until forgotten, separately per fwmark', () => {
  const asked: string[] = [];
  let gateway = '10.0.0.1';
  const netlink = {
    routeGet: (dst: string, opts?: { mark?: number }): RouteLookup | null => {
      asked.push(`route ${dst} mark ${opts?.mark ?? 0}`);
      return { ifindex: 2, gateway, prefsrc: '10.0.0.2', type: 'unicast' } as unknown as RouteLookup;
    },
    linkInfo: (i: string | number): LinkInfo | null => {
      asked.push(`link ${i}`);
      return { mtu: 1500 } as unknown as LinkInfo;
    },
    neighGet: (i: number, ip: string): NeighInfo | null => {
      asked.push(`neigh ${i} ${ip}`);
      return { mac: '02:00:00:00:00:01', state: 'reachable' } as unknown as NeighInfo;
    },
  };
  const l = new RouteLookups(() => netlink);
  for (let i = 0; i < 500; i++) {
    assert.equal(l.route('192.0.2.9', 0)?.gateway, '10.0.0.1');
    l.link(2);
    assert.equal(l.neighbour(2, '10.0.0.1')?.mac, '02:00:00:00:00:01');
  }
  assert.deepEqual(asked, ['route 192.0.2.9 mark 0', 'link 2', 'neigh 2 10.0.0.1']);
  l.route('192.0.2.9', 7);
  l.route('192.0.2.10', 0);
  assert.deepEqual(asked.slice(3), ['route 192.0.2.9 mark 7', 'route 192.0.2.10 mark 0']);
  gateway = '10.0.0.254';
  assert.equal(l.route('192.0.2.9', 0)?.gateway, '10.0.0.1', 'until forgotten, the cached answer');
  l.forget();
  assert.equal(l.route('192.0.2.9', 0)?.gateway, '10.0.0.254', 'after forget, asked again');
  l.link(2);
  l.neighbour(2, '10.0.0.254');
  assert.deepEqual(asked.slice(5), ['route 192.0.2.9 mark 0', 'link 2', 'neigh 2 10.0.0.254']);
});

test('a neighbour not resolved yet is asked again at once (not kept until the refresh); once resolved it is kept', () => {
  let answer: NeighInfo | null = null;
  let asks = 0;
  const netlink = {
    routeGet: (): RouteLookup | null => null,
    linkInfo: (): LinkInfo | null => null,
    neighGet: (): NeighInfo | null => {
      asks++;
      return answer;
    },
  };
  const l = new RouteLookups(() => netlink);
  assert.equal(l.neighbour(2, '10.0.0.1'), null);
  answer = { mac: null, state: 'incomplete' } as unknown as NeighInfo;
  assert.equal(l.neighbour(2, '10.0.0.1')?.state, 'incomplete');
  answer = { mac: '02:00:00:00:00:02', state: 'reachable' } as unknown as NeighInfo;
  assert.equal(l.neighbour(2, '10.0.0.1')?.mac, '02:00:00:00:00:02', 'resolved since: seen at the next look-up');
  answer = null;
  assert.equal(l.neighbour(2, '10.0.0.1')?.mac, '02:00:00:00:00:02', 'a usable answer is kept until forget()');
  assert.equal(asks, 3);
});
