/**
 * Replica ids on a command line, for every command that takes them: the IDS of pbft up, down,
 * start, stop, restart and logs ("0 2", "0,2", "1-3"), and the --from list and the TARGET of
 * pbft fault. One grammar and one membership check for all of them:
 *
 * - an id is a decimal number (at most six digits); a list holds ids and low-high ranges,
 *   separated by commas or white space; the result is sorted, without duplicates;
 * - a word that is not an id, or a range written high-low, is BAD_ARGUMENT; an id that the
 *   cluster does not have is UNKNOWN_REPLICA, whatever the command, alone or in a range.
 *
 * Only the wording differs with where the ids were given (see `wording`): each command keeps the
 * messages it has always printed, which scripts and tests match.
 */
import { CliError } from './errors.js';

/** An id: decimal digits, at most six (more is no id of any cluster: MAX_REPLICAS is far below). */
const ID = /^\d{1,6}$/;
const RANGE = /^(\d{1,6})-(\d{1,6})$/;

/** The TARGET of pbft fault: a replica id, or the current primary. */
export type ReplicaTarget = number | 'primary';

/** Where ids were given: positional IDS, a flag's list, or the single TARGET of pbft fault. */
type Source = { kind: 'ids' } | { kind: 'flag'; flag: string } | { kind: 'target' };

interface Wording {
  /** a word that is not an id (nor a range, in a list) */
  notAnId(word: string, n: number): [message: string, hint: string];
  /** a range written high-low */
  badRange(word: string, n: number): [message: string, hint: string];
  /** a well-formed id that the cluster does not have */
  unknown(id: number, n: number): [message: string, hint: string];
}

/** The messages for ids given in `s`: each command keeps the wording it has always had. */
function wording(s: Source): Wording {
  switch (s.kind) {
    case 'ids':
      return {
        notAnId: (w, n) => [`"${w}" is not a replica id`, `give numbers between 0 and ${n - 1}, e.g. 0 2 or 0,2 or 1-3`],
        badRange: (w) => [`invalid replica id range "${w}"`, 'write ranges low-high, e.g. 1-3'],
        unknown: (id, n) => [`unknown replica id ${id}: this cluster has replicas 0..${n - 1}`, 'use an id from that range'],
      };
    case 'flag': {
      const { flag } = s;
      const notAnId: Wording['notAnId'] = (w, n) => [
        `${flag}: "${w}" is not a replica id or range`,
        `give ids between 0 and ${n - 1}, e.g. ${flag} 0,1 or ${flag} 1-2`,
      ];
      const unknown: Wording['unknown'] = (id, n) => [`${flag}: unknown replica ${id}: this cluster has replicas 0-${n - 1}`, 'use ids from that range'];
      return { notAnId, badRange: notAnId, unknown };
    }
    case 'target': {
      const notAnId: Wording['notAnId'] = (w, n) => [`"${w}" is not a replica id or "primary"`, `give a replica id between 0 and ${n - 1}, or primary`];
      const unknown: Wording['unknown'] = (id, n) => [`unknown replica ${id}: this cluster has replicas 0-${n - 1}`, 'use an id from that range, or primary'];
      return { notAnId, badRange: notAnId, unknown };
    }
  }
}

function unknownReplica(id: number, n: number, s: Source): CliError {
  return new CliError('UNKNOWN_REPLICA', ...wording(s).unknown(id, n));
}

/** `id` itself when it is a replica of an n-replica cluster; UNKNOWN_REPLICA (worded as for a TARGET) otherwise. */
export function checkReplicaId(id: number, n: number): number {
  if (!Number.isSafeInteger(id) || id < 0 || id >= n) throw unknownReplica(id, n, { kind: 'target' });
  return id;
}

/** One word of a list, an id or a low-high range, as the ids lo..hi of an n-replica cluster. */
function parseWord(word: string, n: number, source: Source): [lo: number, hi: number] {
  const range = RANGE.exec(word);
  const [lo, hi] = range ? [Number(range[1]), Number(range[2])] : ID.test(word) ? [Number(word), Number(word)] : [NaN, NaN];
  if (Number.isNaN(lo)) throw new CliError('BAD_ARGUMENT', ...wording(source).notAnId(word, n));
  if (lo > hi) throw new CliError('BAD_ARGUMENT', ...wording(source).badRange(word, n));
  if (hi >= n) throw unknownReplica(hi, n, source);
  return [lo, hi];
}

/**
 * Parse replica ids from arguments like ["0", "2"], ["0,2"], ["0 2"] or ["1-3"] into the
 * sorted, unique ids of an n-replica cluster. Without `flag` (the IDS arguments of up, down,
 * ...) an empty list means every replica; with one (`{flag: '--from'}`) it is an error, and
 * every message names the flag.
 */
export function parseReplicaIds(args: readonly string[], n: number, o: { flag?: string } = {}): number[] {
  const source: Source = o.flag !== undefined ? { kind: 'flag', flag: o.flag } : { kind: 'ids' };
  const words = args.flatMap((a) => a.split(/[\s,]+/)).filter((w) => w.length > 0);
  if (words.length === 0) {
    if (o.flag !== undefined) throw new CliError('BAD_ARGUMENT', `${o.flag} needs at least one replica id`, `e.g. ${o.flag} 0,1`);
    return Array.from({ length: n }, (_, i) => i);
  }
  const out = new Set<number>();
  for (const w of words) {
    const [lo, hi] = parseWord(w, n, source);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** Parse the TARGET of pbft fault: "primary", or one replica id of an n-replica cluster (no list, no range). */
export function parseReplicaTarget(word: string, n: number): ReplicaTarget {
  const t = word.trim();
  if (t === 'primary') return 'primary';
  if (!ID.test(t)) throw new CliError('BAD_ARGUMENT', ...wording({ kind: 'target' }).notAnId(word, n));
  return parseWord(t, n, { kind: 'target' })[0];
}
