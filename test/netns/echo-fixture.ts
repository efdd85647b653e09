/**
 * Fixtures shared by the AF_XDP port and echo tests: a two-namespace lab with
 * a veth pair (IPv4 + IPv6), `xdpwg echo` started inside one end, and a
 * Python UDP client in the other that checks every reply's payload.
 */
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { Lab, nsExec, requireRoot } from '../helpers/netns.js';

export const MAIN_JS = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Addresses of the echo side (a) and the client side (b). */
export const NET = { a4: '10.77.0.1', b4: '10.77.0.2', a6: 'fd00:77::1', b6: 'fd00:77::2' } as const;

export interface EchoLab {
  lab: Lab;
  a: string;
  b: string;
  devA: string;
  devB: string;
}

/** Namespaces <prefix>-a / <prefix>-b and veth devA <-> devB with the addresses of NET. */
export function makeEchoLab(prefix: string, devA: string, devB: string, queues = 1): EchoLab {
  requireRoot();
  const lab = new Lab(prefix);
  const a = lab.ns('a');
  const b = lab.ns('b');
  lab.veth(
    { ns: a, dev: devA, addrs: [`${NET.a4}/24`, `${NET.a6}/64`] },
    { ns: b, dev: devB, addrs: [`${NET.b4}/24`, `${NET.b6}/64`] },
    queues,
  );
  return { lab, a, b, devA, devB };
}

/** One JSON line of `xdpwg echo --json`. */
export interface EchoLine {
  type: 'ready' | 'stats' | 'final';
  queue?: number;
  echoed?: number;
  received?: number;
  drops?: Record<string, number>;
  port?: Record<string, number>;
  filter?: { mode: string; replacedStale: number; dispatcher: boolean } | null;
  queues?: number[];
}

/** A running `xdpwg echo`. */
export class EchoProcess {
  readonly lines: EchoLine[] = [];
  stderr = '';
  readonly ready: Promise<EchoLine>;
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    let buf = '';
    let onReady!: (l: EchoLine) => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const obj = JSON.parse(line) as EchoLine;
          this.lines.push(obj);
          if (obj.type === 'ready') onReady(obj);
        } catch {
          /* not JSON: ignore */
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((res) =>
      child.once('exit', (code) => {
        onFail(new Error(`echo exited (${code}) before ready: ${this.stderr}`));
        res(code);
      }),
    );
    const t = setTimeout(() => onFail(new Error(`echo not ready after 15 s: ${this.stderr}`)), 15_000);
    void this.ready.then(
      () => clearTimeout(t),
      () => clearTimeout(t),
    );
  }
  /** Sends signal and waits for exit; returns the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }
  /** The per-queue 'final' lines (after a clean stop). */
  finals(): EchoLine[] {
    return this.lines.filter((l) => l.type === 'final');
  }
}

/** Starts `xdpwg echo --json ...args` inside ns. */
export function startEcho(lab: Lab, ns: string, args: string[]): EchoProcess {
  return new EchoProcess(lab.spawn(ns, process.execPath, [MAIN_JS, 'echo', '--json', ...args]));
}

/** True when an XDP program is attached to dev in ns (ip link shows prog/xdp). */
export function xdpAttached(ns: string, dev: string): boolean {
  return /prog\/xdp|xdpgeneric|xdpdrv|xdp /.test(nsExec(ns, 'ip', ['-d', 'link', 'show', 'dev', dev]));
}

/**
 * Python UDP client: sends count datagrams of size bytes (4-byte sequence +
 * a pattern that depends on the sequence) in windows, from nsock sockets
 * (different source ports), and checks each reply byte for byte.
 * Prints {"sent":N,"received":N,"bad":N}.
 */
export const CLIENT_PY = String.raw`
import json, socket, struct, sys, time
fam, addr, port, size, count, window, nsock = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
af = socket.AF_INET6 if fam == '6' else socket.AF_INET
socks = []
for _ in range(nsock):
    s = socket.socket(af, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.setblocking(False)
    socks.append(s)
patterns = [bytes(((k * 7 + j) & 0xff) for j in range(size)) for k in range(251)]
def payload(i):
    return struct.pack('!I', i) + patterns[i % 251][: size - 4]
got = set(); bad = 0; sent = 0
import select
while sent < count:
    n = min(window, count - sent)
    for i in range(sent, sent + n):
        socks[i % nsock].sendto(payload(i), (addr, port))
    want = set(range(sent, sent + n))
    deadline = time.time() + 2.0
    while want and time.time() < deadline:
        r, _, _ = select.select(socks, [], [], 0.2)
        for s in r:
            while True:
                try:
                    d = s.recv(65535)
                except BlockingIOError:
                    break
                if len(d) < 4:
                    bad += 1; continue
                seq = struct.unpack('!I', d[:4])[0]
                if seq < count and d == payload(seq):
                    if seq in want: want.discard(seq); got.add(seq)
                else:
                    bad += 1
    sent += n
print(json.dumps({"sent": sent, "received": len(got), "bad": bad}))
`;

/** Runs CLIENT_PY in ns; returns its verdict. */
export function runClient(
  ns: string,
  family: 4 | 6,
  port: number,
  size: number,
  count: number,
  window = 64,
  nsock = 1,
): { sent: number; received: number; bad: number } {
  const addr = family === 6 ? NET.a6 : NET.a4;
  const out = nsExec(
    ns,
    'python3',
    ['-c', CLIENT_PY, String(family), addr, String(port), String(size), String(count), String(window), String(nsock)],
    { timeoutMs: 60_000 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as { sent: number; received: number; bad: number };
}
