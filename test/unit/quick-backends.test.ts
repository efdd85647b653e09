/**
 * The back-end choices of `xdpwg up` (src/cli/quick/full-tunnel.ts
 * firewallBackend, dns-config.ts pickDnsManager): XDPWG_FIREWALL and
 * XDPWG_DNS force one; unset or `auto` keep the automatic choice; a bad
 * value or a forced tool that is missing is a clear error. PATH points at a
 * directory of stand-in executables, so what is "installed" is up to the test.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { firewallBackend } from '../../src/cli/quick/full-tunnel.js';
import { pickDnsManager } from '../../src/cli/quick/dns-config.js';

const savedPath = process.env.PATH;
const dirs: string[] = [];
after(() => {
  process.env.PATH = savedPath;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Makes PATH hold exactly these (do-nothing) executables. */
function installed(...tools: string[]): void {
  const d = mkdtempSync(path.join(os.tmpdir(), 'quick-backends-'));
  dirs.push(d);
  for (const t of tools) {
    writeFileSync(path.join(d, t), '#!/bin/sh\n');
    chmodSync(path.join(d, t), 0o755);
  }
  process.env.PATH = d;
}

test('XDPWG_FIREWALL: auto picks nft where installed, else iptables; nft and iptables force one', () => {
  installed('nft', 'iptables-restore', 'ip6tables-restore');
  assert.equal(firewallBackend({}), 'nft');
  assert.equal(firewallBackend({ XDPWG_FIREWALL: 'auto' }), 'nft');
  assert.equal(firewallBackend({ XDPWG_FIREWALL: 'iptables' }), 'iptables');
  assert.equal(firewallBackend({ XDPWG_FIREWALL: 'nft' }), 'nft');
  installed('iptables-restore', 'ip6tables-restore');
  assert.equal(firewallBackend({}), 'iptables');
  assert.throws(() => firewallBackend({ XDPWG_FIREWALL: 'nft' }), /XDPWG_FIREWALL=nft, but nft is not installed/);
  installed('nft', 'iptables-restore');
  assert.throws(() => firewallBackend({ XDPWG_FIREWALL: 'iptables' }), /ip6tables-restore is not installed/);
  assert.throws(() => firewallBackend({ XDPWG_FIREWALL: 'pf' }), /XDPWG_FIREWALL=pf: expected nft, iptables or auto/);
});

test('XDPWG_DNS: resolvectl forced needs only the command (it reports a resolved that is not running); resolvconf forced; bad values refused', () => {
  installed('resolvconf', 'resolvectl');
  assert.equal(pickDnsManager('wg0', {}).via, 'resolvconf');
  assert.deepEqual(pickDnsManager('wg0', { XDPWG_DNS: 'resolvectl' }), { via: 'resolvectl', name: 'wg0' });
  assert.equal(pickDnsManager('wg0', { XDPWG_DNS: 'resolvconf' }).via, 'resolvconf');
  installed('resolvectl');
  assert.throws(() => pickDnsManager('wg0', { XDPWG_DNS: 'resolvconf' }), /XDPWG_DNS=resolvconf, but resolvconf is not installed/);
  assert.throws(() => pickDnsManager('wg0', { XDPWG_DNS: 'dnsmasq' }), /XDPWG_DNS=dnsmasq: expected resolvconf, resolvectl or auto/);
});
