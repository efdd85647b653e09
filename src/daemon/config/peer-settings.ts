/**
 * The per-peer scalar settings (preshared key, endpoint, persistent
 * keepalive), each described once: its names and text forms on the UAPI, in
 * a config file and in `wg show`, and what each surface prints when it is not
 * set. The UAPI protocol (src/daemon/uapi/protocol.ts), the config file
 * (config-file.ts) and `wg show` (src/cli/show.ts) walk this table instead of
 * naming each setting, and the peer types of device-config.ts and
 * config-file.ts take their setting fields from {@link PeerSettingTypes}, so a
 * setting added here reaches all of them. The device's own side (how it
 * applies and reads a setting) is a map in src/daemon/uapi/apply.ts whose type
 * demands an entry per setting: the compiler points at it.
 *
 * Structure stays outside the table: public_key, remove, update_only,
 * replace_allowed_ips and the allowed IPs shape a peer block rather than set
 * one value.
 *
 * The recipe for a new setting is in docs/DESIGN.md §5 ("Extending").
 */
import { isAllZero } from '../../crypto/bytes.js';
import { keyToBase64, keyToHex } from '../../crypto/encoding.js';
import type { Endpoint } from '../../packet/endpoint.js';
import { formatEndpoint, parseEndpoint } from './device-config.js';
import {
  checkEndpointText,
  hexKeyProblem,
  parseHexKey,
  parseKeyValue,
  parseNumber,
  parseUint,
  quoteInput,
  type BadValue,
} from './value-text.js';

/**
 * Each setting's value type on the device (`value`) and in a parsed config
 * file (`file`). They differ only for the endpoint, which a file may give as a
 * host name to resolve later. A new setting starts here; the docs of these
 * properties are the docs of the fields derived from them.
 */
export interface PeerSettingTypes {
  /** The peer's preshared key (whitepaper §5.2); absent or all zero: none. */
  presharedKey: { value: Uint8Array; file: Uint8Array };
  /**
   * Where the peer is reached (configured, or learnt from its authenticated
   * traffic). In a config file: "host:port" or "[v6]:port" as written; the
   * host may be a name (config-file.ts resolveEndpoints).
   */
  endpoint: { value: Endpoint; file: string };
  /** Seconds between keepalives when the link is otherwise idle; absent or 0: off. */
  persistentKeepalive: { value: number; file: number };
}

export type PeerSettingName = keyof PeerSettingTypes;
export type PeerSettingValue<N extends PeerSettingName> = PeerSettingTypes[N]['value'];

/** The settings a peer has (or an operation sets): an absent field is not set. */
export type PeerSettingValues = { [N in PeerSettingName]?: PeerSettingTypes[N]['value'] };

/** The settings a config file's [Peer] section gives. */
export type PeerSettingFileValues = { [N in PeerSettingName]?: PeerSettingTypes[N]['file'] };

/** What `wg show` offers a setting's pretty formatter: key masking and durations, coloured as the user asked. */
export interface ShowStyle {
  /** The key in base64, or "(hidden)" (WG_HIDE_KEYS). */
  secretKey(key: Uint8Array): string;
  /** "1 minute, 5 seconds". */
  duration(seconds: number): string;
}

/** One setting on every surface. `T` is its device value, `F` its value in a parsed config file. */
export interface PeerSetting<T, F> {
  /** True for a present value that still means "not set" (an all-zero key, an interval of 0). */
  isUnset(value: T): boolean;
  /** The UAPI (wireguard-go's text protocol). */
  uapi: {
    key: string;
    /** A `set=1` value → the value; null when wireguard-go refuses it (EINVAL). */
    parse(text: string): T | null;
    /** Why a refused `set=1` value was refused (follows "key: "); quotes no key material. */
    problem(text: string): string;
    format(value: T): string;
    /**
     * The fixed `get=1` line wireguard-go prints it after (settings with the
     * same anchor follow in table order); its answer is matched byte for byte.
     */
    getAfter: 'public_key' | 'protocol_version' | 'rx_bytes';
    /** What `get=1` prints when it is not set; null: no line. */
    getUnset: string | null;
    /**
     * What `wg setconf`/`syncconf` send for a peer whose section leaves it
     * out, so that syncconf clears it on a live peer; undefined: nothing
     * (an endpoint cannot be cleared).
     */
    clear: T | undefined;
  };
  /** The [Peer] section of a config file (wg(8), wg-quick(8)). */
  file: {
    /** As `wg showconf` writes it; read case-insensitively. */
    key: string;
    /** The value with all whitespace removed → the value; `bad` throws the line's error. */
    parse(compact: string, bad: BadValue): F;
    /** The value's text; null writes no line (as `wg showconf` omits an unset value). */
    format(value: F): string | null;
    /** The structural line it follows in `wg showconf`'s layout (settings with the same anchor follow in table order). */
    after: 'PublicKey' | 'AllowedIPs';
    /** File value → device value; null when it needs resolving first (an endpoint host name). */
    toValue(value: F): T | null;
    /** Device value → file value (`wg showconf`). */
    fromValue(value: T): F;
  };
  /** `wg show` (wireguard-tools' show.c). */
  show: {
    /** The label in the pretty output, shown only when set. */
    label: string;
    pretty(value: T, style: ShowStyle): string;
    /** The FIELD of `wg show IFNAME FIELD`. */
    field: string;
    /** The value in FIELD and dump output, and what they print when it is not set. */
    text(value: T): string;
    none: string;
    /** The structural line, field or dump column it follows (settings with the same anchor follow in table order). */
    after: 'peer' | 'transfer';
  };
}

