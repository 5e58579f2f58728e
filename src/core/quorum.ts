/**
 * Quorum arithmetic, in one place (Castro & Liskov 2002, §2: "n = 3f+1 ... quorums of 2f+1").
 */
export function maxFaulty(n: number): number {
  return Math.floor((n - 1) / 3);
}

export interface Quorums {
  n: number;
  f: number;
  /** 2f+1: prepared+commit certificates, stable checkpoints, view-change sets */
  quorum: number;
  /** f+1: matching client replies, the view-change join rule */
  weak: number;
  /** 2f: matching prepares a backup needs besides the pre-prepare */
  prepares: number;
}

export function quorums(n: number, f: number = maxFaulty(n)): Quorums {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  if (!Number.isSafeInteger(f) || f < 0) throw new RangeError(`f must be a non-negative integer, got ${f}`);
  if (n < 3 * f + 1) throw new RangeError(`n = ${n} cannot tolerate f = ${f}: PBFT needs n >= 3f+1`);
  return { n, f, quorum: 2 * f + 1, weak: f + 1, prepares: 2 * f };
}

/** The primary of view v is replica v mod n. */
export function primaryOf(view: number, n: number): number {
  return view % n;
}
