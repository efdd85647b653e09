/**
 * XskPort on its own (no echo): what info() reports, frame ownership rules
 * (double frees and foreign frames refused and counted), transmit of
 * JS-built frames to a kernel socket in the peer namespace with exact
 * counters, the UMEM staying valid after close, and a worker that ends
 * without close() releasing its socket.
 *
 * Each case runs as a small Node program inside the port's namespace.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { nsExec } from '../helpers/netns.js';
import { makeEchoLab, NET, xdpAttached } from './echo-fixture.js';

const env = makeEchoLab('h1p', 'h1p0', 'h1p1');
after(() => env.lab.cleanup());

const dist = (rel: string): string => new URL(`../../src/${rel}`, import.meta.url).href;
const IMPORTS = `
import { native } from '${dist('native/binding.js')}';
import { openXskPort, describeXskPort } from '${dist('native/xsk-port.js')}';
import { openXdpFilter } from '${dist('native/xdp-filter.js')}';
import { buildUdpFrame, parseMac } from '${dist('packet/index.js')}';
import { Worker } from 'node:worker_threads';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
`;

function runIn(ns: string, body: string, args: string[] = [], nodeFlags: string[] = []): Record<string, unknown> {
  const text = nsExec(ns, process.execPath, [...nodeFlags, '--input-type=module', '-e', IMPORTS + body, ...args], { timeoutMs: 30_000 });
  return JSON.parse(text.trim().split('\n').pop()!) as Record<string, unknown>;
}

function mac(ns: string, dev: string): string {
  return (JSON.parse(nsExec(ns, 'ip', ['-j', 'link', 'show', 'dev', dev])) as { address: string }[])[0]!.address;
}

test('info reports the chosen mode; forcing zero-copy on veth fails with a reason', () => {
  const r = runIn(
    env.a,
    `
    const p = openXskPort({ ifname: '${env.devA}', queue: 0, mode: 'generic' });
    const info = p.info();
    const line = describeXskPort(p);
    p.close();
    let zc = null;
    try { openXskPort({ ifname: '${env.devA}', queue: 0, mode: 'generic', zeroCopy: true }).close(); zc = 'opened'; }
    catch (e) { zc = e.code + ': ' + e.message; }
    let bad = null;
    try { openXskPort({ ifname: '${env.devA}', queue: 0, frameSize: 3000 }); } catch (e) { bad = e.constructor.name; }
    let nodev = null;
    try { openXskPort({ ifname: 'h1nosuch', queue: 0 }); } catch (e) { nodev = e.code; }
    out({ info, line, zc, bad, nodev });`,
  );
  const info = r.info as Record<string, unknown>;
  assert.equal(info.mode, 'generic');
  assert.equal(info.zeroCopy, false, 'veth has no zero-copy AF_XDP');
  assert.equal(info.headroom, 256);
  assert.match(r.line as string, /generic XDP, copy mode/);
  assert.match(r.zc as string, /^XSK_SOCKET: .*zero-copy/);
  assert.equal(r.bad, 'RangeError');
  assert.equal(r.nodev, 'ENODEV');
});

test('frame ownership: double frees and foreign frames are refused and counted; tx to a kernel socket with exact counters', async () => {
  const server = env.lab.spawn(env.b, 'python3', [
    '-c',
    `
import socket, select, time, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${NET.b4}', 7501)); s.setblocking(False)
# Room for the whole burst even if this process is not scheduled while it lands
# (the default buffer holds ~250 small datagrams). SO_RCVBUFFORCE: root may exceed rmem_max.
s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)
print('listening', flush=True)
# Until all 300 came (then a moment more, so an extra one would be seen), or a deadline
# far beyond what a loaded machine needs.
n = 0; ok = 0; end = time.time() + 60
while time.time() < end:
    if n >= 300: end = min(end, time.time() + 0.3)
    r, _, _ = select.select([s], [], [], 0.1)
    while r:
        try: d = s.recv(2048)
        except BlockingIOError: break
        n += 1; ok += d[:4] == b'xsk!'
print(json.dumps({'n': n, 'ok': ok}), flush=True)
`,
  ]);
  let sout = '';
  server.stdout!.on('data', (d: Buffer) => {
    sout += d.toString();
  });
  while (!sout.includes('listening')) await new Promise((r) => setTimeout(r, 50));
  const macA = mac(env.a, env.devA),
    macB = mac(env.b, env.devB);
  const r = runIn(
    env.a,
    `
    const filter = openXdpFilter({ ifname: '${env.devA}', mode: 'generic', ports: [7500] });
    const p = openXskPort({ ifname: '${env.devA}', queue: 0, mode: 'generic', inhibitProgLoad: true });
    filter.bindQueue(0, p.fd);
    const bytes = new Uint8Array(p.umem);
    const freeAtStart = p.stats().frames_free;
    const frames = new Uint32Array(4096);
    const got = p.allocFrames(frames, 4096);
    // Hand one frame back twice and an offset past the UMEM: both refused.
    p.freeFrames(Uint32Array.of(frames[0], frames[0] + 100, 0xfffffff0), 3);
    const afterFree = p.stats();
    // Build 300 datagrams; send them in bursts of 64.
    const spec = { dstMac: parseMac('${macB}'), srcMac: parseMac('${macA}'), srcIp: Uint8Array.of(${NET.a4.split('.').join(',')}), dstIp: Uint8Array.of(${NET.b4.split('.').join(',')}), srcPort: 7500, dstPort: 7501 };
    const desc = new Uint32Array(128);
    let sent = 0, bytesSent = 0;
    for (let base = 1; base < 301; base += 64) {
      const n = Math.min(64, 301 - base);
      for (let i = 0; i < n; i++) {
        const off = frames[base + i] + p.headroom;
        bytes.set([0x78, 0x73, 0x6b, 0x21], off + 42);
        const len = buildUdpFrame(bytes, off, spec, 64);
        desc[2 * i] = off; desc[2 * i + 1] = len; bytesSent += len;
      }
      sent += p.txBurst(desc, n);
    }
    // A frame JS no longer owns (already sent) is refused by txBurst and counted.
    desc[0] = frames[1] + p.headroom; desc[1] = 106;
    const took = p.txBurst(desc, 1);
    await new Promise((r) => setTimeout(r, 300));
    p.rxBurst(desc, 0);
    // Give the rest back: then the pool is whole again.
    p.freeFrames(frames.subarray(301), got - 301);
    const s = p.stats();
    const umem = new Uint8Array(p.umem);
    p.close(); filter.close();
    umem[0] = 42; // the mapping outlives close while JS holds it
    let closed = null;
    try { p.rxBurst(desc, 1); } catch (e) { closed = e.code; }
    out({ freeAtStart, got, afterFree, sent, bytesSent, took, s, closed, umem0: umem[0] });`,
  );
  await new Promise((res) => server.once('exit', res));
  const rcv = JSON.parse(sout.trim().split('\n').pop()!) as { n: number; ok: number };
  const s = r.s as Record<string, number>;
  assert.equal(r.got, r.freeAtStart, 'allocFrames hands out every free frame');
  assert.equal((r.afterFree as Record<string, number>).free_invalid, 2, 'double free and out-of-range offset refused');
  assert.equal(r.sent, 300);
  assert.equal(r.took, 1, 'the foreign frame is consumed (dropped), not left pending');
  assert.equal(s.opackets, 300);
  assert.equal(s.obytes, r.bytesSent);
  assert.equal(s.completions, 300);
  assert.equal(s.tx_invalid, 1);
  assert.equal(s.odropped, 1);
  assert.equal(s.frames_free, r.freeAtStart, 'every frame back in the pool');
  assert.deepEqual(rcv, { n: 300, ok: 300 }, 'the peer kernel accepted every frame (checksums right)');
  assert.equal(r.closed, 'ERR_CLOSED');
  assert.equal(r.umem0, 42);
});

test('a worker that ends without close() releases its socket (env cleanup hook)', () => {
  const worker = fileURLToPath(new URL('../../src/native/xsk-port.js', import.meta.url));
  const r = runIn(
    env.a,
    `
    const code = "import { openXskPort } from '${dist('native/xsk-port.js')}'; import { parentPort } from 'node:worker_threads';" +
      "const p = openXskPort({ ifname: '${env.devA}', queue: 0, mode: 'generic' }); parentPort.postMessage(p.fd);";
    const opened = [];
    for (let i = 0; i < 3; i++) {
      const w = new Worker(new URL('data:text/javascript,' + encodeURIComponent(code)));
      opened.push(await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); }));
      await new Promise((res) => w.once('exit', res));
    }
    // After the workers, the queue is free for this thread too.
    const p = openXskPort({ ifname: '${env.devA}', queue: 0, mode: 'generic' });
    p.close();
    out({ opened: opened.length });`,
    [worker],
  );
  assert.equal(r.opened, 3);
});

test('the filter steers several ports, and setPorts changes the set while attached', () => {
  const send = `
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(50): s.sendto(b'port test', ('${NET.a4}', int(p)))
`;
  const r = runIn(
    env.a,
    `
    import { execFileSync } from 'node:child_process';
    const filter = openXdpFilter({ ifname: '${env.devA}', mode: 'generic', ports: [7600, 7602] });
    const p = openXskPort({ ifname: '${env.devA}', queue: 0, mode: 'generic', inhibitProgLoad: true });
    filter.bindQueue(0, p.fd);
    const desc = new Uint32Array(128), offs = new Uint32Array(64);
    const drain = async () => {
      let n = 0;
      const end = Date.now() + 400;
      while (Date.now() < end) {
        const k = p.rxBurst(desc, 64);
        for (let i = 0; i < k; i++) offs[i] = desc[2 * i];
        p.freeFrames(offs, k);
        n += k;
        if (!k) await new Promise((res) => setTimeout(res, 10));
      }
      return n;
    };
    const sendTo = (...ports) => execFileSync('ip', ['netns', 'exec', '${env.b}', 'python3', '-c', ${JSON.stringify(send)}, ...ports.map(String)]);
    sendTo(7600, 7601, 7602);
    const first = await drain();
    filter.setPorts([7601]);
    sendTo(7600, 7601, 7602);
    const second = await drain();
    filter.unbindQueue(0);
    sendTo(7601);
    const unbound = await drain();
    p.close(); filter.close();
    out({ first, second, unbound });`,
  );
  assert.deepEqual(r, { first: 100, second: 50, unbound: 0 });
});

test('process.exit() and an uncaught exception still detach the filter', () => {
  for (const ending of ['process.exit(0)', "setTimeout(() => { throw new Error('boom'); }, 10)"]) {
    const script = `${IMPORTS}
      openXdpFilter({ ifname: '${env.devA}', mode: 'generic', ports: [7700] });
      out({ attached: true });
      ${ending};`;
    try {
      nsExec(env.a, process.execPath, ['--input-type=module', '-e', script]);
    } catch {
      /* the exception case exits 1 */
    }
    assert.equal(xdpAttached(env.a, env.devA), false, ending);
  }
});

test('a port dropped without close() is released when collected; its UMEM view stays usable', () => {
  const r = runIn(
    env.a,
    `
    let views = [];
    for (let i = 0; i < 3; i++) {
      // No close(): only the garbage collector can release the socket.
      let p = openXskPort({ ifname: '${env.devA}', queue: 0, mode: 'generic' });
      views.push(new Uint8Array(p.umem));
      p = null;
      for (let k = 0; k < 5; k++) { globalThis.gc(); await new Promise((res) => setTimeout(res, 20)); }
    }
    // The views still point at live memory (the mapping outlives its port).
    views.forEach((v, i) => { v[4096] = i + 1; });
    out({ opened: views.length, sum: views.reduce((a, v) => a + v[4096], 0) });`,
    [],
    ['--expose-gc'],
  );
  assert.deepEqual(r, { opened: 3, sum: 6 });
});
