/**
 * Our XDP filter with an AF_XDP port open (through `xdpwg echo`): the host's
 * other traffic is untouched (ping, ARP/ND, UDP to another port reaches a
 * kernel socket), only the configured port reaches the XSK, a second process
 * is refused while the first lives, and a filter left by `kill -9` is
 * replaced by the next start.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { nsExec } from '../helpers/netns.js';
import { makeEchoLab, NET, startEcho, xdpAttached } from './echo-fixture.js';

const env = makeEchoLab('h1f', 'h1f0', 'h1f1');
after(() => env.lab.cleanup());
const PORT = 7101;
const OTHER = 7102;

/** Counts datagrams per port on two kernel sockets for `secs` seconds. */
const SERVER_PY = String.raw`
import json, select, socket, sys, time
ports = [int(p) for p in sys.argv[2:]]
socks = {}
for p in ports:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', p)); s.setblocking(False); socks[s] = p
counts = {p: 0 for p in ports}
print('listening', flush=True)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    r, _, _ = select.select(list(socks), [], [], 0.1)
    for s in r:
        while True:
            try: s.recv(65535)
            except BlockingIOError: break
            counts[socks[s]] += 1
print(json.dumps(counts), flush=True)
`;

/** Sends n datagrams to each (addr, port) without waiting for replies. */
const SEND_PY = String.raw`
import socket, sys, time
n = int(sys.argv[1])
for target in sys.argv[2:]:
    addr, port = target.rsplit('/', 1)
    s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(n):
        s.sendto(b'not for the echo %d' % i, (addr, int(port)))
        if i % 50 == 49: time.sleep(0.01)
`;

test('while the port is open: ping, ARP/ND and other UDP reach the kernel; only the echo port reaches the XSK', async () => {
  const echo = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT), '--mode', 'generic']);
  await echo.ready;
  // ARP and ND: forget the neighbours, then ping must resolve them again.
  nsExec(env.b, 'ip', ['neigh', 'flush', 'dev', env.devB]);
  nsExec(env.b, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', NET.a4]);
  nsExec(env.b, 'ping', ['-6', '-c', '2', '-i', '0.2', '-W', '1', NET.a6]);
  const neigh = nsExec(env.b, 'ip', ['neigh', 'show', 'dev', env.devB]);
  assert.match(neigh, new RegExp(`${NET.a4.replace(/\./g, '\\.')} lladdr`), 'ARP resolved');
  assert.match(neigh, new RegExp(`${NET.a6} lladdr`), 'ND resolved');

  // Kernel sockets on both ports; the echo port's must get nothing.
  const server = env.lab.spawn(env.a, 'python3', ['-c', SERVER_PY, '3', String(PORT), String(OTHER)]);
  let out = '';
  server.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const serverDone = new Promise((r) => server.once('exit', r));
  while (!out.includes('listening')) await new Promise((r) => setTimeout(r, 50));
  const n = 200;
  nsExec(env.b, 'python3', [
    '-c',
    SEND_PY,
    String(n),
    `${NET.a4}/${OTHER}`,
    `${NET.a6}/${OTHER}`,
    `${NET.a4}/${PORT}`,
    `${NET.a6}/${PORT}`,
  ]);
  await serverDone;
  const counts = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  assert.equal(counts[OTHER], 2 * n, 'UDP to another port reaches the kernel socket');
  assert.equal(counts[PORT], 0, 'the echo port never reaches the kernel socket');

  assert.equal(await echo.stop('SIGINT'), 0, echo.stderr);
  const [fin] = echo.finals();
  assert.equal(fin?.port?.ipackets, 2 * n, 'the XSK saw exactly the echo port traffic');
  assert.equal(fin?.echoed, 2 * n);
  assert.equal(xdpAttached(env.a, env.devA), false, 'Ctrl-C detached the filter');
});

test('a live owner is not displaced; after kill -9 the next start replaces the stale filter', async () => {
  const first = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT)]);
  const r1 = await first.ready;
  assert.equal(r1.filter?.replacedStale, 0);

  const second = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT)]);
  await assert.rejects(second.ready, /already served by another xdpwg process/);
  assert.notEqual(await second.exited, 0);

  assert.equal(await first.stop('SIGKILL'), null);
  assert.ok(xdpAttached(env.a, env.devA), 'kill -9 left the filter attached');

  const third = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT)]);
  const r3 = await third.ready;
  assert.equal(r3.filter?.replacedStale, 1, 'the stale filter was found and replaced');
  nsExec(env.b, 'ping', ['-c', '1', '-W', '1', NET.a4]);
  assert.equal(await third.stop('SIGTERM'), 0, third.stderr);
  assert.equal(xdpAttached(env.a, env.devA), false);
});

test('lock files of namespaces that are gone are swept when a filter is attached; those of live namespaces stay', async () => {
  mkdirSync('/run/xdpwg', { recursive: true });
  // Inode 1 is never a network namespace's: a namespace that no longer exists.
  const dead = [`/run/xdpwg/filter-1-${process.pid}.lock`, `/run/xdpwg/filter-1-${process.pid}-prog4242.lock`];
  // The namespace of this process is alive: its files stay even with their lock free.
  // Named by this run's pid: another run on the machine may hold a file of the same namespace.
  const liveFile = `/run/xdpwg/filter-${statSync('/proc/self/ns/net').ino}-99999-prog${process.pid}.lock`;
  for (const f of [...dead, liveFile]) writeFileSync(f, '');
  try {
    const echo = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT)]);
    await echo.ready;
    assert.equal(await echo.stop('SIGTERM'), 0, echo.stderr);
    for (const f of dead) assert.equal(existsSync(f), false, `${f} was swept`);
    assert.equal(existsSync(liveFile), true, 'a live namespace keeps its lock files');
  } finally {
    for (const f of [...dead, liveFile]) rmSync(f, { force: true });
  }
});
