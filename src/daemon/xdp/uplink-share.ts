/**
 * Two xdpwg processes on one uplink, both on AF_XDP (main thread).
 *
 * Without libxdp's dispatcher (kernels that refuse freplace programs; see
 * README) a device runs one XDP program, and the kernel takes one AF_XDP
 * buffer pool per (device, queue). So the process that attached the filter
 * (the anchor) shares it: its workers' ports keep their UMEMs in memfds
 * (native/umem_share.h), and it serves a SEQPACKET Unix socket per device,
 * /run/xdpwg/uplink-<netns inode>-<ifindex>.sock. A second process whose
 * filter attach finds the device "already served by another xdpwg process"
 * joins there (a member) instead of taking its kernel socket:
 *
 *   member: join <listen port> <queues>
 *   anchor: memfd <q>   + the queue's UMEM memfd      } for each queue the anchor
 *           xsk <q>     + its worker's AF_XDP socket  } has a port on
 *           wake <q>    + the eventfd that wakes that worker (members write it
 *                         when they need the fill/completion rings served)
 *           joined <slot> <queues shared>             (or: refused <why>)
 *   member: xsk <q>     + its own socket (bound with XDP_SHARED_UMEM)
 *           steer <port> + its UDP socket on <port>   (again on a listen-port change)
 *
 * Steering: a member gets a port steered to its AF_XDP sockets only when it
 * proves the port is its own: the steer message carries its kernel UDP
 * socket, and the anchor checks (native udpSocketPort) that it is a UDP
 * socket of this namespace bound to the whole port (wildcard address, no
 * SO_REUSEPORT/SO_REUSEADDR). The kernel lets one such socket exist per
 * port, and a process can only pass a socket it has, so a member cannot
 * steer to itself the anchor's port, another member's, or any other local
 * service's. What the proof does not give is isolation of the UMEM itself:
 * the member maps every frame, the anchor's decrypted packets included
 * (README, "Several xdpwg interfaces on one uplink").
 *
 * The anchor puts the member's sockets into its XSKMAP at the member's slot
 * and the member's port into its port map; nothing else of the anchor's
 * changes. The connection is the liveness signal both ways: when it ends
 * (kill -9 included) the anchor unsteers the port, releases the slot in every
 * queue's shared UMEM and forgets the member; the member closes its shared
 * ports and attaches a filter of its own (the anchor's, if left by a killed
 * process, is replaced as stale), and says so in the log and `xdpwg stats`.
 *
 * Threading: main thread; every call is non-blocking (timeouts 0) except the
 * member's join, bounded by JOIN_TIMEOUT_MS.
 */
import { lstatSync, readdirSync, rmSync, statSync } from 'node:fs';
import { native, type NativeXdpFilter } from '../../native/binding.js';
import { fdPassing, type SeqpacketMessage } from '../../native/fd-passing.js';
import type { Logger } from '../log.js';
import { ensurePrivateDir } from '../run-dir.js';

const SHARE_DIR = '/run/xdpwg';
/** Member slots 1..MAX_SLOT (slot 0 is the anchor's): kShareMembers - 1 in native/umem_share.h. */
const MAX_SLOT = 3;
const JOIN_TIMEOUT_MS = 2_000;

/** The socket a device's anchor serves, named by network namespace and ifindex. */
export function uplinkSharePath(ifindex: number): string {
  let ns = 0;
  try {
    ns = statSync('/proc/self/ns/net').ino;
  } catch {
    /* no procfs: one namespace */
  }
  return `${SHARE_DIR}/uplink-${ns}-${ifindex}.sock`;
}

