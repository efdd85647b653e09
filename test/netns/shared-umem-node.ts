/**
 * One process of test/netns/shared-umem.test.ts: a UDP echo on AF_XDP that
 * either anchors a queue's shared UMEM (and owns the XDP filter) or joins an
 * anchor as a member (native/umem_share.h), so two processes echo their own
 * ports on one (device, queue).
 *
 *   node shared-umem-node.js anchor IFNAME PORT SOCKET [idle]
 *   node shared-umem-node.js member IFNAME PORT SOCKET [copy]
 *
 * copy: the member answers each datagram from a frame of its own
 * (allocFrames) and frees the received one, as the daemon's datapath does
 * (decrypt in place, encrypt into another frame): so it draws on the
 * anchor's grants and keeps a cache of frames, which closing must give back.
 *
 * idle: the anchor works as the daemon's worker does: it sleeps until its
 * socket or the members' wake eventfd (pollFd) is readable, and a lost
 * member's slot is released as the daemon's main thread does it
 * (shareReleaseSlot, which wakes the worker), not by the port itself.
 *
 * The anchor hands its UMEM's memfd and its socket's fd to a member over a
 * SEQPACKET Unix socket; the member answers with its own socket's fd, which
 * the anchor puts into the XSKMAP at the member's slot, with the member's
 * port. When the member's connection ends (kill -9 included), the anchor
 * releases the slot. When the anchor's ends, the member closes its shared
 * port and falls back to a filter and port of its own (the anchor's filter,
 * left by a killed process, is replaced as stale).
 *
 * Prints JSON lines: {event: 'ready' | 'joined' | 'released' | 'fell-back' | 'stats', ...}.
 */
import type { NativeXdpFilter, NativeXskPort } from '../../src/native/binding.js';
import { fdPassing } from '../../src/native/fd-passing.js';
import { openXdpFilter } from '../../src/native/xdp-filter.js';
import { openXskPort } from '../../src/native/xsk-port.js';
import { native } from '../../src/native/binding.js';

const [role, ifname, portText, socketPath, style] = process.argv.slice(2) as [string, string, string, string, string?];
const listenPort = Number(portText);
const MEMBER_SLOT = 1;
const BURST = 64;
const fds = fdPassing();
const say = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

/**
 * Swaps source and destination of an Ethernet/IPv4/UDP frame in place. The IP
 * checksum stays valid; the UDP one is cleared (allowed for IPv4, RFC 768):
 * a veth peer hands over its datagrams with only the partial checksum of
 * transmit offload, which would be wrong on the way back.
 */
function swapInPlace(b: Uint8Array, off: number): void {
  const swap = (x: number, y: number, n: number): void => {
    for (let i = 0; i < n; i++) {
      const t = b[x + i]!;
      b[x + i] = b[y + i]!;
      b[y + i] = t;
    }
  };
  swap(off, off + 6, 6);
  swap(off + 14 + 12, off + 14 + 16, 4);
  swap(off + 34, off + 36, 2);
  b[off + 40] = 0;
  b[off + 41] = 0;
}

let echoed = 0;
const desc = new Uint32Array(2 * BURST);
const fresh = new Uint32Array(BURST);

/**
 * copy style: the first got descriptors' datagrams move into newly allocated
 * frames (desc then names those), every received frame is freed; returns how
 * many moved (the rest had no frame to go to: dropped).
 */
function copyFrames(port: NativeXskPort, buf: Uint8Array, got: number): number {
  const n = port.allocFrames(fresh, got);
  const done = new Uint32Array(got);
  for (let i = 0; i < got; i++) {
    const off = desc[2 * i]!;
    done[i] = off;
    if (i < n) {
      buf.copyWithin(fresh[i]!, off, off + desc[2 * i + 1]!);
      desc[2 * i] = fresh[i]!;
    }
  }
  port.freeFrames(done, got);
  return n;
}

/** One burst: every IPv4 UDP frame goes back where it came from; anything else is freed. */
function echoBurst(port: NativeXskPort, buf: Uint8Array): void {
  let got = port.rxBurst(desc, BURST);
  if (got <= 0) return;
  if (style === 'copy') got = copyFrames(port, buf, got);
  const out = new Uint32Array(2 * got),
    drop = new Uint32Array(got);
  let n = 0,
    d = 0;
  for (let i = 0; i < got; i++) {
    const off = desc[2 * i]!,
      len = desc[2 * i + 1]!;
    if (len >= 42 && buf[off + 12] === 0x08 && buf[off + 13] === 0x00 && buf[off + 23] === 17) {
      swapInPlace(buf, off);
      out[2 * n] = off;
      out[2 * n + 1] = len;
      n++;
    } else drop[d++] = off;
  }
  const sent = port.txBurst(out, n);
  echoed += sent;
  for (let i = sent; i < n; i++) drop[d++] = out[2 * i]!;
  if (d) port.freeFrames(drop, d);
}

/** A message or null when none is waiting; {closed} when the peer is gone. */
function tryRecv(fd: number): { text: string; fd: number; closed: boolean } | null {
  try {
    return fds.seqpacketRecv(fd, 0);
  } catch (err) {
    if ((err as { code?: string }).code === 'ETIMEDOUT') return null;
    throw err;
  }
}

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

async function loop(step: () => void): Promise<void> {
  let lastStats = 0;
  while (!stopping) {
    step();
    if (Date.now() - lastStats > 200) {
      lastStats = Date.now();
      say({ event: 'stats', echoed, ...current() });
    }
    await new Promise((r) => setImmediate(r));
  }
}

