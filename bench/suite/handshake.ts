/**
 * Handshakes per second a responder sustains: handshake-gen.ts runs in a's
 * namespace with `peers` fresh keys, this side configures those keys as
 * peers of b (through `wg addconf`, as any user would), lets the generator
 * loose on b's listening port, and removes the peers afterwards so every
 * repetition starts from fresh peers.
 *
 * The same generator and the same responder configuration serve xdpwg and
 * wireguard-go: both speak the same protocol on the wire.
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { nsExec } from '../../test/helpers/netns.js';
import { wg } from '../../test/helpers/tunnel-lab.js';
import type { GeneratorConfig, GeneratorResult } from './handshake-gen.js';
import type { Pair } from './topology.js';

const GENERATOR_JS = fileURLToPath(new URL('./handshake-gen.js', import.meta.url));

/** Runs one handshake-rate measurement against b of the pair. */
export async function handshakeRun(
  pair: Pair,
  opts: { peers: number; count: number; window: number; timeoutMs: number },
): Promise<GeneratorResult> {
  const config: GeneratorConfig = {
    target: pair.b.outer4,
    port: pair.b.port,
    responderPublicKey: pair.b.keys.publicKey,
    peers: opts.peers,
    count: opts.count,
    window: opts.window,
    timeoutMs: opts.timeoutMs,
  };
  const child = spawn('ip', ['netns', 'exec', pair.a.ns, process.execPath, GENERATOR_JS, JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  // Each step of the exchange has a deadline, so a generator that stalls
  // fails this measurement instead of hanging the whole suite.
  const nextLine = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const stepTimeoutMs = opts.timeoutMs + 60_000;
      const fail = (why: string): void => {
        lines.off('line', onLine);
        lines.off('close', onClose);
        clearTimeout(timer);
        reject(new Error(`handshake generator ${why}: ${stderr.trim()}`));
      };
      const onClose = (): void => fail('ended early');
      const onLine = (l: string): void => {
        lines.off('close', onClose);
        clearTimeout(timer);
        resolve(l);
      };
      const timer = setTimeout(() => fail(`said nothing for ${stepTimeoutMs} ms`), stepTimeoutMs);
      lines.once('close', onClose);
      lines.once('line', onLine);
    });
  let publicKeys: string[] = [];
  try {
    ({ publicKeys } = JSON.parse(await nextLine()) as { publicKeys: string[] });
    const conf = publicKeys.map((k) => `[Peer]\nPublicKey = ${k}\n`).join('\n');
    // A file, not /dev/stdin: node hands children a socket as stdin, which wg cannot fopen.
    const confPath = path.join(tmpdir(), `${pair.b.ns}-handshake-peers.conf`);
    writeFileSync(confPath, conf, { mode: 0o600 });
    try {
      nsExec(pair.b.ns, 'wg', ['addconf', pair.b.ifname, confPath]);
    } finally {
      rmSync(confPath, { force: true });
    }
    child.stdin.write('go\n');
    const { result } = JSON.parse(await nextLine()) as { result: GeneratorResult };
    return result;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    if (publicKeys.length > 0) wg(pair.b, ['set', pair.b.ifname, ...publicKeys.flatMap((k) => ['peer', k, 'remove'])]);
  }
}
