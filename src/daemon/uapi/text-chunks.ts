/**
 * ASCII text written straight into Buffer chunks, for answers too big to
 * build as strings: a `get=1` of 1,000,000 peers is ~335 MB of text. As
 * strings it was millions of short-lived concatenations, then a latin1
 * encoding of each chunk; here every byte is stored once, into the chunk
 * that goes to the socket, and the numbers, keys and addresses that make up
 * most of the answer are formatted digit by digit with no string at all.
 *
 * Text from strings (setting values formatted by their table entry) is
 * written as latin1, byte for byte what `socket.write(text, 'latin1')` sent.
 *
 * Chunks are at least `chunkSize` bytes when full (a longer piece of text
 * gets a chunk of its own size); {@link full} lists the finished ones,
 * {@link takeFull} and {@link takeRest} hand them out. A chunk handed out is
 * never written again, so the socket may hold on to it.
 *
 * Threading: one instance per answer, on one thread.
 */

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const EMPTY = Buffer.alloc(0);

export class TextChunks {
  private buf: Buffer;
  private pos = 0;
  /** Finished chunks not taken yet, oldest first. */
  private readonly full: Buffer[] = [];

  constructor(private readonly chunkSize = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(chunkSize);
  }

  /** True when finished chunks wait to be taken. */
  get hasFull(): boolean {
    return this.full.length > 0;
  }

  /** The finished chunks (the partial one stays), oldest first. */
  takeFull(): Buffer[] {
    return this.full.splice(0, this.full.length);
  }

  /** Everything not taken yet, the partial chunk last; the writer is empty afterwards. */
  takeRest(): Buffer[] {
    this.finishChunk(0);
    return this.takeFull();
  }

  /** Latin1 text (a setting's value, a constant key). */
  text(s: string): void {
    this.room(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  /**
   * Bytes as they are (text made once: a key and its '='). Copied here, not
   * with Buffer methods: for the dozen bytes of a key a native call costs
   * more than the copy.
   */
  bytes(b: Uint8Array): void {
    this.room(b.length);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < b.length; i++) buf[p++] = b[i]!;
    this.pos = p;
  }

  /** One byte (a character code below 256). */
  byte(c: number): void {
    this.room(1);
    this.buf[this.pos++] = c;
  }

  /** A non-negative integer in decimal (numbers exact up to 2^53, bigints any size). */
  uint(n: number | bigint): void {
    if (typeof n === 'bigint') return this.text(n.toString());
    if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n))) return this.text(String(n));
    this.room(16);
    const buf = this.buf;
    if (n < 10) {
      buf[this.pos++] = 48 + n;
      return;
    }
    let digits = 1;
    for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
    let at = this.pos + digits;
    this.pos = at;
    while (n >= 10) {
      const q = Math.floor(n / 10);
      buf[--at] = 48 + (n - q * 10);
      n = q;
    }
    buf[--at] = 48 + n;
  }

  /** Bytes as lowercase hex (keys on the UAPI). */
  hex(bytes: Uint8Array): void {
    this.room(bytes.length * 2);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      buf[p++] = HEX[b >> 4]!;
      buf[p++] = HEX[b & 15]!;
    }
    this.pos = p;
  }

  /** Dotted-quad IPv4 of address[offset..offset+4). */
  ipv4(address: Uint8Array, offset: number): void {
    for (let i = 0; i < 4; i++) {
      if (i > 0) this.byte(46);
      this.uint(address[offset + i]!);
    }
  }

  /**
   * IPv6 as wireguard-go prints it (Go's net/netip; the 'go' style of
   * src/packet/ip-prefix.ts formatIPv6, which the unit tests hold this to):
   * RFC 5952 text, the longest run of two or more zero groups as '::' (the
   * leftmost of equal runs), a v4-mapped address as ::ffff:a.b.c.d.
   */
  ipv6(a: Uint8Array): void {
    let bestBase = -1;
    let bestLen = 0;
    let curBase = -1;
    for (let i = 0; i < 8; i++) {
      if (a[2 * i] === 0 && a[2 * i + 1] === 0) {
        if (curBase < 0) curBase = i;
        if (i - curBase + 1 > bestLen) {
          bestBase = curBase;
          bestLen = i - curBase + 1;
        }
      } else curBase = -1;
    }
    if (bestLen < 2) bestBase = -1;
    if (bestBase === 0 && bestLen === 5 && a[10] === 0xff && a[11] === 0xff) {
      this.text('::ffff:');
      this.ipv4(a, 12);
      return;
    }
    this.room(39);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < 8; i++) {
      if (i === bestBase) {
        buf[p++] = 58;
        buf[p++] = 58;
        i += bestLen - 1;
        continue;
      }
      if (p > this.pos && buf[p - 1] !== 58) buf[p++] = 58;
      const w = (a[2 * i]! << 8) | a[2 * i + 1]!;
      // Hex without leading zeros.
      if (w >= 0x1000) buf[p++] = HEX[w >> 12]!;
      if (w >= 0x100) buf[p++] = HEX[(w >> 8) & 15]!;
      if (w >= 0x10) buf[p++] = HEX[(w >> 4) & 15]!;
      buf[p++] = HEX[w & 15]!;
    }
    this.pos = p;
  }

  /** Makes room for n more bytes: a new chunk when the current one cannot take them. */
  private room(n: number): void {
    if (this.pos + n > this.buf.length) this.finishChunk(Math.max(n, 1));
  }

  /**
   * Moves the written part of the current chunk to `full` and starts a chunk
   * with room for at least n bytes (none for n = 0: the next write makes one).
   */
  private finishChunk(n: number): void {
    if (this.pos > 0) this.full.push(this.buf.subarray(0, this.pos));
    this.buf = n > 0 ? Buffer.allocUnsafe(Math.max(this.chunkSize, n)) : EMPTY;
    this.pos = 0;
  }
}
