/**
 * `xdpwg stats IFNAME [--json] [--watch]`: the data path's live counters —
 * per port/queue (CNDP's lport_stats_t names), drops by reason, events, per peer.
 */
import { fetchStats } from '../daemon/observe/stats-server.js';
import type { DeviceStats, PathCount } from '../daemon/observe/device-stats.js';

const PORT_FIELDS = ['ipackets', 'opackets', 'ibytes', 'obytes', 'ierrors', 'oerrors', 'imissed', 'odropped', 'rx_invalid', 'tx_invalid'];

function render(s: DeviceStats): string {
  const lines = [`interface: ${s.interface}  listening port: ${s.listenPort}  workers: ${s.workers}  xdp program: ${s.xdpProgram}`];
  lines.push(
    `  worker cpu seconds: ${s.workerCpuSeconds.map((c) => c.toFixed(2)).join(' ')}  handshake crypto threads: ${s.handshakeCryptoThreads ?? 0}`,
  );
  lines.push(
    `  idle memory releases: ${s.idleMemory.map((t) => `${t.thread} ${t.releases}${t.pending ? ' (one due once quiet)' : ''}`).join(', ')}`,
  );
  const c = s.cryptoCrew;
  if (c) {
    lines.push(
      `  crypto crew: ${c.threads} thread(s), bursts shared ${c.bursts} (${c.packets} packets, ${c.crewPackets} done by the crew), bursts run alone while the crew was busy ${c.alone}`,
    );
  }
  const h = s.handshakes;
  lines.push(
    `  handshakes: initiations ${h.initiationsSent} sent ${h.initiationsReceived} received, responses ${h.responsesSent} sent ${h.responsesReceived} received, cookie replies ${h.cookieRepliesSent} sent ${h.cookieRepliesReceived} received`,
  );
  for (const p of s.ports) {
    const extra = Object.entries(p).filter(([k, v]) => !PORT_FIELDS.includes(k) && k !== 'worker' && k !== 'path' && v !== 0);
    lines.push(`  port ${p.worker} (${p.path}): ${PORT_FIELDS.map((f) => `${f}=${p[f] ?? 0}`).join(' ')}`);
    if (extra.length) lines.push(`    ${extra.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  for (const a of s.afxdp) {
    lines.push(
      `  af_xdp ${a.device}: ${a.unusable ? `not used (${a.unusable})` : `${a.mode} mode, ${a.queues} queue(s), workers bound: ${a.boundWorkers.join(', ') || 'none'}`}`,
    );
    // Why each direction takes its path on this device (the log's lines).
    if (a.txPath) lines.push(`    transmit: ${a.txPath}`);
    if (a.rxPathReason) lines.push(`    receive: ${a.rxPathReason}`);
  }
  const count = (c: PathCount): string => `${c.bursts} bursts ${c.packets} packets ${c.bytes} bytes`;
  for (const t of s.byPath ?? []) {
    lines.push(
      `  worker ${t.worker} by path: rx af_xdp ${count(t.rx.afxdp)}; rx socket ${count(t.rx.socket)} (GRO: ${t.rx.socket.groReceives} coalesced receives of ${t.rx.socket.groDatagrams} datagrams)`,
    );
    lines.push(
      `    tx af_xdp ${count(t.tx.afxdp)}; tx socket ${count(t.tx.socket)} (bulk from the UMEM: ${t.tx.socket.bulkBursts} bursts ${t.tx.socket.bulkBytes} bytes)`,
    );
  }
  for (const p of s.paths) lines.push(`  path to ${p.publicKey}: ${p.path}`);
  const drops = Object.entries(s.drops);
  lines.push(`  drops: ${drops.length ? drops.map(([k, v]) => `${k}=${v}`).join(' ') : 'none'}`);
  const events = Object.entries(s.events ?? {});
  if (events.length) lines.push(`  events: ${events.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  for (const p of s.peers) {
    lines.push(`  peer ${p.publicKey} endpoint ${p.endpoint ?? '(none)'} session ${p.hasSession ? 'yes' : 'no'}`);
    lines.push(
      `    rx ${p.rxPackets} packets ${p.rxBytes} bytes, tx ${p.txPackets} packets ${p.txBytes} bytes, staged dropped ${p.stagedDropped}`,
    );
  }
  return lines.join('\n') + '\n';
}

export async function run(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const watch = args.includes('--watch');
  const names = args.filter((a) => !a.startsWith('--'));
  if (names.length !== 1) {
    process.stderr.write('Usage: xdpwg stats IFNAME [--json] [--watch]\n');
    return 1;
  }
  for (;;) {
    const s = (await fetchStats(names[0]!)) as DeviceStats;
    process.stdout.write(json ? JSON.stringify(s, null, 2) + '\n' : render(s));
    if (!watch) return 0;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
