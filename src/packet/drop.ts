/**
 * Why a packet was dropped. Every data-path failure has a name here, so it is
 * counted rather than thrown (kernel WireGuard's "named exit" habit).
 */
export const Drop = {
  none: 0,
  /** Shorter than the headers it claims to start. */
  runt: 1,
  /** Neither IPv4 nor IPv6 (ARP and the like never reach us; VLAN tags are not handled). */
  ethertype: 2,
  /** IP version nibble disagrees with the ethertype. */
  ipVersion: 3,
  /** IPv4 IHL < 5 or beyond the frame. */
  ipv4HeaderLength: 4,
  /** IPv4 header with options (never sent by WireGuard peers; refused by policy). */
  ipv4Options: 5,
  /** IPv4 header checksum wrong. */
  ipv4Checksum: 6,
  /** IP total/payload length larger than the frame or smaller than its headers. */
  ipLength: 7,
  /** IPv4 fragment (MF or offset set). */
  fragment: 8,
  /** Not UDP, or IPv6 extension headers before UDP. */
  protocol: 9,
  /** UDP length field below 8 or beyond the IP payload. */
  udpLength: 10,
  /** UDP checksum wrong (only where the caller verifies it). */
  udpChecksum: 11,
  /** Not addressed to a port we serve. */
  port: 12,
  /** The transmit ring took fewer packets than offered. */
  txFull: 13,
} as const;

/** A drop reason code. */
export type DropReason = (typeof Drop)[keyof typeof Drop];

/** Names indexed by code, for stats output. */
export const dropNames: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, code] of Object.entries(Drop)) names[code] = name;
  return names;
})();
