/**
 * Replay: the handshake and data messages of a real session, captured on
 * the wire and sent again later, are dropped and counted — data as
 * rx-replay (the sliding window, whitepaper §5.4.6), the initiation as
 * rx-handshake-replay (its TAI64N timestamp is not newer, §5.1), the
 * response as rx-handshake-invalid (it names no handshake in flight) — and a
 * replayed initiation does not reset the session: A's latest handshake with
 * B stays what it was and traffic keeps flowing on the same keys.
 *
 *   A (xdpwg, responder) ── B (xdpwg, initiator)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, peerDump, ping, startImplementation, twoSides, type Side } from '../helpers/tunnel-lab.js';
import { capture, datapathEnv, dropDelta, statsOf } from './reliability-fixture.js';
import { udpFromPcap, type CapturedDatagram } from '../../bench/fuzz-load.js';

const PATH = 'kernel';
const lab = new Lab('rlp');
let a: Side;
let b: Side;

/** Sends payloads as UDP datagrams from inside ns to host:port (python: one socket, in order). */
function sendFrom(ns: string, host: string, port: number, payloads: Uint8Array[]): void {
  const script =
    'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor l in sys.stdin.read().split():\n  s.sendto(bytes.fromhex(l),(sys.argv[1],int(sys.argv[2])))';
  nsExec(ns, 'python3', ['-c', script, host, String(port)], { input: payloads.map((p) => Buffer.from(p).toString('hex')).join('\n') });
}

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'xdpwg', 215));
  await startImplementation(lab, a, { LOG_LEVEL: 'error', ...datapathEnv(PATH) });
  await startImplementation(lab, b, { LOG_LEVEL: 'error', ...datapathEnv(PATH) });
  configureInterface(a);
  configureInterface(b);
  addPeer(a, b, { endpoint: false });
  addPeer(b, a);
});
after(() => lab.cleanup());

test(
  `${PATH} path: captured handshake and data messages replayed later are dropped and counted; the session survives`,
  { timeout: 60_000 },
  async () => {
    const pcap = `/tmp/xdpwg-${b.ns}-replay.pcap`;
    // Both directions on B's uplink, from the very first initiation on.
    await capture(lab, b.ns, 'rlpvb', `udp and port ${a.port}`, pcap, 30, () => {
      assert.equal(ping(b, a.inner4, 10), 10, logsOf(a, b));
    });
    const seen = udpFromPcap(pcap);
    const kind = (d: CapturedDatagram): number => d.payload[0]!;
    const toA = seen.filter((d) => d.dstPort === a.port).map((d) => d.payload);
    const toB = seen.filter((d) => d.srcPort === a.port).map((d) => d.payload);
    const initiations = toA.filter((p) => p[0] === 1).length;
    const dataToA = toA.filter((p) => p[0] === 4).length;
    const responses = toB.filter((p) => p[0] === 2).length;
    assert.ok(initiations >= 1 && responses >= 1 && dataToA >= 5, `capture: ${JSON.stringify(seen.map(kind))}`);

    const handshakeBefore = peerDump(a, b.keys.publicKey)!.latestHandshake;
    const dropsA0 = statsOf(a).drops,
      dropsB0 = statsOf(b).drops;
    await new Promise((r) => setTimeout(r, 1500));
    // Later: everything again, three times (from B's address, so the source is plausible).
    for (let round = 0; round < 3; round++) {
      sendFrom(b.ns, a.outer4, a.port, toA);
      sendFrom(a.ns, b.outer4, b.port, toB);
    }
    await new Promise((r) => setTimeout(r, 500));
    const dA = dropDelta(dropsA0, statsOf(a).drops),
      dB = dropDelta(dropsB0, statsOf(b).drops);
    console.log(
      `replay: ${JSON.stringify({ captured: { initiations, dataToA, responses, toB: toB.length }, dropsAtA: dA, dropsAtB: dB })}`,
    );

    assert.ok((dA['rx-replay'] ?? 0) >= 3 * dataToA, `A: data replays ${dA['rx-replay']} < ${3 * dataToA}`);
    assert.ok(
      (dA['rx-handshake-replay'] ?? 0) >= 3 * initiations,
      `A: initiation replays ${dA['rx-handshake-replay']} < ${3 * initiations}`,
    );
    assert.ok((dB['rx-handshake-invalid'] ?? 0) >= 3 * responses, `B: response replays ${dB['rx-handshake-invalid']} < ${3 * responses}`);
    assert.ok((dB['rx-replay'] ?? 0) >= 3 * toB.filter((p) => p[0] === 4).length, `B: data replays ${dB['rx-replay']}`);
    // The session is untouched: same handshake time, traffic both ways, no new handshake needed.
    assert.equal(peerDump(a, b.keys.publicKey)!.latestHandshake, handshakeBefore, 'a replayed initiation reset the session');
    assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
    assert.equal(ping(b, a.inner4, 3), 3, logsOf(a, b));
    assert.equal(peerDump(a, b.keys.publicKey)!.latestHandshake, handshakeBefore, 'traffic after the replay needed a new handshake');
    nsExec(a.ns, 'ip', ['link', 'show', a.ifname]);
  },
);