/**
 * Removes share sockets whose anchor is gone (a killed process leaves its
 * file; a deleted namespace leaves every one of its): nothing listens on
 * them, so a connect is refused at once. A live anchor sees our probe as a
 * connection that ends before it joins, and forgets it.
 *
 * Why this never deletes a live anchor's socket:
 *   - A new anchor's socket appears under its name only once it listens
 *     (native seqpacketListen binds under a private name, listens, then
 *     renames): no sweep can find it bound but refusing.
 *   - The one race left is a new anchor of the same device renaming its
 *     socket over the dead one between our refused connect and our unlink.
 *     We unlink only when the file is still the inode that refused us, which
 *     leaves a window of two syscalls; and should even that be hit, the
 *     anchor finds its file gone or replaced at its next poll (within a
 *     second) and publishes its socket again (UplinkShareServer.poll).
 */
function removeDeadShareSockets(): void {
  let names: string[] = [];
  try {
    names = readdirSync(SHARE_DIR).filter((f) => /^uplink-\d+-\d+\.sock$/.test(f));
  } catch {
    return;
  }
  for (const f of names) {
    const file = `${SHARE_DIR}/${f}`;
    const probed = inodeOf(file);
    try {
      fdPassing().closeFd(fdPassing().seqpacketConnect(file, 100));
    } catch (err) {
      if ((err as { code?: string }).code === 'ECONNREFUSED' && probed !== undefined && inodeOf(file) === probed)
        rmSync(file, { force: true });
    }
  }
}

function inodeOf(file: string): bigint | undefined {
  try {
    return lstatSync(file, { bigint: true }).ino;
  } catch {
    return undefined;
  }
}

// process.exit() (the daemon's way out on a signal) skips close(): the
// 'exit' event still runs, and takes our socket files with it.
const openSockets = new Set<string>();
function removeOnExit(): void {
  for (const p of openSockets) rmSync(p, { force: true });
}

/** A message, or null when none is waiting (never blocks). */
function tryRecv(fd: number): SeqpacketMessage | null {
  try {
    return fdPassing().seqpacketRecv(fd, 0);
  } catch (err) {
    if ((err as { code?: string }).code === 'ETIMEDOUT') return null;
    throw err;
  }
}

/** port: what it asked for (log); steered: the port it proved and we steer to it. */
interface Member {
  conn: number;
  slot: number;
  port: number;
  steered?: number;
  pid: string;
  queues: number[];
}

/** The anchor side: serves joins for one device whose filter is ours. */
export class UplinkShareServer {
  private listenFd: number;
  /** The inode of our socket file: another one, or none, at our path means it was swept or replaced. */
  private listenIno: bigint | undefined;
  private readonly xskFds = new Map<number, number>();
  private readonly members = new Map<number, Member>();
  private pending: number[] = [];

  private readonly path: string;

  constructor(
    private readonly device: string,
    ifindex: number,
    private readonly filter: NativeXdpFilter,
    /** The UMEM memfd and the members' wake eventfd of each queue's anchor port (index = queue), ours to close. */
    private readonly memfds: number[],
    private readonly wakeFds: number[],
    private readonly log: Logger,
  ) {
    this.path = uplinkSharePath(ifindex);
    removeDeadShareSockets();
    // Private before the socket exists (seqpacketListen binds, then chmods): members pass memory and sockets through it.
    ensurePrivateDir(SHARE_DIR);
    this.listenFd = fdPassing().seqpacketListen(this.path);
    this.listenIno = inodeOf(this.path);
    openSockets.add(this.path);
    if (openSockets.size === 1) process.once('exit', removeOnExit);
  }

  /** A worker's port on queue q is bound: members can join it. */
  setXsk(queue: number, fd: number): void {
    this.xskFds.set(queue, fd);
  }

  /** Accepts joins and reads members' messages (once a second, from XdpPaths.refresh). */
  poll(): void {
    const fp = fdPassing();
    this.republishIfSwept();
    for (;;) {
      let conn = -1;
      try {
        conn = fp.seqpacketAccept(this.listenFd, 0);
      } catch {
        break;
      }
      this.pending.push(conn);
    }
    this.pending = this.pending.filter((conn) => this.serveJoin(conn));
    for (const m of [...this.members.values()]) this.serveMember(m);
  }

