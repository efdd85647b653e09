/**
 * Idle memory of xdpwg (issue 19): two namespaces, one xdpwg each, one peer,
 * a session (a ping through the tunnel), then idle; reports each daemon's
 * resident memory (VmRSS, and its anonymous / file-backed / shared split)
 * and thread count. With --wireguard-go PATH the same for that wireguard-go.
 *
 *   npm run bench:memory                                  (as root)
 *   npm run bench:memory -- --wireguard-go /usr/bin/wireguard-go
 *   npm run bench:memory -- --idle-seconds 20 --json
 *
 * Whatever bin/xdpwg runs with by default (workers, data path) is what is
 * measured; XDPWG_* variables in the environment reach the daemons.
 */
import { measureDefaults, requireRoot } from '../test/helpers/netns.js';
import { memoryOf, threadNames, type MemorySample } from './suite/memory.js';
import { sleep } from './suite/run.js';
import { setUpPair, type ConfigName } from './suite/topology.js';

class UsageError extends Error {}

interface Options {
  wireguardGo?: string;
  idleSeconds: number;
  json: boolean;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { idleSeconds: 10, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--wireguard-go') o.wireguardGo = value();
    else if (a === '--idle-seconds') {
      o.idleSeconds = Number(value());
      if (!(o.idleSeconds >= 0)) throw new UsageError('--idle-seconds needs a number ≥ 0');
    } else if (a === '--json') o.json = true;
    else throw new UsageError(`unknown option ${a} (known: --wireguard-go PATH, --idle-seconds S, --json)`);
  }
  return o;
}

export interface IdleMemory {
  config: ConfigName;
  a: MemorySample;
  b: MemorySample;
  threadNames: Record<string, number>;
}

/** Sets up config, lets it sit idle for idleSeconds after the first ping, and samples both daemons. */
async function idleMemory(config: ConfigName, wireguardGo: string, idleSeconds: number): Promise<IdleMemory> {
  const pair = await setUpPair(config, 'veth', wireguardGo);
  try {
    await sleep(idleSeconds * 1000);
    const [a, b] = [pair.a.proc!.pid!, pair.b.proc!.pid!];
    return { config, a: memoryOf([a]), b: memoryOf([b]), threadNames: threadNames(b) };
  } finally {
    pair.lab.cleanup();
  }
}

const mb = (kb: number): string => (kb / 1024).toFixed(1);

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  requireRoot();
  measureDefaults();
  const results: IdleMemory[] = [await idleMemory('xdpwg', 'wireguard-go', opts.idleSeconds)];
  if (opts.wireguardGo) results.push(await idleMemory('wireguard-go', opts.wireguardGo, opts.idleSeconds));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ idleSeconds: opts.idleSeconds, results }, null, 2) + '\n');
    return;
  }
  process.stdout.write(`Idle memory, ${opts.idleSeconds} s after a handshake (one peer, one session), MB:\n\n`);
  process.stdout.write('| daemon | side | RSS | anonymous | file | shared | threads |\n|---|---|---:|---:|---:|---:|---:|\n');
  for (const r of results) {
    for (const side of ['a', 'b'] as const) {
      const m = r[side];
      process.stdout.write(
        `| ${r.config} | ${side} | ${mb(m.rssKb)} | ${mb(m.anonKb)} | ${mb(m.fileKb)} | ${mb(m.shmemKb)} | ${m.threads} |\n`,
      );
    }
  }
  for (const r of results)
    process.stdout.write(
      `\n${r.config} threads (side b): ${Object.entries(r.threadNames)
        .map(([n, c]) => `${n}×${c}`)
        .join(', ')}\n`,
    );
}

main().catch((err: Error) => {
  process.stderr.write(`bench memory: ${err instanceof UsageError ? err.message : (err.stack ?? err.message)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
