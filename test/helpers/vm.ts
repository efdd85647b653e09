/**
 * Test guests under QEMU: a real virtio_net driver (native XDP, AF_XDP, its
 * own queues and interrupts) and the kernel's WireGuard module, neither of
 * which a veth or this host's kernel offers.
 *
 * A guest boots the kernel and initramfs of scripts/vm/guest-image.sh (cached;
 * rebuilt only when its inputs change). Its userspace is this host's root,
 * shared read-only over virtiofs, so the guest runs the same node, xdpwg
 * build, wg, iproute2 and iperf3 as the host. Commands go in and results come
 * out through a mailbox directory shared over a second virtiofs
 * (scripts/vm/guest-agent.sh states the protocol), so a test drives a guest as
 * it drives a network namespace: `await guest.sh('ip -br addr')`.
 *
 * Networking: each NIC is a virtio-net-pci device on a multi-queue tap that
 * QEMU creates inside a network namespace the test owns, so the host end of
 * the wire is a device in that namespace.
 *
 * There is no usable KVM here (the host's /dev/kvm is a paravirtual flavour
 * ordinary guest kernels do not run under), so guests run under TCG: slow,
 * but a real driver. Every wait has a deadline and says what it waited for.
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nsExec, waitFor } from './netns.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const AGENT = path.join(REPO, 'scripts', 'vm', 'guest-agent.sh');
const VIRTIOFSD = '/usr/lib/qemu/virtiofsd';

/** The kernel and initramfs directory (built or reused by scripts/vm/guest-image.sh). */
export function guestImage(): string {
  const out = execFileSync(path.join(REPO, 'scripts', 'vm', 'guest-image.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  });
  return out.trim().split('\n').pop()!;
}

export interface GuestNic {
  /** The host end: a tap created by QEMU in this namespace, with this name. */
  netns: string;
  tap: string;
  /** Queue pairs (virtio_net multi-queue; the guest needs as many vCPUs to use them all). */
  queues: number;
  mac: string;
}

export interface GuestOptions {
  name: string;
  image: string;
  cpus?: number;
  memoryMb?: number;
  nics: GuestNic[];
}

export interface CommandResult {
  rc: number;
  out: string;
}

export class Guest {
  private readonly dir: string;
  private readonly mailbox: string;
  private readonly consolePath: string;
  private readonly children: ChildProcess[] = [];
  private next = 0;
  private exited: string | undefined;

  private constructor(readonly opts: GuestOptions) {
    this.dir = mkdtempSync(path.join(tmpdir(), `xdpwg-vm-${opts.name}-`));
    this.mailbox = path.join(this.dir, 'mailbox');
    execFileSync('mkdir', ['-p', this.mailbox]);
    this.consolePath = path.join(this.dir, 'console.log');
  }

  /** Boots a guest and waits until its agent answers. */
  static async boot(opts: GuestOptions, timeoutMs = 120_000): Promise<Guest> {
    const g = new Guest(opts);
    try {
      await g.start(timeoutMs);
    } catch (err) {
      g.stop();
      throw err;
    }
    return g;
  }

  private virtiofsd(tag: string, source: string, cache: 'always' | 'none'): string {
    const sock = path.join(this.dir, `${tag}.sock`);
    const child = spawn(VIRTIOFSD, [`--socket-path=${sock}`, '-o', `source=${source}`, '-o', `cache=${cache}`, '-o', 'sandbox=chroot'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) => {
      if (!this.exited && code) this.exited = `virtiofsd ${tag} exited ${code}: ${err.trim()}`;
    });
    this.children.push(child);
    return sock;
  }

  private async start(timeoutMs: number): Promise<void> {
    const o = this.opts,
      cpus = o.cpus ?? 2,
      mem = o.memoryMb ?? 1024;
    const rootSock = this.virtiofsd('hostroot', '/', 'always');
    const boxSock = this.virtiofsd('mailbox', this.mailbox, 'none');
    await waitFor('virtiofsd sockets', () => existsSync(rootSock) && existsSync(boxSock), 10_000, 20);
    const args = [
      '-M',
      'q35',
      '-accel',
      'tcg',
      '-cpu',
      'max',
      '-smp',
      String(cpus),
      '-m',
      String(mem),
      '-display',
      'none',
      '-monitor',
      'none',
      '-no-reboot',
      '-serial',
      `file:${this.consolePath}`,
      '-kernel',
      path.join(o.image, 'vmlinuz'),
      '-initrd',
      path.join(o.image, 'initrd.gz'),
      '-append',
      `console=ttyS0 quiet panic=-1 xdpwg.agent=${AGENT} xdpwg.hostname=${o.name}`,
      '-object',
      `memory-backend-memfd,id=mem,size=${mem}M,share=on`,
      '-numa',
      'node,memdev=mem',
      '-chardev',
      `socket,id=root,path=${rootSock}`,
      '-device',
      'vhost-user-fs-pci,queue-size=1024,chardev=root,tag=hostroot',
      '-chardev',
      `socket,id=box,path=${boxSock}`,
      '-device',
      'vhost-user-fs-pci,queue-size=1024,chardev=box,tag=mailbox',
    ];
    o.nics.forEach((nic, i) => {
      args.push(
        '-netdev',
        `tap,id=n${i},ifname=${nic.tap},script=no,downscript=no,vhost=off${nic.queues > 1 ? `,queues=${nic.queues}` : ''}`,
      );
      args.push('-device', `virtio-net-pci,netdev=n${i},mac=${nic.mac}${nic.queues > 1 ? `,mq=on,vectors=${2 * nic.queues + 2}` : ''}`);
    });
    // QEMU creates the taps in the namespace it runs in: the first NIC's.
    const netns = o.nics[0]?.netns;
    const cmd = netns ? 'ip' : 'qemu-system-x86_64';
    const full = netns ? ['netns', 'exec', netns, 'qemu-system-x86_64', ...args] : args;
    const qemu = spawn(cmd, full, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    qemu.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    qemu.on('exit', (code, sig) => {
      this.exited ??= `qemu exited (${code ?? sig}): ${err.trim()}`;
    });
    this.children.push(qemu);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`guest ${o.name}: ${this.exited}\n${this.console()}`);
      const c = this.console();
      if (c.includes('xdpwg-guest: FATAL')) throw new Error(`guest ${o.name} failed to start:\n${c}`);
      if (c.includes('xdpwg-guest: READY')) return;
      if (Date.now() > deadline) throw new Error(`guest ${o.name} did not boot within ${timeoutMs} ms:\n${c}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** What the guest printed on its serial console so far. */
  console(): string {
    try {
      return readFileSync(this.consolePath, 'utf8');
    } catch {
      return '';
    }
  }

  /** Runs a shell command in the guest; resolves with its status and output (stdout and stderr). */
  async run(script: string, timeoutMs = 60_000): Promise<CommandResult> {
    const n = this.next++;
    const part = path.join(this.dir, `cmd.${n}.sh`);
    writeFileSync(part, script + '\n');
    renameSync(part, path.join(this.mailbox, `cmd.${n}.sh`));
    const rcPath = path.join(this.mailbox, `rc.${n}`);
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(rcPath)) {
      if (this.exited) throw new Error(`guest ${this.opts.name}: ${this.exited}\n${this.console().slice(-2000)}`);
      if (Date.now() > deadline)
        throw new Error(`guest ${this.opts.name}: no answer within ${timeoutMs} ms to \`${script.slice(0, 120)}\``);
      await new Promise((r) => setTimeout(r, 50));
    }
    const rc = Number(readFileSync(rcPath, 'utf8').trim());
    return { rc, out: readFileSync(path.join(this.mailbox, `out.${n}`), 'utf8') };
  }

  /** Runs a command that must succeed; returns its output, throws with it otherwise. */
  async sh(script: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.run(script, timeoutMs);
    if (r.rc !== 0) throw new Error(`guest ${this.opts.name}: \`${script}\` failed (${r.rc}): ${r.out.trim()}`);
    return r.out;
  }

  /** Powers the guest off (the agent ends, init powers off); kills what is left. Idempotent. */
  stop(): void {
    try {
      writeFileSync(path.join(this.mailbox, 'halt'), '');
    } catch {
      /* gone */
    }
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    this.exited ??= 'stopped';
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}

/** Replies to `count` pings a guest sends to `to` (0 when none came back). */
export async function guestPing(guest: Guest, to: string, count = 3): Promise<number> {
  const r = await guest.run(`ping -c ${count} -i 0.2 -W 3 ${to}`, 60_000);
  return Number(/(\d+) received/.exec(r.out)?.[1] ?? 0);
}

/** Replies to `count` pings sent from namespace `ns` to `to` (0 when none came back). */
export function nsPing(ns: string, to: string, count = 3): number {
  let out: string;
  try {
    out = nsExec(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '3', to], { timeoutMs: 60_000 });
  } catch (err) {
    out = (err as Error).message;
  }
  return Number(/(\d+) received/.exec(out)?.[1] ?? 0);
}
