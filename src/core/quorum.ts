/**
 * Quorum arithmetic, in one place (Castro & Liskov 2002, §2: "n = 3f+1 ... quorums of 2f+1").
 */
export function maxFaulty(n: number): number {
  return Math.floor((n - 1) / 3);
}

export interface Quorums {
  n: number;
  f: number;
  /**
   * The quorum: ceil((n+f+1)/2), which is 2f+1 when n = 3f+1 (the paper's setting). For
   * n > 3f+1, 2f+1 would be wrong: two quorums of 2f+1 among n = 5 replicas (f = 1) meet in
   * one replica, possibly the faulty one. ceil((n+f+1)/2) keeps "any two quorums intersect in
   * at least one correct replica" (2q - n >= f+1) and availability (q <= n - f).
   * Used for: commit certificates, stable checkpoints, view-change sets, read-only replies.
   */
  quorum: number;
  /** f+1: matching client replies, the view-change join rule */
  weak: number;
  /** quorum - 1: matching prepares a replica needs besides the pre-prepare (2f for n = 3f+1) */
  prepares: number;
}

export function quorums(n: number, f: number = maxFaulty(n)): Quorums {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  if (!Number.isSafeInteger(f) || f < 0) throw new RangeError(`f must be a non-negative integer, got ${f}`);
  if (n < 3 * f + 1) throw new RangeError(`n = ${n} cannot tolerate f = ${f}: PBFT needs n >= 3f+1`);
  const quorum = Math.ceil((n + f + 1) / 2);
  return { n, f, quorum, weak: f + 1, prepares: quorum - 1 };
}

/** The primary of view v is replica v mod n. */
export function primaryOf(view: number, n: number): number {
  return view % n;
}
