/**
 * The twins adversary (Bano, Sonnino, Chursin, Perelman, Li, Sonnino, Malkhi: "Twins: BFT
 * Systems Made Robust", OPODIS 2022). A Byzantine replica is modelled as TWO honest core
 * instances with the same key and the same replica id; each twin sits on a different side of
 * a partition schedule, so each side sees one honest-looking replica r, and the two replicas r
 * disagree: equivocation, double votes and conflicting view-changes, produced by honest code.
 *
 * The schedule (drawn from the seed) is a list of phases over the safety phase. In each phase
 * every correct replica is on side A (it talks to the A twins), side B, or both; twin A of every
 * twinned replica is on side A, twin B on side B. A message sent to a twinned replica r goes to
 * the twin(s) on the sender's side; a twin's messages reach the replicas on its side. In some
 * phases the correct replicas are cut along the same line (a correct replica on side A does not
 * hear one on side B); in others they all talk to each other and only the twins are split.
 * Client requests to a twinned replica reach both twins or one of them. The liveness phase
 * heals everything: both twins then hear and are heard by everyone.
 *
 * Twins are Byzantine: they are not in the checkers' `correct` set, so their own actions are
 * not judged, while every correct replica's are.
 */
import type { ReplicaId } from '../core/types.js';
import type { Rng } from './rng.js';
import type { Scenario } from './scenario.js';

/** a correct replica's side in a phase: talks to twin A, twin B, or both */
export const SIDE_A = 0;
export const SIDE_B = 1;
export const SIDE_BOTH = 2;

export interface TwinsPhase {
  atMs: number;
  /** per replica id: SIDE_A, SIDE_B or SIDE_BOTH (ignored for twinned ids) */
  sides: number[];
  /** the correct replicas are partitioned along the same line (else they all talk) */
  cutCorrect: boolean;
}

export interface TwinsPlan {
  /** the twinned (Byzantine) replicas: 0..f of them (0 only in a fault-free run) */
  replicas: ReplicaId[];
  phases: TwinsPhase[];
  /** probability that a client request to a twinned replica reaches only one of its twins */
  splitRequestP: number;
}

export function planTwins(rng: Rng, sc: Scenario, faults: boolean): TwinsPlan {
  const { n, f } = sc;
  if (!faults || f < 1) return { replicas: [], phases: [], splitRequestP: 0 };
  const k = rng.int(1, f);
  const ids = new Set<ReplicaId>();
  // Twins matter most as primary: the primary of view 0 or of view 1 (the first new primary).
  const first = rng.weighted<number>([
    [0, 5],
    [1, 3],
    [-1, 2],
  ]);
  if (first >= 0) ids.add(first);
  while (ids.size < k) ids.add(rng.int(0, n - 1));
  const replicas = [...ids].sort((a, b) => a - b);
  const correct = [...Array(n).keys()].filter((r) => !ids.has(r));
  const count = rng.int(2, 6);
  const times = [0, ...Array.from({ length: count - 1 }, () => Math.round(rng.range(0, sc.safetyMs)))].sort((a, b) => a - b);
  const phases = times.map((atMs) => {
    const sides = new Array<number>(n).fill(SIDE_A);
    for (const r of correct) {
      sides[r] = rng.weighted<number>([
        [SIDE_A, 4],
        [SIDE_B, 4],
        [SIDE_BOTH, 2],
      ]);
    }
    // each twin has someone to talk to
    if (!correct.some((r) => sides[r] !== SIDE_B)) sides[rng.pick(correct)] = SIDE_A;
    if (!correct.some((r) => sides[r] !== SIDE_A)) sides[rng.pick(correct)] = SIDE_B;
    return { atMs, sides, cutCorrect: rng.bool(0.5) };
  });
  return { replicas, phases, splitRequestP: rng.range(0.2, 0.8) };
}

export function describeTwins(p: TwinsPlan): string {
  if (p.replicas.length === 0) return 'none';
  const name = (s: number) => (s === SIDE_A ? 'A' : s === SIDE_B ? 'B' : 'AB');
  const phases = p.phases.map(
    (ph) =>
      `@${ph.atMs}ms{${ph.sides
        .map((s, r) => (p.replicas.includes(r) ? null : `${r}:${name(s)}`))
        .filter(Boolean)
        .join(' ')}}${ph.cutCorrect ? '/cut' : ''}`,
  );
  return `r${p.replicas.join(',r')} twinned; phases ${phases.join(' ')}; split requests p=${p.splitRequestP.toFixed(2)}`;
}

function bump(c: Record<string, number>, key: string, by = 1): void {
  c[key] = (c[key] ?? 0) + by;
}

/** The twins' view of the network: who talks to which twin, now. */
export class TwinsNet {
  private readonly twinned: boolean[];
  private phase: TwinsPhase | null = null;
  private healed = false;
  readonly counters: Record<string, number> = {};

  constructor(
    readonly plan: TwinsPlan,
    n: number,
    private readonly rng: Rng,
  ) {
    this.twinned = Array.from({ length: n }, (_, r) => plan.replicas.includes(r));
    this.counters['twinned-replicas'] = plan.replicas.length;
    this.counters.phases = 0;
  }

  isTwin(r: ReplicaId): boolean {
    return this.twinned[r] === true;
  }

  setPhase(i: number): void {
    if (this.healed) return;
    this.phase = this.plan.phases[i] ?? null;
    bump(this.counters, 'phases');
  }

  /** the liveness phase: everyone talks to everyone, both twins included */
  heal(): void {
    this.healed = true;
    this.phase = null;
  }

  /** side of a correct replica now */
  side(r: ReplicaId): number {
    if (this.healed || !this.phase) return SIDE_BOTH;
    return this.phase.sides[r] ?? SIDE_BOTH;
  }

  /** may a node on side `a` reach one on side `b`? (`bothCorrect`: two correct replicas) */
  talks(a: number, b: number, bothCorrect: boolean): boolean {
    if (this.healed || !this.phase) return true;
    if (bothCorrect && !this.phase.cutCorrect) return true;
    return a === SIDE_BOTH || b === SIDE_BOTH || a === b;
  }

  /** which twins get a client request: both, or one of them (safety phase) */
  requestTargets(): (0 | 1)[] {
    if (this.healed || !this.rng.bool(this.plan.splitRequestP)) return [0, 1];
    bump(this.counters, 'split-requests');
    return [this.rng.bool(0.5) ? 0 : 1];
  }

  count(key: string): void {
    bump(this.counters, key);
  }
}
