/**
 * A peer's outer UDP address, as configured (`endpoint=` in the UAPI, `Endpoint =`
 * in a config file) and as learned from received packets. The data path keeps
 * endpoints as address records (src/datapath/addr-record.ts); the control plane
 * parses and formats them (src/daemon/config/device-config.ts).
 */
export interface Endpoint {
  readonly family: 4 | 6;
  /** Address bytes, 4 or 16. */
  readonly address: Uint8Array;
  readonly port: number;
  /** IPv6 scope zone ("eth0" in fe80::1%eth0), if any. */
  readonly zone?: string;
}
