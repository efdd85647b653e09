/**
 * Malformed frames sent raw (AF_PACKET) from the peer namespace at the echo
 * port: the ones the filter steers to the XSK are dropped under their named
 * reason and counted; the ones it cannot classify, and IPv4 with options,
 * go to the kernel; nothing
 * crashes and the echo keeps answering.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { nsExec } from '../helpers/netns.js';
import { makeEchoLab, NET, runClient, startEcho } from './echo-fixture.js';

const env = makeEchoLab('h1m', 'h1m0', 'h1m1');
after(() => env.lab.cleanup());
const PORT = 7201;
const EACH = 10;

const RAW_PY = String.raw`
import socket, struct, sys
dev, dst_mac, src_mac, port, each = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':', '')), bytes.fromhex(sys.argv[3].replace(':', '')), int(sys.argv[4]), int(sys.argv[5])
src4, dst4 = socket.inet_aton(sys.argv[6]), socket.inet_aton(sys.argv[7])
src6, dst6 = socket.inet_pton(socket.AF_INET6, sys.argv[8]), socket.inet_pton(socket.AF_INET6, sys.argv[9])
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s > 0xffff: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def eth(t): return dst_mac + src_mac + struct.pack('!H', t)
def ip4(total, ihl=5, opts=b''):
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, total, 1, 0, 64, 17, 0, src4, dst4) + opts
    return h[:10] + struct.pack('!H', csum(h)) + h[12:]
def udp(length, payload): return struct.pack('!HHHH', 40000, port, length, 0) + payload
pl = b'0123456789'
frames = {
  'ipv4Options': eth(0x0800) + ip4(24 + 8 + len(pl), 6, b'\x01\x01\x01\x00') + udp(8 + len(pl), pl),
  'ipv4TotalLengthLies': eth(0x0800) + ip4(500) + udp(8 + len(pl), pl),
  'udpLengthLies': eth(0x0800) + ip4(20 + 8 + len(pl)) + udp(300, pl),
  'ipv6Truncated': eth(0x86dd) + struct.pack('!IHBB16s16s', 0x60000000, 1000, 17, 64, src6, dst6) + udp(8 + len(pl), pl),
  'ipv4RuntPayload': eth(0x0800) + ip4(24) + udp(8, b''),
  'ethRunt': eth(0x0800) + b'\x45\x00',
  'ipv6HeaderCut': eth(0x86dd) + b'\x60' + b'\0' * 19,
}
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
for name, f in frames.items():
    for _ in range(each):
        s.send(f)
print('sent')
`;

function mac(ns: string, dev: string): string {
  const j = JSON.parse(nsExec(ns, 'ip', ['-j', 'link', 'show', 'dev', dev])) as { address: string }[];
  return j[0]!.address;
}

test('runts, lying lengths, IPv4 options, truncated IPv6: dropped and counted, no crash', async () => {
  const echo = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT), '--mode', 'generic']);
  await echo.ready;
  nsExec(env.b, 'python3', [
    '-c',
    RAW_PY,
    env.devB,
    mac(env.a, env.devA),
    mac(env.b, env.devB),
    String(PORT),
    String(EACH),
    NET.b4,
    NET.a4,
    NET.b6,
    NET.a6,
  ]);
  const ok = runClient(env.b, 4, PORT, 64, 200);
  assert.deepEqual(ok, { sent: 200, received: 200, bad: 0 }, 'still echoing after the bad frames');
  assert.equal(await echo.stop('SIGTERM'), 0, echo.stderr);
  const [fin] = echo.finals();
  assert.ok(fin, echo.stderr);
  // Steered to the XSK and dropped by the parser under named reasons:
  assert.deepEqual(fin.drops, {
    'rx-bad-outer-ip-length': 2 * EACH, // IPv4 total length and IPv6 payload length beyond the frame
    'rx-bad-outer-udp-length': EACH,
    'rx-bad-outer-runt': EACH, // IPv4 total length too short for a UDP header
  });
  // Frames too short to classify, and IPv4 with options (the kernel's to process), never
  // reach the XSK: the filter passes them to the kernel.
  assert.equal(fin.port!.ipackets, 4 * EACH + 200);
  assert.equal(fin.echoed, 200);
  assert.equal(fin.port!.opackets, 200);
});
