/**
 * IP addresses and prefixes as text, and the one shape of a prefix
 * ({@link IpPrefix}) that the allowed-IPs table, the UAPI, config files and
 * routes share.
 *
 * Parsing accepts exactly what wireguard-go's UAPI (Go's net/netip) and
 * wg(8) accept: no leading zeros in IPv4 octets, IPv6 per RFC 4291 §2.2 with
 * an optional dotted IPv4 tail, no zone. Formatting prints what they print
 * (RFC 5952 text; see {@link formatIPv6} for the two styles).
 */
/** 4 for IPv4, 6 for IPv6. */
export type IpFamily = 4 | 6;

/** An IP network prefix: network-order address bytes (4 or 16) and prefix length. */
export interface IpPrefix {
  readonly family: IpFamily;
  readonly address: Uint8Array;
  readonly bits: number;
}

/** Parses dotted-quad IPv4 strictly (4 octets, 0-255, no leading zeros); null if invalid. */
export function parseIPv4(text: string): Uint8Array | null {
  const out = new Uint8Array(4);
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // virtual '.' at the end
    if (c >= 48 && c <= 57) {
      if (digits === 1 && value === 0) return null; // leading zero
      value = value * 10 + (c - 48);
      if (value > 255) return null;
      digits++;
    } else if (c === 46) {
      if (digits === 0 || octet > 3) return null;
      out[octet++] = value;
      value = 0;
      digits = 0;
    } else {
      return null;
    }
  }
  return octet === 4 ? out : null;
}

/** Parses RFC 4291 IPv6 text (with '::' and an optional trailing dotted IPv4), no zone; null if invalid. */
export function parseIPv6(text: string): Uint8Array | null {
  const out = new Uint8Array(16);
  let ellipsis = -1; // byte index where '::' sits
  let i = 0;
  let pos = 0; // byte position being filled
  if (text.startsWith('::')) {
    ellipsis = 0;
    i = 2;
    if (text.length === 2) return out;
  } else if (text.startsWith(':')) {
    return null;
  }
  while (i < text.length) {
    if (pos >= 16) return null;
    // Read up to 4 hex digits.
    let value = 0;
    let n = 0;
    const start = i;
    while (i < text.length && n < 5) {
      const c = text.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      value = value * 16 + d;
      n++;
      i++;
    }
    if (n === 0 || n > 4) return null;
    if (i < text.length && text[i] === '.') {
      // Embedded IPv4 in the last 32 bits.
      if (ellipsis < 0 && pos !== 12) return null;
      if (pos > 12) return null;
      const v4 = parseIPv4(text.slice(start));
      if (!v4) return null;
      out.set(v4, pos);
      pos += 4;
      i = text.length;
      break;
    }
    out[pos++] = value >> 8;
    out[pos++] = value & 0xff;
    if (i === text.length) break;
    if (text[i] !== ':') return null;
    i++;
    if (i < text.length && text[i] === ':') {
      if (ellipsis >= 0) return null;
      ellipsis = pos;
      i++;
      if (i === text.length) break;
    } else if (i === text.length) {
      return null; // trailing single ':'
    }
  }
  if (ellipsis >= 0) {
    const tail = pos - ellipsis;
    if (pos === 16) return null; // '::' must stand for at least one group
    out.copyWithin(16 - tail, ellipsis, pos);
    out.fill(0, ellipsis, 16 - tail);
  } else if (pos !== 16) {
    return null;
  }
  return out;
}