  /**
   * Our socket file is not ours any more (removed by another process's sweep
   * that lost the race described at removeDeadShareSockets): listen again
   * under the same name. Joins already accepted keep their connections.
   */
  private republishIfSwept(): void {
    const ino = inodeOf(this.path);
    if (ino !== undefined && ino === this.listenIno) return;
    let fd: number;
    try {
      fd = fdPassing().seqpacketListen(this.path);
    } catch (err) {
      this.log.error(`${this.device}: our share socket ${this.path} is gone and cannot be made again: ${(err as Error).message}`);
      return;
    }
    for (;;) {
      let conn = -1;
      try {
        conn = fdPassing().seqpacketAccept(this.listenFd, 0);
      } catch {
        break;
      }
      this.pending.push(conn);
    }
    fdPassing().closeFd(this.listenFd);
    this.listenFd = fd;
    this.listenIno = inodeOf(this.path);
    this.log.error(`${this.device}: our share socket ${this.path} was removed or replaced; listening there again`);
  }

  /** Handles a pending connection's join; false once it is settled (joined, refused or gone). */
  private serveJoin(conn: number): boolean {
    const fp = fdPassing();
    const msg = tryRecv(conn);
    if (!msg) return true;
    const join = /^join (\d+) (\d+) (\d+)$/.exec(msg.text);
    if (msg.fd >= 0) fp.closeFd(msg.fd);
    const free = [...Array(MAX_SLOT).keys()].map((i) => i + 1).find((s) => !this.members.has(s));
    const queues = [...this.xskFds.keys()].filter((q) => join && q < Number(join[2])).sort((a, b) => a - b);
    const refuse = msg.closed
      ? 'gone'
      : !join
        ? `bad request ${JSON.stringify(msg.text)}`
        : free === undefined
          ? 'no free slot'
          : queues.length === 0
            ? 'no AF_XDP port yet'
            : '';
    if (refuse) {
      if (!msg.closed) {
        try {
          fp.seqpacketSend(conn, `refused ${refuse}`, -1, 1000);
        } catch {
          /* it went away */
        }
      }
      fp.closeFd(conn);
      return false;
    }
    try {
      for (const q of queues) {
        fp.seqpacketSend(conn, `memfd ${q}`, this.memfds[q]!, 1000);
        fp.seqpacketSend(conn, `xsk ${q}`, this.xskFds.get(q)!, 1000);
        fp.seqpacketSend(conn, `wake ${q}`, this.wakeFds[q]!, 1000);
      }
      fp.seqpacketSend(conn, `joined ${free} ${queues.length}`, -1, 1000);
    } catch (err) {
      this.log.error(`${this.device}: a joining xdpwg went away: ${(err as Error).message}`);
      fp.closeFd(conn);
      return false;
    }
    const m: Member = { conn, slot: free!, port: Number(join![1]), pid: join![3]!, queues };
    this.members.set(m.slot, m);
    this.log.verbose(
      `${this.device}: xdpwg pid ${m.pid} (port ${m.port}) shares our XDP program and UMEM on queue(s) ${queues.join(', ')} as slot ${m.slot}`,
    );
    return false;
  }

