/**
 * Two processes on one (device, queue), both on AF_XDP, through a shared
 * UMEM (native/umem_share.h): the anchor owns the XDP filter and the UMEM,
 * the member joins its buffer pool with XDP_SHARED_UMEM and gets its port
 * steered to its own socket. Each echoes UDP to its port; the peer namespace
 * counts the answers. Then the kill -9 cases: a killed member's slot is
 * released and the anchor keeps echoing; a killed anchor leaves the member
 * to fall back to a filter and port of its own.
 *
 * This covers the native layer only: the daemon does not use it yet (see
 * README "Several xdpwg interfaces on one uplink").
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { makeEchoLab, NET } from './echo-fixture.js';

const env = makeEchoLab('shu', 'shu0', 'shu1');
const NODE_JS = fileURLToPath(new URL('./shared-umem-node.js', import.meta.url));
const SOCKET = '/run/xdpwg/test-shared-umem.sock';
const ANCHOR_PORT = 41820,
  MEMBER_PORT = 41821;

interface Line {
  event: string;
  echoed?: number;
  replacedStale?: number;
  stats?: Record<string, number>;
  info?: Record<string, unknown>;
}
interface Node {
  proc: ChildProcess;
  lines: Line[];
  stderr: string;
}

function start(role: 'anchor' | 'member', port: number): Node {
  const proc = env.lab.spawn(env.a, process.execPath, [NODE_JS, role, env.devA, String(port), SOCKET]);
  const node: Node = { proc, lines: [], stderr: '' };
  let pending = '';
  proc.stdout!.on('data', (d: Buffer) => {
    pending += d.toString();
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const p of parts) node.lines.push(JSON.parse(p) as Line);
  });
  proc.stderr!.on('data', (d: Buffer) => {
    node.stderr += d.toString();
  });
  return node;
}

async function event(node: Node, name: string, what: string): Promise<Line> {
  return waitFor(
    what,
    () => {
      if (node.proc.exitCode !== null) throw new Error(`${what}: the process exited ${node.proc.exitCode}: ${node.stderr}`);
      return node.lines.find((l) => l.event === name);
    },
    15_000,
  );
}

function lastStats(node: Node): Line {
  return [...node.lines].reverse().find((l) => l.event === 'stats') ?? { event: 'none' };
}

async function kill9(node: Node): Promise<void> {
  if (node.proc.exitCode !== null || node.proc.signalCode !== null) return;
  const exited = new Promise((r) => node.proc.once('exit', r));
  node.proc.kill('SIGKILL');
  await exited;
}

/** Sends n datagrams to port from the peer namespace, one at a time; returns how many came back. */
function echoes(port: number, n: number): number {
  const py = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
got = 0
for i in range(${n}):
    s.sendto(b'xdpwg-shared-%d' % i, ('${NET.a4}', ${port}))
    try:
        d, _ = s.recvfrom(2048)
        got += d == b'xdpwg-shared-%d' % i
    except socket.timeout:
        pass
print(got)`;
  return Number(nsExec(env.b, 'python3', ['-c', py], { timeoutMs: 60_000 }).trim());
}

/** The kernel's UDP input counters in the xdpwg namespace: datagrams that reached the kernel, not AF_XDP. */
function kernelUdpIn(): number {
  const lines = nsExec(env.a, 'cat', ['/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const [head, vals] = [lines[0]!.split(/\s+/), lines[1]!.split(/\s+/)];
  return Number(vals[head.indexOf('InDatagrams')]) + Number(vals[head.indexOf('NoPorts')]);
}

let anchor: Node, member: Node;

before(() => {
  requireRoot();
  rmSync(SOCKET, { force: true });
  // The peer must know the xdpwg side's MAC before the first datagram (the filter passes ARP).
  nsExec(env.b, 'ping', ['-c', '1', '-W', '2', NET.a4]);
});
after(async () => {
  for (const n of [anchor, member]) if (n) await kill9(n);
  rmSync(SOCKET, { force: true });
  env.lab.cleanup();
});

test('two processes echo their own ports on one queue through a shared UMEM, both on AF_XDP', async () => {
  anchor = start('anchor', ANCHOR_PORT);
  await event(anchor, 'ready', 'anchor ready');
  member = start('member', MEMBER_PORT);
  const ready = await event(member, 'ready', 'member joined the shared UMEM');
  assert.equal(ready.info?.share, 'member');
  await event(anchor, 'joined', 'anchor steering the member port');
  const before = kernelUdpIn();
  const n = 200;
  assert.equal(echoes(ANCHOR_PORT, n), n, `anchor echoes\n${anchor.stderr}`);
  assert.equal(echoes(MEMBER_PORT, n), n, `member echoes\n${member.stderr}`);
  assert.equal(kernelUdpIn() - before, 0, 'no datagram of either port reached the kernel');
  const a = await waitFor(
    'anchor stats',
    () => {
      const s = lastStats(anchor);
      return (s.echoed ?? 0) >= n ? s : undefined;
    },
    5_000,
  );
  const m = await waitFor(
    'member stats',
    () => {
      const s = lastStats(member);
      return (s.echoed ?? 0) >= n ? s : undefined;
    },
    5_000,
  );
  process.stderr.write(
    `# anchor echoed ${a.echoed} (granted ${a.stats?.share_granted}, returned ${a.stats?.share_returned}); member echoed ${m.echoed}\n`,
  );
  assert.equal(a.echoed, n, 'the anchor echoed only its own port');
  assert.equal(m.echoed, n, 'the member echoed only its own port');
  assert.equal(a.stats?.share_invalid, 0);
  assert.equal(m.stats?.share_invalid, 0);
  assert.equal(a.stats?.tx_invalid, 0, 'every completion was a frame the anchor or its member sent');
});

test('a member killed with -9: the anchor releases its slot and keeps echoing', async () => {
  await kill9(member);
  await event(anchor, 'released', 'anchor released the member slot');
  assert.equal(echoes(ANCHOR_PORT, 100), 100, anchor.stderr);
  const s = lastStats(anchor);
  assert.equal(s.stats?.share_invalid, 0);
});

test('an anchor killed with -9: a member falls back to a filter and a port of its own', async () => {
  anchor.lines.length = 0; // the events below are the new member's
  member = start('member', MEMBER_PORT);
  await event(member, 'ready', 'a new member joined');
  await event(anchor, 'joined', 'anchor steering the new member');
  assert.equal(echoes(MEMBER_PORT, 50), 50, 'the new member echoes through the shared UMEM');
  await kill9(anchor);
  const fell = await event(member, 'fell-back', 'member fell back after the anchor died');
  assert.equal(fell.replacedStale, 1, "the dead anchor's filter was found stale and replaced");
  assert.equal(fell.info?.share, 'none');
  assert.equal(echoes(MEMBER_PORT, 100), 100, member.stderr);
});