const ZERO_KEY = new Uint8Array(32);

/**
 * The table. Its order is the order in which every surface lists the
 * settings sharing an anchor, and the order in which the device applies
 * them (the endpoint before the keepalive interval, whose change sends a
 * keepalive at once).
 */
export const PEER_SETTINGS: { readonly [N in PeerSettingName]: PeerSetting<PeerSettingTypes[N]['value'], PeerSettingTypes[N]['file']> } = {
  presharedKey: {
    isUnset: isAllZero,
    uapi: {
      key: 'preshared_key',
      parse: parseHexKey,
      problem: hexKeyProblem,
      format: keyToHex,
      getAfter: 'public_key',
      getUnset: '0'.repeat(64),
      clear: ZERO_KEY,
    },
    file: {
      key: 'PresharedKey',
      parse: parseKeyValue,
      format: (k) => (isAllZero(k) ? null : keyToBase64(k)),
      after: 'PublicKey',
      toValue: (k) => k,
      fromValue: (k) => k,
    },
    show: {
      label: 'preshared key',
      pretty: (k, style) => style.secretKey(k),
      field: 'preshared-keys',
      text: keyToBase64,
      none: '(none)',
      after: 'peer',
    },
  },
  endpoint: {
    isUnset: () => false,
    uapi: {
      key: 'endpoint',
      parse: parseEndpoint,
      problem: (text) => `not ip:port or [ipv6]:port: ${quoteInput(text)}`,
      format: (e) => formatEndpoint(e),
      getAfter: 'protocol_version',
      getUnset: null,
      clear: undefined,
    },
    file: {
      key: 'Endpoint',
      parse: checkEndpointText,
      format: (text) => text,
      after: 'AllowedIPs',
      // A host name is the file's one special case: config-file.ts resolves it
      // before toDeviceConfig, and keeps the Endpoint's line for the error.
      toValue: parseEndpoint,
      fromValue: (e) => formatEndpoint(e, 'libc'),
    },
    show: {
      label: 'endpoint',
      pretty: (e) => formatEndpoint(e, 'libc'),
      field: 'endpoints',
      text: (e) => formatEndpoint(e, 'libc'),
      none: '(none)',
      after: 'peer',
    },
  },
  persistentKeepalive: {
    isUnset: (secs) => secs === 0,
    uapi: {
      key: 'persistent_keepalive_interval',
      parse: (text) => parseUint(text, 0xffff),
      problem: (text) => `not 0-65535: ${quoteInput(text)}`,
      format: String,
      getAfter: 'rx_bytes',
      getUnset: '0',
      clear: 0,
    },
    file: {
      key: 'PersistentKeepalive',
      parse: (v, bad) => (v.toLowerCase() === 'off' ? 0 : parseNumber(v, 0, 65535, bad, 'off or 0-65535 seconds')),
      format: (secs) => (secs === 0 ? null : String(secs)),
      after: 'AllowedIPs',
      toValue: (secs) => secs,
      fromValue: (secs) => secs,
    },
    show: {
      label: 'persistent keepalive',
      pretty: (secs, style) => `every ${style.duration(secs)}`,
      field: 'persistent-keepalive',
      text: String,
      none: 'off',
      after: 'transfer',
    },
  },
};

/**
 * A table entry with its value types erased, for code that walks the table.
 * Such code reads a value by the entry's `name` and hands it to the same
 * entry's functions, so name and value types pair up by construction; the
 * table itself ({@link PEER_SETTINGS}) is checked entry by entry.
 */
export type AnyPeerSetting = PeerSetting<any, any> & { readonly name: PeerSettingName };

/** The table in its order, each entry with its name. */
export const PEER_SETTING_LIST: readonly AnyPeerSetting[] = (Object.keys(PEER_SETTINGS) as PeerSettingName[]).map((name) => ({
  name,
  ...PEER_SETTINGS[name],
}));

/** Sets one setting (a helper because TypeScript cannot pair a name of union type with its value). */
export function setPeerSetting<N extends PeerSettingName>(values: PeerSettingValues, name: N, value: PeerSettingValues[N]): void {
  values[name] = value;
}
