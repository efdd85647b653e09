/**
 * The anchor side of a shared uplink (src/daemon/xdp/uplink-share.ts) without a
 * device: its share socket against other processes' stale-socket sweeps, and
 * the proof a member must give before a port is steered to it.
 *
 * Needs root (/run/xdpwg, and SIOCGSKNS behind udpSocketPort).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { native, type NativeUdpPort, type NativeXdpFilter } from '../../src/native/binding.js';
import { fdPassing } from '../../src/native/fd-passing.js';
import { Logger } from '../../src/daemon/log.js';
import { UplinkShareServer, uplinkSharePath } from '../../src/daemon/xdp/uplink-share.js';
import { requireRoot, sh, waitFor } from '../helpers/netns.js';

// ifindexes no device here has: their share sockets are this test's alone.
const IFINDEX = 900_000 + (process.pid % 50_000);
const DEAD_IFINDEX = IFINDEX + 1;
const fp = fdPassing();

interface Steered {
  port: number;
  slot: number;
}
/** The filter calls a share server makes, recorded. */
function stubFilter(steered: Steered[]): NativeXdpFilter {
  return {
    bindQueue: () => {},
    unbindQueue: () => {},
    setPorts: () => {},
    setLocalAddresses: () => {},
    close: () => {},
    setMemberPort: (port: number, slot: number) => {
      steered.push({ port, slot });
    },
    info: () => ({ ifname: 'stub', ifindex: IFINDEX, mode: 'generic', dispatcher: false, replacedStale: 0, programId: 0 }),
  } as unknown as NativeXdpFilter;
}

const opened: Array<{ close(): void }> = [];
const errors: string[] = [];
function server(steered: Steered[] = []): UplinkShareServer {
  const fds = [native().shareWakeFd(), native().shareWakeFd(), native().shareWakeFd()];
  const s = new UplinkShareServer(
    'stub0',
    IFINDEX,
    stubFilter(steered),
    [fds[0]!],
    [fds[1]!],
    new Logger('share-test ', 'error', (l) => {
      errors.push(l);
    }),
  );
  s.setXsk(0, fds[2]!);
  opened.push(s);
  return s;
}

function connects(path: string): boolean {
  try {
    fp.closeFd(fp.seqpacketConnect(path, 200));
    return true;
  } catch {
    return false;
  }
}

/** A socket file nothing listens on, as a killed anchor leaves it (bound by a process that then exits). */
function deadSocketAt(path: string): void {
  sh('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(${JSON.stringify(path)})`]);
}

before(() => {
  requireRoot();
  mkdirSync('/run/xdpwg', { recursive: true });
});
after(() => {
  for (const o of opened.splice(0)) {
    try {
      o.close();
    } catch {
      /* closed already */
    }
  }
  for (const i of [IFINDEX, DEAD_IFINDEX]) rmSync(uplinkSharePath(i), { force: true });
});

test('a new anchor sweeps a dead share socket, keeps a live one, and leaves no temporary name behind', () => {
  const live = server();
  const dead = uplinkSharePath(DEAD_IFINDEX);
  rmSync(dead, { force: true });
  deadSocketAt(dead);
  assert.ok(existsSync(dead) && !connects(dead), 'the dead socket refuses');
  live.close();
  opened.length = 0;
  const again = server();
  assert.ok(!existsSync(dead), 'the dead one is swept');
  assert.ok(connects(uplinkSharePath(IFINDEX)), 'the new anchor listens at its path');
  // A second sweep (another anchor starting) leaves the live one alone.
  const other = new UplinkShareServer('stub1', DEAD_IFINDEX, stubFilter([]), [], [], new Logger('', 'silent'));
  opened.push(other);
  assert.ok(connects(uplinkSharePath(IFINDEX)), "a live anchor survives another anchor's sweep");
  assert.deepEqual(
    readdirSync('/run/xdpwg').filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary socket name left',
  );
  again.poll();
});

test('a share socket is never found at its path before it listens (what a sweep would take for dead)', async () => {
  const path = '/run/xdpwg/uplink-0-' + String(DEAD_IFINDEX + 1) + '.sock';
  rmSync(path, { force: true });
  // A prober thread connects in a loop and counts refusals while this one
  // makes the socket and takes it away again: the file first, and the fd
  // only many rounds later, so that neither a file without its socket nor a
  // socket closed under a connect in progress can refuse: a refusal can only
  // be the moment between bind and listen.
  const prober = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.binding).then(({ fdPassing }) => {
      const fp = fdPassing();
      let refused = 0, connected = 0, stop = false;
      parentPort.on('message', () => { stop = true; });
      const step = () => {
        for (let i = 0; i < 200; i++) {
          try { fp.closeFd(fp.seqpacketConnect(workerData.path, 0)); connected++; } catch (err) { if (err.code === 'ECONNREFUSED') refused++; }
        }
        if (stop) parentPort.postMessage({ refused, connected }); else setImmediate(step);
      };
      step();
    });`,
    { eval: true, workerData: { path, binding: new URL('../../src/native/fd-passing.js', import.meta.url).href } },
  );
  const deadline = Date.now() + 3_000;
  let rounds = 0;
  const open: number[] = [];
  while (Date.now() < deadline) {
    open.push(fp.seqpacketListen(path));
    rmSync(path);
    if (open.length > 256) fp.closeFd(open.shift()!);
    rounds++;
    if (rounds % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  for (const fd of open) fp.closeFd(fd);
  const result = new Promise<{ refused: number; connected: number }>((r) => prober.once('message', r));
  prober.postMessage('stop');
  const { refused, connected } = await result;
  await prober.terminate();
  process.stderr.write(`# ${rounds} listens; the prober connected ${connected} times, was refused ${refused} times\n`);
  assert.ok(connected > 0, 'the prober reached some listening socket');
  assert.equal(refused, 0, 'never a socket at the path that did not listen');
});