  private serveMember(m: Member): void {
    const fp = fdPassing();
    for (let msg = tryRecv(m.conn); msg; msg = tryRecv(m.conn)) {
      if (msg.closed) {
        this.drop(m, 'its connection ended');
        return;
      }
      const xsk = /^xsk (\d+)$/.exec(msg.text);
      const steer = /^steer (\d+)$/.exec(msg.text);
      try {
        if (xsk && msg.fd >= 0) this.filter.bindQueue(Number(xsk[1]), msg.fd, m.slot);
        else if (steer) {
          // Only a port the member proves it holds (see the head of this file).
          const want = Number(steer[1]);
          if (msg.fd < 0) throw new Error(`refused to steer port ${want}: no UDP socket came with the request to prove it`);
          let held: number;
          try {
            held = fp.udpSocketPort(msg.fd);
          } catch (err) {
            throw new Error(`refused to steer port ${want}: ${(err as Error).message}`);
          }
          if (held !== want) throw new Error(`refused to steer port ${want}: the UDP socket that came with it holds port ${held}`);
          if (m.steered !== undefined && m.steered !== want) this.filter.setMemberPort?.(m.steered, 0);
          m.port = want;
          this.filter.setMemberPort?.(want, m.slot);
          m.steered = want;
        }
      } catch (err) {
        this.log.error(`${this.device}: member slot ${m.slot}: ${(err as Error).message}`);
      }
      // The XSKMAP entry does not keep the member's socket alive: its process's exit still closes it.
      if (msg.fd >= 0) fp.closeFd(msg.fd);
    }
  }

  private drop(m: Member, why: string): void {
    if (m.steered !== undefined) {
      try {
        this.filter.setMemberPort?.(m.steered, 0);
      } catch {
        /* the filter is closing */
      }
    }
    for (const q of m.queues) {
      try {
        this.filter.unbindQueue(q, m.slot);
      } catch {
        /* idem */
      }
      try {
        native().shareReleaseSlot(this.memfds[q]!, m.slot, this.wakeFds[q] ?? -1);
      } catch (err) {
        this.log.error(`${this.device}: cannot release slot ${m.slot} of queue ${q}: ${(err as Error).message}`);
      }
    }
    fdPassing().closeFd(m.conn);
    this.members.delete(m.slot);
    this.log.verbose(`${this.device}: xdpwg pid ${m.pid} (port ${m.port}) left the shared AF_XDP path (${why}); slot ${m.slot} released`);
  }

  /** Ends every member's connection (they fall back to filters of their own), stops listening. */
  close(): void {
    for (const m of [...this.members.values()]) this.drop(m, 'we are stopping');
    for (const conn of this.pending) fdPassing().closeFd(conn);
    this.pending = [];
    fdPassing().closeFd(this.listenFd);
    rmSync(this.path, { force: true });
    openSockets.delete(this.path);
    for (const fd of [...this.memfds, ...this.wakeFds]) if (fd >= 0) fdPassing().closeFd(fd);
    this.memfds.length = 0;
    this.wakeFds.length = 0;
  }
}

/** The member side: stands in for our filter on a device another xdpwg's filter serves. */
export class UplinkShareMember implements NativeXdpFilter {
  private constructor(
    private readonly ifname: string,
    private readonly ifindex: number,
    private conn: number,
    readonly slot: number,
    /** Per queue (index = queue; -1 past the shared ones): the anchor's memfd and socket, closed once our port is bound. */
    readonly memfds: number[],
    readonly anchorFds: number[],
    readonly wakeFds: number[],
    private port: number,
    /** Our kernel UDP socket on port (the daemon's; not ours to close): sent with each steer as proof. */
    private udpFd: number,
  ) {}

  /** Joins the anchor serving ifindex; throws with the reason when there is none or it refuses. */
  static join(ifname: string, ifindex: number, port: number, queues: number, udpFd: number): UplinkShareMember {
    const fp = fdPassing();
    const conn = fp.seqpacketConnect(uplinkSharePath(ifindex), JOIN_TIMEOUT_MS);
    const memfds: number[] = [],
      anchorFds: number[] = [],
      wakeFds: number[] = [];
    try {
      fp.seqpacketSend(conn, `join ${port} ${queues} ${process.pid}`, -1, JOIN_TIMEOUT_MS);
      for (;;) {
        const msg = fp.seqpacketRecv(conn, JOIN_TIMEOUT_MS);
        const fdMsg = /^(memfd|xsk|wake) (\d+)$/.exec(msg.text);
        if (fdMsg && msg.fd >= 0) {
          (fdMsg[1] === 'memfd' ? memfds : fdMsg[1] === 'xsk' ? anchorFds : wakeFds)[Number(fdMsg[2])] = msg.fd;
          continue;
        }
        if (msg.fd >= 0) fp.closeFd(msg.fd);
        const joined = /^joined (\d+) (\d+)$/.exec(msg.text);
        if (joined)
          return new UplinkShareMember(ifname, ifindex, conn, Number(joined[1]), fill(memfds), fill(anchorFds), fill(wakeFds), port, udpFd);
        throw new Error(msg.closed ? 'the anchor closed the connection' : `the anchor answered ${JSON.stringify(msg.text)}`);
      }
    } catch (err) {
      for (const fd of [...memfds, ...anchorFds, ...wakeFds]) if (fd >= 0) fp.closeFd(fd);
      fp.closeFd(conn);
      throw err;
    }
  }

