/**
 * The capture ring (src/datapath/capture-ring.ts): records come out whole,
 * in order, cut at the snap length, across many wrap-arounds; a full ring
 * counts what it could not take instead of overwriting; pcap records carry
 * the lengths and time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureRing, captureBufferSize, CAPTURE_RING_BYTES } from '../../src/datapath/capture-ring.js';
import {
  CAPTURE_BACKLOG_MAX,
  CaptureSession,
  pcapFileHeader,
  pcapRecord,
  streamCapture,
  type CaptureSink,
} from '../../src/daemon/observe/capture-session.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

test('records come out whole and in order across wrap-arounds, cut at snaplen', () => {
  const sab = new SharedArrayBuffer(captureBufferSize(2));
  const w = new CaptureRing(sab, 1, 200);
  const r = new CaptureRing(sab, 1, 200);
  const other = new CaptureRing(sab, 0, 200);
  const rng = new SeededPrng(13);
  const src = new Uint8Array(2000);
  let written = 0,
    read = 0,
    bytes = 0;
  while (bytes < 5 * CAPTURE_RING_BYTES) {
    const burst = 1 + (rng.nextU32() % 64);
    for (let i = 0; i < burst; i++) {
      const len = 60 + (rng.nextU32() % 1500);
      src.fill(written & 0xff, 0, len);
      w.write(src, 0, len, written);
      written++;
      bytes += len;
    }
    for (const f of r.drain()) {
      assert.equal(f.timeMs, read, 'in order, none skipped');
      assert.equal(f.bytes.length, Math.min(200, f.originalLength));
      assert.ok(
        f.bytes.every((b) => b === (read & 0xff)),
        `record ${read} intact`,
      );
      read++;
    }
  }
  assert.equal(read, written);
  assert.equal(w.lost(), 0);
  assert.deepEqual(other.drain(), [], "the other worker's ring stays empty");
});

test('a full ring counts what it cannot take and keeps what it has', () => {
  const sab = new SharedArrayBuffer(captureBufferSize(1));
  const ring = new CaptureRing(sab, 0, 4096);
  const frame = new Uint8Array(1500);
  const fits = Math.floor(CAPTURE_RING_BYTES / (16 + 1504));
  for (let i = 0; i < fits + 50; i++) ring.write(frame, 0, frame.length, i);
  const got = ring.drain();
  assert.ok(got.length >= fits - 1 && got.length <= fits, `${got.length} kept of ${fits + 50}`);
  assert.equal(ring.lost(), fits + 50 - got.length);
  got.forEach((f, i) => assert.equal(f.timeMs, i));
});

test('pcap header and record layout (libpcap, Ethernet, microseconds)', () => {
  const h = pcapFileHeader(4096);
  assert.equal(h.length, 24);
  assert.equal(h.readUInt32LE(0), 0xa1b2c3d4);
  assert.equal(h.readUInt32LE(16), 4096);
  assert.equal(h.readUInt32LE(20), 1);
  const rec = pcapRecord({ timeMs: 1_700_000_000_123.456, originalLength: 1500, bytes: new Uint8Array([1, 2, 3]) });
  assert.equal(rec.readUInt32LE(0), 1_700_000_000);
  assert.equal(rec.readUInt32LE(4), 123_456);
  assert.equal(rec.readUInt32LE(8), 3);
  assert.equal(rec.readUInt32LE(12), 1500);
  assert.deepEqual([...rec.subarray(16)], [1, 2, 3]);
});

test('a slow capture reader is not buffered without bound: rings stay undrained and the workers count the loss', (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let sab: SharedArrayBuffer | null = null;
  let lostAtClose = -1;
  const session = new CaptureSession(
    1,
    128,
    (m) => {
      if (m.t === 'capture' && m.buffer) sab = m.buffer;
    },
    (lost) => {
      lostAtClose = lost;
    },
  );
  assert.ok(sab, 'the workers were given the rings');
  const worker = new CaptureRing(sab, 0, 128);
  const handlers = new Map<string, () => void>();
  const sink = {
    writes: [] as Uint8Array[],
    writableLength: 0,
    write(b: Uint8Array) {
      this.writes.push(b);
      return true;
    },
    end() {
      handlers.get('close')?.();
      return this;
    },
    on(ev: string, fn: () => void) {
      handlers.set(ev, fn);
      return this;
    },
  };
  streamCapture(sink as unknown as CaptureSink, session, 0);
  assert.equal(sink.writes.length, 1, 'the pcap file header first');

  const frame = new Uint8Array(100);
  sink.writableLength = CAPTURE_BACKLOG_MAX + 1; // the client stopped reading
  for (let i = 0; i < CAPTURE_RING_BYTES / 64; i++) worker.write(frame, 0, frame.length, i);
  t.mock.timers.tick(500);
  assert.equal(sink.writes.length, 1, 'nothing more queued while the backlog is over the bound');
  assert.ok(worker.lost() > 0, 'the full ring counted what it could not take');

  sink.writableLength = 0; // the client caught up
  t.mock.timers.tick(50);
  assert.ok(sink.writes.length > 1000, `records flow again (${sink.writes.length - 1})`);
  handlers.get('close')!();
  assert.equal(lostAtClose, worker.lost(), 'the loss is reported when the capture ends');
});
