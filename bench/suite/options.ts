/**
 * Reading a bench tool's command line (bench/profile.ts, bench/fresh-ping.ts):
 * flags one after another, each followed by its value where it takes one.
 * The suite and bench/memory.ts keep their own loops (they also take
 * --flag=value and report a usage error).
 */
import type { TopologyName } from './topology.js';

export class OptionReader {
  private at = -1;

  constructor(private readonly argv: readonly string[]) {}

  /** The next flag, or undefined when the command line is done. */
  next(): string | undefined {
    return this.argv[++this.at];
  }

  /** The value after `flag`; an error naming the flag when the command line ends first. */
  value(flag: string): string {
    const v = this.argv[++this.at];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    return v;
  }

  /** A topology's name after `flag`. */
  topology(flag: string): TopologyName {
    const t = this.value(flag);
    if (t !== 'veth' && t !== 'nic') throw new Error(`${flag}: veth or nic`);
    return t;
  }
}