  /** Queues the anchor shares with us. */
  get queues(): number {
    return this.anchorFds.filter((fd) => fd >= 0).length;
  }

  /** Hands our worker's socket (bound with XDP_SHARED_UMEM) to the anchor; the first one also asks for our port. */
  bindQueue(queue: number, xskFd: number): void {
    if (this.conn < 0) throw new Error(`${this.ifname}: the shared AF_XDP path is closed`);
    const fp = fdPassing();
    fp.seqpacketSend(this.conn, `xsk ${queue}`, xskFd, 1000);
    fp.seqpacketSend(this.conn, `steer ${this.port}`, this.udpFd, 1000);
    this.queueDone(queue);
  }

  /** Our port on queue q is bound or failed: the anchor's fds for it are no longer needed (holding its socket would keep it alive after its process). */
  queueDone(queue: number): void {
    for (const list of [this.memfds, this.anchorFds, this.wakeFds]) {
      if ((list[queue] ?? -1) >= 0) {
        fdPassing().closeFd(list[queue]!);
        list[queue] = -1;
      }
    }
  }

  unbindQueue(_queue: number): void {
    /* our socket leaves the anchor's XSKMAP when it closes */
  }

  /** A new listen port, with the UDP socket that holds it (the anchor steers it only with that proof). */
  setPorts(ports: number[], udpFd?: number): void {
    this.port = ports[0] ?? this.port;
    if (udpFd !== undefined) this.udpFd = udpFd;
    if (this.conn >= 0) fdPassing().seqpacketSend(this.conn, `steer ${this.port}`, this.udpFd, 1000);
  }

  /** The anchor keeps the local-address maps (same namespace). */
  setLocalAddresses(_addrs: Uint8Array[]): void {}

  /** False once the anchor's process closed the connection (it stopped, or was killed). */
  alive(): boolean {
    if (this.conn < 0) return false;
    for (let msg = tryRecv(this.conn); msg; msg = tryRecv(this.conn)) {
      if (msg.fd >= 0) fdPassing().closeFd(msg.fd);
      if (msg.closed) return false;
    }
    return true;
  }

  info(): ReturnType<NativeXdpFilter['info']> {
    return {
      ifname: this.ifname,
      ifindex: this.ifindex,
      mode: this.conn < 0 ? 'none' : 'shared-umem',
      dispatcher: false,
      replacedStale: 0,
      programId: 0,
    };
  }

  /**
   * Ends the connection: the anchor then takes back every frame of our slot
   * (native/umem_share.h), so our workers' shared ports must be closed first
   * (Device.close stops the workers before closing the XDP paths), unless
   * the anchor is gone already (memberLost).
   */
  close(): void {
    for (let q = 0; q < this.anchorFds.length; q++) this.queueDone(q);
    if (this.conn >= 0) fdPassing().closeFd(this.conn);
    this.conn = -1;
  }
}

/** Sparse fd list to a dense one (-1 where none). */
function fill(list: number[]): number[] {
  return Array.from(list, (fd) => fd ?? -1);
}
