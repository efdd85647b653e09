/**
 * xdpwg command dispatcher. Each subcommand lives in its own module under
 * src/cli/ and exports `run(args): Promise<number>` (the exit status).
 * A lone interface name (or -f IFNAME) is wireguard-go's contract: run the daemon.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

type Command = { run(args: string[]): Promise<number> };

const commands: Record<string, () => Promise<Command>> = {
  echo: () => import('./echo.js'),
  genkey: () => import('./keys.js'),
  pubkey: () => import('./keys.js'),
  genpsk: () => import('./keys.js'),
  up: () => import('./up.js'),
  down: () => import('./up.js'),
  show: () => import('./show.js'),
  stats: () => import('./stats.js'),
  health: () => import('./health.js'),
  capture: () => import('./capture.js'),
};

const usage = `Usage: xdpwg [-f|--foreground] IFNAME
                                                run the daemon for IFNAME (wireguard-go's contract);
                                                --metrics-listen HOST:PORT serves Prometheus /metrics
       xdpwg up FILE|IFNAME | down FILE|IFNAME  bring a wg-quick style config up (foreground) / down
       xdpwg show [IFNAME]                      what 'wg show' prints
       xdpwg stats IFNAME [--json]              datapath counters per port/queue and per peer
       xdpwg health IFNAME [--ready]            exit 0 when the daemon answers (and, --ready, the interface is up with a key)
       xdpwg capture IFNAME -w FILE [-c COUNT] [-s SNAPLEN]
                                                pcap of the frames the AF_XDP path receives and sends
       xdpwg genkey | pubkey | genpsk           keys, as 'wg' makes them
       xdpwg echo --interface DEV [--queue Q | --queues N] [--port P] [--udp]
                                                UDP echo over AF_XDP (the port layer's example)
       xdpwg --help | --version`;

function version(): string {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  return (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    (first === undefined ? process.stderr : process.stdout).write(usage + '\n');
    return first === undefined ? 1 : 0;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`xdpwg v${version()}\n`);
    return 0;
  }
  const load = commands[first];
  if (load) {
    const cmd = await load();
    // keys.ts and up.ts serve several verbs: they receive the verb first.
    return cmd.run(['genkey', 'pubkey', 'genpsk', 'up', 'down'].includes(first) ? argv : rest);
  }
  const daemon = await import('./daemon.js');
  return daemon.run(argv);
}

main(process.argv.slice(2)).then(
  // exitCode, not exit(): a large `show` output must drain to a pipe first.
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`xdpwg: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.LOG_LEVEL === 'debug' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  },
);
