/**
 * `xdpwg capture IFNAME -w FILE [-c COUNT] [-s SNAPLEN]`: a pcap file
 * (libpcap format, Ethernet) of the frames the AF_XDP path receives and
 * sends, which tcpdump on the uplink no longer sees in full. FILE '-' is
 * standard output. Runs until COUNT frames or Ctrl-C; only whole records
 * are written, so the file stays readable however it stops.
 */
import { createConnection } from 'node:net';
import { closeSync, openSync, writeSync } from 'node:fs';
import { statsSocketPath, unreachableStats } from '../daemon/observe/stats-server.js';
import { CAPTURE_SNAPLEN_MAX } from '../daemon/observe/capture-session.js';

const USAGE = 'Usage: xdpwg capture IFNAME -w FILE [-c COUNT] [-s SNAPLEN]\n';
const FILE_HEADER = 24;
const RECORD_HEADER = 16;

interface CaptureArgs {
  ifname: string;
  file: string;
  count: number;
  snaplen: number;
}

function parse(args: string[]): CaptureArgs | string {
  let ifname: string | undefined,
    file: string | undefined,
    count = 0,
    snaplen = CAPTURE_SNAPLEN_MAX;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string | undefined => args[++i];
    if (a === '-w') file = value();
    else if (a === '-c') count = Number(value());
    else if (a === '-s') snaplen = Number(value());
    else if (a.startsWith('-')) return `unknown option ${a}`;
    else if (ifname === undefined) ifname = a;
    else return `unexpected argument ${a}`;
  }
  if (!ifname) return 'an interface name is required';
  if (!file) return '-w FILE is required (- for standard output)';
  if (!Number.isInteger(count) || count < 0) return '-c COUNT must be a whole number';
  if (!Number.isInteger(snaplen) || snaplen < 64 || snaplen > CAPTURE_SNAPLEN_MAX) return `-s SNAPLEN must be 64..${CAPTURE_SNAPLEN_MAX}`;
  return { ifname, file, count, snaplen };
}

export async function run(args: string[]): Promise<number> {
  const a = parse(args);
  if (typeof a === 'string') {
    process.stderr.write(`xdpwg capture: ${a}\n${USAGE}`);
    return 1;
  }
  const fd = a.file === '-' ? 1 : openSync(a.file, 'w', 0o600);
  const sock = createConnection(statsSocketPath(a.ifname));
  sock.write(`capture ${a.count} ${a.snaplen}\n`);
  let pending: Buffer = Buffer.alloc(0);
  let headerDone = false;
  let frames = 0;
  let failure: string | undefined;
  const onSigint = (): void => {
    sock.destroy();
  };
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  return new Promise<number>((resolve) => {
    sock.on('data', (d: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, d]) : d;
      if (!headerDone) {
        if (pending.length >= 7 && pending.subarray(0, 7).toString('latin1') === 'error: ') {
          failure = pending.toString('utf8').trim();
          return;
        }
        if (pending.length < FILE_HEADER) return;
        writeSync(fd, pending, 0, FILE_HEADER);
        pending = pending.subarray(FILE_HEADER);
        headerDone = true;
      }
      // Whole records only.
      let at = 0;
      while (pending.length - at >= RECORD_HEADER) {
        const size = RECORD_HEADER + pending.readUInt32LE(at + 8);
        if (pending.length - at < size) break;
        at += size;
        frames++;
      }
      if (at > 0) writeSync(fd, pending, 0, at);
      pending = pending.subarray(at);
    });
    let finished = false;
    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      if (fd !== 1) closeSync(fd);
      if (failure || (!headerDone && err)) {
        process.stderr.write(`xdpwg capture: ${failure ?? unreachableStats(a.ifname, err!)}\n`);
        resolve(1);
        return;
      }
      process.stderr.write(`xdpwg capture: ${frames} frame(s) written to ${a.file === '-' ? 'standard output' : a.file}\n`);
      resolve(0);
    };
    sock.on('error', finish);
    sock.on('close', () => finish());
  });
}
