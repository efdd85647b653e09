/**
 * Large configurations through the real `wg` tool against a running xdpwg:
 * one peer with 130,000 allowed IPs, and 40 peers × 52 prefixes. Both must
 * set and list exactly, in seconds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot } from '../helpers/netns.js';
import { genKeys, startImplementation, type Side } from '../helpers/tunnel-lab.js';

const lab = new Lab('lc');
let side: Side;
const dir = mkdtempSync(path.join(tmpdir(), 'xdpwg-large-'));

before(async () => {
  requireRoot();
  const ns = lab.ns('a');
  side = { ns, impl: 'xdpwg', ifname: 'lcwg0', keys: genKeys(), port: 51900, log: [], outer4: '', outer6: '', inner4: '', inner6: '' };
  await startImplementation(lab, side, { LOG_LEVEL: 'error' });
});
after(() => lab.cleanup());

function setconf(text: string): number {
  const file = path.join(dir, 'c.conf');
  writeFileSync(file, text);
  const t0 = Date.now();
  nsExec(side.ns, 'wg', ['setconf', side.ifname, file], { timeoutMs: 60_000 });
  return Date.now() - t0;
}

test('one peer with 130,000 allowed IPs sets and lists exactly', () => {
  const ips: string[] = [];
  for (let i = 0; i < 130_000; i++) ips.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
  const peer = genKeys().publicKey;
  const ms = setconf(`[Interface]\nPrivateKey = ${side.keys.privateKey}\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = ${ips.join(',')}\n`);
  const t0 = Date.now();
  const listed = nsExec(side.ns, 'wg', ['show', side.ifname, 'allowed-ips'], { timeoutMs: 60_000 }).trim().split(/\s+/).slice(1);
  process.stderr.write(`# 130k prefixes: setconf ${ms} ms, list ${Date.now() - t0} ms\n`);
  assert.equal(listed.length, 130_000);
  assert.deepEqual(new Set(listed), new Set(ips));
});

test('40 peers × 52 prefixes set and list exactly', () => {
  const peers = Array.from({ length: 40 }, (_, p) => ({
    key: genKeys().publicKey,
    ips: Array.from({ length: 52 }, (_, i) =>
      i % 2 ? `fd00:${p + 1}::${i}/128` : `172.${16 + (p >> 4)}.${((p & 15) << 4) | (i >> 4)}.${(i & 15) * 16}/28`,
    ),
  }));
  setconf(
    `[Interface]\nPrivateKey = ${side.keys.privateKey}\n` +
      peers.map((p) => `[Peer]\nPublicKey = ${p.key}\nAllowedIPs = ${p.ips.join(', ')}\n`).join(''),
  );
  const lines = nsExec(side.ns, 'wg', ['show', side.ifname, 'allowed-ips']).trim().split('\n');
  assert.equal(lines.length, 40);
  for (const p of peers) {
    const line = lines.find((l) => l.startsWith(p.key))!;
    assert.ok(line, `peer ${p.key} listed`);
    assert.deepEqual(new Set(line.split(/\s+/).slice(1)), new Set(p.ips));
  }
});