/** Parses an IPv4 or IPv6 address (no zone); null if invalid. */
export function parseIP(text: string): Uint8Array | null {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

function formatIPv4(a: Uint8Array, offset = 0): string {
  return `${a[offset]}.${a[offset + 1]}.${a[offset + 2]}.${a[offset + 3]}`;
}

/**
 * Formats an IPv6 address as RFC 5952 text (longest run of ≥2 zero groups
 * collapsed, leftmost on a tie, lowercase). `style` chooses where an IPv4
 * tail is printed dotted: 'go' (wireguard-go, net/netip) only for v4-mapped
 * ::ffff:a.b.c.d; 'libc' (glibc inet_ntop, what wg(8) prints) also for
 * ::a.b.c.d.
 */
export function formatIPv6(a: Uint8Array, style: 'go' | 'libc' = 'go'): string {
  const words = new Array<number>(8);
  for (let i = 0; i < 8; i++) words[i] = (a[2 * i]! << 8) | a[2 * i + 1]!;
  let bestBase = -1,
    bestLen = 0,
    curBase = -1,
    curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase < 0) {
        curBase = i;
        curLen = 1;
      } else curLen++;
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
    } else {
      curBase = -1;
      curLen = 0;
    }
  }
  if (bestLen < 2) bestBase = -1;
  const mapped = bestBase === 0 && bestLen === 5 && words[5] === 0xffff;
  const compat = style === 'libc' && bestBase === 0 && bestLen === 6;
  if (mapped || compat) return `::${mapped ? 'ffff:' : ''}${formatIPv4(a, 12)}`;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += words[i]!.toString(16);
  }
  return s;
}

/** Formats 4 or 16 address bytes as text (see {@link formatIPv6} for `style`). */
export function formatIP(address: Uint8Array, style: 'go' | 'libc' = 'go'): string {
  return address.length === 4 ? formatIPv4(address) : formatIPv6(address, style);
}

/**
 * Which text a prefix is read from:
 * - 'uapi': wireguard-go's UAPI (`allowed_ip=`, netip.ParsePrefix): the
 *   length is mandatory, decimal without leading zeros.
 * - 'wg-config': wg(8)'s AllowedIPs and wg-quick's Address (inet_pton, then
 *   strtoul on the length): a bare address is a host prefix (/32, /128) and
 *   the length may have leading zeros ("/024"), at most three digits.
 * Both: the address as {@link parseIP} reads it (no leading zeros in IPv4
 * octets, no zone), the length at most 32 or 128, no whitespace anywhere
 * (callers trim list items, as wg(8) strips a config line's spaces), and
 * host bits kept as given ({@link maskPrefix} clears them; the allowed-IPs
 * table masks on insert, as wireguard-go and the kernel do).
 */
export type PrefixSyntax = 'uapi' | 'wg-config';

/** Parses "addr/bits" (or, in 'wg-config' syntax, a bare address); null if invalid. */
export function parsePrefix(text: string, syntax: PrefixSyntax = 'uapi'): IpPrefix | null {
  const slash = text.indexOf('/');
  if (slash < 0 && syntax === 'uapi') return null;
  const address = parseIP(slash < 0 ? text : text.slice(0, slash));
  if (!address) return null;
  const max = address.length * 8;
  let bits = max;
  if (slash >= 0) {
    const bitsText = text.slice(slash + 1);
    if (!(syntax === 'uapi' ? /^(0|[1-9][0-9]{0,2})$/ : /^[0-9]{1,3}$/).test(bitsText)) return null;
    bits = Number(bitsText);
    if (bits > max) return null;
  }
  return { family: address.length === 4 ? 4 : 6, address, bits };
}

/** The prefix with all bits after `bits` cleared (what a routing table stores). */
export function maskPrefix(p: IpPrefix): IpPrefix {
  const address = new Uint8Array(p.address);
  for (let bit = p.bits; bit < address.length * 8; bit++) {
    if ((bit & 7) === 0 && bit + 8 <= address.length * 8) {
      address.fill(0, bit >> 3);
      break;
    }
    address[bit >> 3]! &= ~(0x80 >> (bit & 7));
  }
  return { family: p.family, address, bits: p.bits };
}

/** "addr/bits" text (see {@link formatIPv6} for `style`). */
export function formatPrefix(p: IpPrefix, style: 'go' | 'libc' = 'go'): string {
  return `${formatIP(p.address, style)}/${p.bits}`;
}

/** A key identifying a prefix by value (family, address bytes, length), for maps and sets. */
export function prefixKey(p: IpPrefix): string {
  return `${Buffer.from(p.address.buffer, p.address.byteOffset, p.address.byteLength).toString('hex')}/${p.bits}`;
}
