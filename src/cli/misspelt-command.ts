/**
 * `xdpwg NAME` runs a daemon for interface NAME (wireguard-go's contract), so
 * a mistyped verb (`xdpwg stat`) or a verb xdpwg does not have (`xdpwg
 * status`, `version`) would silently create a TUN and a background daemon.
 * Names that are, or are one edit from, a verb or such a word are refused
 * with a hint; `xdpwg -- NAME` still runs an interface of that name.
 */
import { VERBS } from './usage.js';

/** Words that are not verbs here but that people type for one, with what to type instead. */
const NOT_VERBS: Record<string, string> = {
  help: "'xdpwg --help'",
  version: "'xdpwg --version'",
  status: "'xdpwg show IFNAME' or 'xdpwg stats IFNAME'",
  list: "'xdpwg show interfaces'",
  ls: "'xdpwg show interfaces'",
  start: "'xdpwg up FILE|IFNAME'",
  stop: "'xdpwg down FILE|IFNAME'",
  showconf: "'wg showconf IFNAME' (wg(8) talks to xdpwg's UAPI socket)",
  setconf: "'wg setconf IFNAME FILE' (wg(8) talks to xdpwg's UAPI socket)",
  addconf: "'wg addconf IFNAME FILE' (wg(8) talks to xdpwg's UAPI socket)",
  syncconf: "'wg syncconf IFNAME FILE' (wg(8) talks to xdpwg's UAPI socket)",
  set: "'wg set IFNAME ...' (wg(8) talks to xdpwg's UAPI socket)",
};

/** Edit distance with adjacent transpositions (optimal string alignment); exact enough for "one typo". */
export function typoDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Why NAME must not be taken for an interface name, or undefined when it may.
 * One edit counts only for names of three characters or more: every one- or
 * two-character name is one edit from "up", and such names are real
 * interface names.
 */
export function commandLikeName(name: string): string | undefined {
  const n = name.toLowerCase();
  const escape = `To run an interface of that name: xdpwg -- ${name}`;
  if (NOT_VERBS[n]) return `'${name}' is not a command; did you mean ${NOT_VERBS[n]}? ${escape}`;
  if (VERBS.includes(n) && n !== name) return `'${name}' is not a command; did you mean '${n}'? ${escape}`;
  if (n.length < 3) return undefined;
  const near = VERBS.find((v) => typoDistance(n, v) <= 1);
  if (near) return `'${name}' is not a command; did you mean '${near}'? ${escape}`;
  // Short words (set, list, stop) are one edit from too many real names (net, lost, step).
  const nearWord = Object.keys(NOT_VERBS).find((w) => w.length >= 6 && typoDistance(n, w) <= 1);
  if (nearWord) return `'${name}' is not a command; did you mean ${NOT_VERBS[nearWord]}? ${escape}`;
  return undefined;
}