let current: () => Record<string, unknown> = () => ({});

async function anchor(): Promise<void> {
  const idle = style === 'idle';
  const filter = openXdpFilter({ ifname, mode: 'generic', ports: [listenPort] });
  // idle: the daemon's way, a memfd and a wake eventfd of the main thread's.
  const memfd = idle ? native().shareMemfd(2048, 4096) : -1,
    wake = idle ? native().shareWakeFd() : -1;
  const port = openXskPort({
    ifname,
    queue: 0,
    mode: 'generic',
    inhibitProgLoad: true,
    share: idle ? { memfds: [memfd], wakeFds: [wake] } : 'anchor',
  });
  filter.bindQueue(0, port.fd);
  const buf = new Uint8Array(port.umem);
  const listen = fds.seqpacketListen(socketPath);
  const waiter = new (native().Waiter)();
  const waitFds = new Int32Array(3);
  let member: { conn: number; port: number } | null = null;
  current = () => ({ stats: port.stats(), member: member !== null });
  say({ event: 'ready', info: port.info() });
  await loop(() => {
    let ready = -1; // busy style: every step serves everything
    if (idle) {
      waitFds[0] = port.pollFd;
      waitFds[1] = listen;
      waitFds[2] = member?.conn ?? -1;
      ready = waiter.wait(waitFds, member ? 3 : 2, 200);
      if (!ready) return;
    }
    if (!member) {
      let conn = -1;
      try {
        conn = fds.seqpacketAccept(listen, 0);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ETIMEDOUT') throw err;
      }
      if (conn >= 0) {
        fds.seqpacketSend(conn, 'umem', port.umemFd, 1000);
        fds.seqpacketSend(conn, 'xsk', port.fd, 1000);
        fds.seqpacketSend(conn, 'wake', wake, 1000);
        const m = fds.seqpacketRecv(conn, 5000);
        const mport = Number(/^member (\d+)$/.exec(m.text)?.[1]);
        filter.bindQueue(0, m.fd, MEMBER_SLOT);
        filter.setMemberPort!(mport, MEMBER_SLOT);
        fds.closeFd(m.fd); // the XSKMAP entry does not keep the member's socket alive
        member = { conn, port: mport };
        say({ event: 'joined', port: mport });
      }
    } else {
      const m = tryRecv(member.conn);
      if (m?.closed) {
        filter.setMemberPort!(member.port, 0);
        filter.unbindQueue(0, MEMBER_SLOT);
        if (idle) native().shareReleaseSlot(memfd, MEMBER_SLOT, wake);
        else port.releaseMember(MEMBER_SLOT);
        fds.closeFd(member.conn);
        member = null;
        say({ event: 'released' });
      }
    }
    if (idle) {
      if (ready & 1) echoBurst(port, buf); // only when our socket or a member asked for it
      return;
    }
    port.poll(10);
    echoBurst(port, buf);
  });
  port.close();
  filter.close();
  fds.closeFd(listen);
}

async function memberProcess(): Promise<void> {
  const conn = fds.seqpacketConnect(socketPath, 2000);
  const umem = fds.seqpacketRecv(conn, 2000);
  const xsk = fds.seqpacketRecv(conn, 2000);
  const wake = fds.seqpacketRecv(conn, 2000); // the anchor's wake eventfd (fd -1: it polls without one)
  let port: NativeXskPort = openXskPort({
    ifname,
    queue: 0,
    share: { anchorFds: [xsk.fd], memfds: [umem.fd], anchorWakeFds: [wake.fd], slot: MEMBER_SLOT },
  });
  for (const fd of [umem.fd, xsk.fd, wake.fd]) if (fd >= 0) fds.closeFd(fd);
  fds.seqpacketSend(conn, `member ${listenPort}`, port.fd, 1000);
  let buf = new Uint8Array(port.umem);
  let filter: NativeXdpFilter | null = null;
  let anchorGoneAt = 0;
  let triedAt = 0;
  const portStats = (): Record<string, unknown> => ({ stats: port.stats(), info: port.info() });
  current = portStats;
  say({ event: 'ready', info: port.info() });
  await loop(() => {
    if (anchorGoneAt === 0 && tryRecv(conn)?.closed) {
      anchorGoneAt = Date.now();
      port.close();
      current = () => ({}); // no port until the fall-back below has one
    }
    if (anchorGoneAt > 0 && !filter) {
      if (Date.now() - triedAt < 50) return;
      triedAt = Date.now();
      // Nobody fills the shared pool any more: a filter and a port of our own. The connection
      // closes while the killed anchor is still exiting, and until its files are all closed its
      // program still looks owned (EBUSY): try again, as the daemon does (xdp-paths.ts attach).
      try {
        filter = openXdpFilter({ ifname, mode: 'generic', ports: [listenPort] });
      } catch (err) {
        if ((err as { code?: string }).code === 'EBUSY' && Date.now() - anchorGoneAt < 5_000) return;
        throw err;
      }
      port = openXskPort({ ifname, queue: 0, mode: 'generic', inhibitProgLoad: true });
      filter.bindQueue(0, port.fd);
      buf = new Uint8Array(port.umem);
      current = portStats;
      say({ event: 'fell-back', replacedStale: filter.info().replacedStale, info: port.info() });
    }
    port.poll(10);
    echoBurst(port, buf);
  });
  port.close();
  (filter as NativeXdpFilter | null)?.close();
  fds.closeFd(conn);
}

await (role === 'anchor' ? anchor() : memberProcess());
