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
      return null;
    },
  };
  const l = new RouteLookups(() => netlink);
  for (let i = 0; i < 500; i++) {
    assert.equal(l.route('192.0.2.9', 0)?.gateway, '10.0.0.1');
    l.link(2);
    assert.equal(l.neighbour(2, '10.0.0.1'), null, 'a missing neighbour is an answer too');
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
