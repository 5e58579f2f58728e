/** Parsing of replica-id lists given on the command line ("0 2", "0,2", "1-3"). */
import { CliError } from './errors.js';

const MAX_IDS = 1024;

/**
 * Parse replica ids from arguments like ["0", "2"], ["0,2"] or ["1-3"]. Every id must be a
 * member (0..n-1). Returns sorted unique ids; an empty input gives all replicas.
 */
export function parseReplicaIds(args: readonly string[], n: number, what = 'replica id'): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  const parts = args.flatMap((a) => a.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) return all;
  const out = new Set<number>();
  for (const p of parts) {
    const range = /^(\d{1,6})-(\d{1,6})$/.exec(p);
    if (range) {
      const a = Number(range[1]);
      const b = Number(range[2]);
      if (a > b) throw new CliError('BAD_ARGUMENT', `invalid ${what} range "${p}"`, 'write ranges low-high, e.g. 1-3');
      for (let i = a; i <= b && out.size <= MAX_IDS; i++) out.add(checkId(i, n, what));
      continue;
    }
    if (!/^\d{1,6}$/.test(p)) {
      throw new CliError('BAD_ARGUMENT', `"${p}" is not a ${what}`, `give numbers between 0 and ${n - 1}, e.g. 0 2 or 0,2 or 1-3`);
    }
    out.add(checkId(Number(p), n, what));
  }
  return [...out].sort((x, y) => x - y);
}

function checkId(i: number, n: number, what: string): number {
  if (i >= n) throw new CliError('UNKNOWN_REPLICA', `unknown ${what} ${i}: this cluster has replicas 0..${n - 1}`, 'use an id from that range');
  return i;
}
