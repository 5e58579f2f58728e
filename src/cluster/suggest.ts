/**
 * "Did you mean" for mistyped commands. oclif hands an unknown command line over joined with
 * ':' ("requst put a b" arrives as "requst:put:a:b"): the suggestion keeps the words that
 * follow, so that it is a command line that can be run as it is.
 */

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

export interface Suggestion {
  /** what was typed, as words */
  typed: string;
  /** the command that was probably meant, e.g. "request" or "fault list" */
  command: string | null;
  /** the whole corrected command line (command and the remaining words), e.g. "request put a b" */
  line: string | null;
}

/**
 * The closest command to what was typed. `ids` are oclif command ids ("fault:list"); `typedId`
 * is oclif's id for the typed line ("requst:put:a:b"). A command is only suggested when close
 * (at most 2 edits, and fewer than half its letters).
 */
export function suggestCommand(typedId: string, ids: readonly string[]): Suggestion {
  const words = typedId.split(':').filter((w) => w.length > 0);
  const typed = words.join(' ');
  let best: { id: string; d: number; used: number } | null = null;
  for (const id of ids) {
    const parts = id.split(':');
    if (parts.length > words.length) continue;
    // the command's words against the same number of typed words
    let d = 0;
    for (let i = 0; i < parts.length; i++) d += editDistance(parts[i]!, words[i]!.toLowerCase());
    const limit = Math.min(2, Math.floor(id.replace(/:/g, '').length / 2));
    if (d > limit) continue;
    // prefer fewer edits, then the longer command ("fault list" over "fault")
    if (!best || d < best.d || (d === best.d && parts.length > best.used)) best = { id, d, used: parts.length };
  }
  if (!best) return { typed, command: null, line: null };
  const command = best.id.split(':').join(' ');
  return { typed, command, line: [command, ...words.slice(best.used)].join(' ') };
}