test('an anchor whose share socket was swept or replaced publishes it again at its next poll', () => {
  for (const o of opened.splice(0)) o.close();
  const s = server();
  const path = uplinkSharePath(IFINDEX);
  // The race a sweep can still lose: our file is removed...
  rmSync(path);
  s.poll();
  assert.ok(connects(path), 'listening again after its file was removed');
  // ...or a dead socket is put over it.
  const ino = statSync(path).ino;
  rmSync(path);
  deadSocketAt(path);
  assert.notEqual(statSync(path).ino, ino);
  s.poll();
  assert.ok(connects(path), 'listening again after its file was replaced');
  assert.ok(
    errors.some((l) => /removed or replaced; listening there again/.test(l)),
    errors.join(''),
  );
});

test('a member gets a port steered only with proof that it holds that UDP port', async () => {
  for (const o of opened.splice(0)) o.close();
  const steered: Steered[] = [];
  errors.length = 0;
  const s = server(steered);
  const conn = fp.seqpacketConnect(uplinkSharePath(IFINDEX), 1000);
  opened.push({ close: () => fp.closeFd(conn) });
  fp.seqpacketSend(conn, `join 1 1 ${process.pid}`, -1, 1000);
  s.poll();
  for (;;) {
    const m = fp.seqpacketRecv(conn, 2000);
    if (m.fd >= 0) fp.closeFd(m.fd);
    if (/^joined /.test(m.text)) break;
    assert.match(m.text, /^(memfd|xsk|wake) 0$/);
  }
  const udp = (o: { port?: number; bindAddress?: string; reusePort?: boolean }): NativeUdpPort => {
    const u = new (native().UdpPort)({ frameCount: 64, ...o });
    opened.push(u);
    return u;
  };
  const mine = udp({});
  const other = udp({});
  const oneAddress = udp({ bindAddress: '127.0.0.1' });
  const shared = udp({ reusePort: true });
  const ask = async (port: number, fd: number, why: RegExp): Promise<void> => {
    const before = errors.length;
    fp.seqpacketSend(conn, `steer ${port}`, fd, 1000);
    await waitFor(
      `the anchor answers steer ${port}`,
      () => {
        s.poll();
        return errors.length > before ? true : undefined;
      },
      5_000,
    );
    assert.match(errors.slice(before).join(''), why);
  };
  await ask(mine.port, -1, /refused to steer port \d+: no UDP socket came/);
  await ask(mine.port, other.fd, /refused to steer port \d+: the UDP socket that came with it holds port/);
  await ask(oneAddress.port, oneAddress.fd, /bound to one address/);
  await ask(shared.port, shared.fd, /SO_REUSEPORT or SO_REUSEADDR/);
  const eventfd = native().shareWakeFd();
  opened.push({ close: () => fp.closeFd(eventfd) });
  await ask(mine.port, eventfd, /not a socket|not a UDP socket/);
  assert.deepEqual(steered, [], 'nothing was steered without proof');

  fp.seqpacketSend(conn, `steer ${mine.port}`, mine.fd, 1000);
  await waitFor(
    'the proven port steered',
    () => {
      s.poll();
      return steered.length > 0 ? true : undefined;
    },
    5_000,
  );
  assert.deepEqual(steered, [{ port: mine.port, slot: 1 }]);
  // The member leaves: its proven port is unsteered.
  fp.closeFd(conn);
  opened.pop();
  await waitFor(
    'the port unsteered',
    () => {
      s.poll();
      return steered.length > 1 ? true : undefined;
    },
    5_000,
  );
  assert.deepEqual(steered[1], { port: mine.port, slot: 0 });
});
