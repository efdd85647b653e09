/** Packet helpers: Ethernet, IPv4, IPv6, UDP parse/build and checksums. */
export * from './checksum.js';
export * from './drop-reasons.js';
export * from './ethernet.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './udp.js';
export * from './udp-frame.js';
export * from './outer.js';
