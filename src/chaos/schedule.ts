/**
 * The nemesis of `pbft chaos`: a seeded schedule of faults, made before the run and played
 * against a real cluster with the fault library (src/cluster/faults.ts).
 *
 * Rules the generator keeps (checkSchedule() tests them, and the unit tests check it):
 *
 * - A new fault may start every `periodMs` (at a seeded point in the first quarter of the
 *   period); at most `overlap` faults are in force at once. With overlap 1 every fault is healed
 *   before the next one starts.
 * - A replica carries at most one fault at a time, so healing one fault never lifts another
 *   (a partition occupies every replica of the side it cuts off).
 * - Byzantine strategies are played only by the run's Byzantine replicas: at most f of them,
 *   picked by the seed, for the whole run. So never more than f replicas are Byzantine at once,
 *   and no more than f ever are: PBFT's bound holds over an execution, and a replica that lied
 *   once (messages it signed are in its peers' logs) counts as faulty after it is cleared.
 * - Crashes, stops, pauses and partitions may take down more than f replicas at once (with
 *   overlap above f). The cluster must then stop answering, never answer wrongly.
 * - Every fault ends by the end of the load (`durationMs`); the run heals whatever is left.
 */
import { STRATEGY_NAMES, type StrategyName } from '../byzantine/index.js';
import { Rng } from '../sim/rng.js';

export const NEMESIS_KINDS = ['crash', 'restart', 'pause', 'partition', 'delay', 'drop', 'byzantine', 'clients'] as const;
export type NemesisKind = (typeof NEMESIS_KINDS)[number];

export const NEMESIS_DESCRIPTIONS: Record<NemesisKind, string> = {
  crash: 'SIGKILL a replica (pbft fault ID crash), then restart it (pbft fault ID restart)',
  restart: 'stop a replica cleanly (SIGTERM, as pbft stop), then start it again',
  pause: 'SIGSTOP a replica, then SIGCONT it (pbft fault ID pause / resume)',
  partition: 'cut one or more replicas (up to half) off from the others, then heal',
  delay: "delay a replica's traffic by 20-200 ms with jitter, then heal",
  drop: "drop 10-50% of a replica's traffic at random, then heal",
  byzantine: "make one of the run's Byzantine replicas (at most f) play a strategy, then clear it",
  clients: "a fault on a replica's client links: cut off from every client, delayed or lossy; then heal",
};

export function isNemesisKind(s: string): s is NemesisKind {
  return (NEMESIS_KINDS as readonly string[]).includes(s);
}

/** One fault: what it is and which replicas it occupies while in force. */
export type FaultSpec =
  | { kind: 'crash' | 'restart' | 'pause'; replicas: [number] }
  /** `replicas` is the side cut off from `from` (every other replica) */
  | { kind: 'partition'; replicas: number[]; from: number[] }
  | { kind: 'delay'; replicas: [number]; ms: number; jitterMs: number }
  | { kind: 'drop'; replicas: [number]; rate: number }
  | { kind: 'byzantine'; replicas: [number]; strategy: StrategyName }
  | { kind: 'clients'; replicas: [number]; link: 'partition' }
  | { kind: 'clients'; replicas: [number]; link: 'delay'; ms: number; jitterMs: number }
  | { kind: 'clients'; replicas: [number]; link: 'drop'; rate: number };

export interface ScheduledFault {
  id: number;
  /** ms from the start of the load */
  startMs: number;
  endMs: number;
  spec: FaultSpec;
}

export interface ScheduleOptions {
  n: number;
  f: number;
  seed: number;
  durationMs: number;
  kinds: readonly NemesisKind[];
  /** a new fault may start every periodMs */
  periodMs: number;
  /** faults in force at once, at most (1: one after the other) */
  overlap: number;
  /** strategies the byzantine faults draw from (default: all) */
  strategies?: readonly StrategyName[];
  /** the run's Byzantine replicas (default: f of them, picked by the seed) */
  byzantine?: readonly number[];
}

export interface Schedule {
  seed: number;
  n: number;
  f: number;
  durationMs: number;
  periodMs: number;
  overlap: number;
  kinds: NemesisKind[];
  strategies: StrategyName[];
  /** the replicas that may play Byzantine strategies in this run (at most f; none without byzantine in kinds) */
  byzantine: number[];
  faults: ScheduledFault[];
}

export const SCHEDULE_LIMITS = { minPeriodMs: 200, maxPeriodMs: 3_600_000, maxDurationMs: 24 * 3_600_000 } as const;

/** A one-line description, e.g. "partition r2,r3 | r0,r1" or "byzantine r1 equivocate". */
export function describeFault(s: FaultSpec): string {
  const r = (ids: readonly number[]) => ids.map((i) => `r${i}`).join(',');
  switch (s.kind) {
    case 'partition':
      return `partition ${r(s.replicas)} | ${r(s.from)}`;
    case 'delay':
      return `delay ${r(s.replicas)} ${s.ms}±${s.jitterMs} ms`;
    case 'drop':
      return `drop ${r(s.replicas)} ${Math.round(s.rate * 100)}%`;
    case 'byzantine':
      return `byzantine ${r(s.replicas)} ${s.strategy}`;
    case 'clients':
      return s.link === 'partition'
        ? `clients ${r(s.replicas)} cut off`
        : s.link === 'delay'
          ? `clients ${r(s.replicas)} delay ${s.ms}±${s.jitterMs} ms`
          : `clients ${r(s.replicas)} drop ${Math.round(s.rate * 100)}%`;
    default:
      return `${s.kind} ${r(s.replicas)}`;
  }
}

/** Does this fault take replicas out of the protocol while in force (for "more than f down")? */
export function takesDown(s: FaultSpec): boolean {
  return s.kind === 'crash' || s.kind === 'restart' || s.kind === 'pause' || s.kind === 'partition';
}

function validateOptions(o: ScheduleOptions): void {
  if (!Number.isSafeInteger(o.n) || o.n < 1) throw new RangeError(`n must be a positive integer, got ${o.n}`);
  if (!Number.isSafeInteger(o.f) || o.f < 0 || 3 * o.f + 1 > o.n) throw new RangeError(`f must be an integer with 3f+1 <= n, got f = ${o.f}, n = ${o.n}`);
  if (!Number.isSafeInteger(o.seed)) throw new RangeError(`seed must be a safe integer, got ${o.seed}`);
  if (!(o.durationMs > 0 && o.durationMs <= SCHEDULE_LIMITS.maxDurationMs)) throw new RangeError(`duration out of range: ${o.durationMs} ms`);
  if (!(o.periodMs >= SCHEDULE_LIMITS.minPeriodMs && o.periodMs <= SCHEDULE_LIMITS.maxPeriodMs))
    throw new RangeError(`period must be ${SCHEDULE_LIMITS.minPeriodMs}-${SCHEDULE_LIMITS.maxPeriodMs} ms, got ${o.periodMs}`);
  if (!Number.isSafeInteger(o.overlap) || o.overlap < 1 || o.overlap > o.n) throw new RangeError(`overlap must be an integer in 1..${o.n}, got ${o.overlap}`);
  for (const k of o.kinds) if (!isNemesisKind(k)) throw new RangeError(`unknown nemesis "${k}"`);
  if (o.byzantine) {
    if (o.byzantine.length > o.f) throw new RangeError(`at most f = ${o.f} Byzantine replicas, got ${o.byzantine.length}`);
    for (const b of o.byzantine) if (!Number.isSafeInteger(b) || b < 0 || b >= o.n) throw new RangeError(`no replica ${b} in a cluster of ${o.n}`);
  }
  for (const s of o.strategies ?? []) if (!(STRATEGY_NAMES as readonly string[]).includes(s)) throw new RangeError(`unknown strategy "${s}"`);
}

/**
 * The schedule for a seed: the same options and seed give the same schedule, on any machine.
 * Time is in ms from the start of the load.
 */
export function generateSchedule(o: ScheduleOptions): Schedule {
  validateOptions(o);
  const rng = new Rng(o.seed).fork('chaos-nemesis');
  const kinds = [...new Set(o.kinds)];
  const strategies = [...(o.strategies && o.strategies.length > 0 ? o.strategies : STRATEGY_NAMES)];
  // drawn whatever the kinds, so that the rest of the schedule does not depend on it
  const drawn = rng.sample([...Array(o.n).keys()], o.f).sort((a, b) => a - b);
  const byzantine = !o.kinds.includes('byzantine') ? [] : o.byzantine ? [...new Set(o.byzantine)].sort((a, b) => a - b) : drawn;
  const all = [...Array(o.n).keys()];
  const P = o.periodMs;
  const faults: ScheduledFault[] = [];
  // the shortest fault worth playing: a fault cut shorter by the end of the load is dropped
  const minMs = Math.min(P * 0.4, 1000);
  for (let k = 0; ; k++) {
    const start = Math.round(k * P + rng.range(0, P / 4));
    if (start >= o.durationMs - minMs) break;
    // each slot draws the same numbers whatever happens, so a skipped slot does not shift the rest
    const slot = rng.fork(`slot-${k}`);
    const length = o.overlap === 1 ? slot.range(0.4 * P, 0.75 * P) : slot.range(0.5 * P, (o.overlap - 0.25) * P);
    const end = Math.min(o.durationMs, Math.round(start + length));
    if (end - start < minMs) continue;
    const active = faults.filter((x) => x.endMs > start);
    if (active.length >= o.overlap) continue;
    const busy = new Set(active.flatMap((x) => x.spec.replicas));
    const free = all.filter((r) => !busy.has(r));
    const freeByz = byzantine.filter((r) => !busy.has(r));
    const possible = kinds.filter((kind) => (kind === 'byzantine' ? freeByz.length > 0 && strategies.length > 0 : free.length > 0));
    if (possible.length === 0) continue;
    const kind = slot.pick(possible);
    const spec = makeSpec(kind, slot, { free, freeByz, all, n: o.n, strategies });
    faults.push({ id: faults.length, startMs: start, endMs: end, spec });
  }
  return { seed: o.seed, n: o.n, f: o.f, durationMs: o.durationMs, periodMs: P, overlap: o.overlap, kinds, strategies, byzantine, faults };
}

function makeSpec(kind: NemesisKind, rng: Rng, c: { free: number[]; freeByz: number[]; all: number[]; n: number; strategies: StrategyName[] }): FaultSpec {
  switch (kind) {
    case 'crash':
    case 'restart':
    case 'pause':
      return { kind, replicas: [rng.pick(c.free)] };
    case 'partition': {
      // the side cut off: one replica, or up to half of them (then no side may hold a quorum)
      const size = rng.int(1, Math.max(1, Math.min(c.free.length, Math.floor(c.n / 2))));
      const side = rng.sample(c.free, size).sort((a, b) => a - b);
      return { kind, replicas: side, from: c.all.filter((r) => !side.includes(r)) };
    }
    case 'delay': {
      const ms = rng.int(20, 200);
      return { kind, replicas: [rng.pick(c.free)], ms, jitterMs: rng.int(0, Math.floor(ms / 2)) };
    }
    case 'drop':
      return { kind, replicas: [rng.pick(c.free)], rate: Math.round(rng.range(0.1, 0.5) * 100) / 100 };
    case 'byzantine':
      return { kind, replicas: [rng.pick(c.freeByz)], strategy: rng.pick(c.strategies) };
    case 'clients': {
      const r: [number] = [rng.pick(c.free)];
      const link = rng.pick(['partition', 'delay', 'drop'] as const);
      if (link === 'partition') return { kind, replicas: r, link };
      if (link === 'delay') {
        const ms = rng.int(50, 500);
        return { kind, replicas: r, link, ms, jitterMs: rng.int(0, Math.floor(ms / 2)) };
      }
      return { kind, replicas: r, link, rate: Math.round(rng.range(0.2, 0.8) * 100) / 100 };
    }
  }
}

/**
 * The rules a schedule must keep; [] when it keeps them all. The runner plays faults in the
 * order of their start and end times (an end before a start at the same time), so these hold
 * on the cluster too, however late an action runs.
 */
export function checkSchedule(s: Schedule): string[] {
  const problems: string[] = [];
  if (s.byzantine.length > s.f) problems.push(`${s.byzantine.length} Byzantine replicas, more than f = ${s.f}`);
  for (const x of s.faults) {
    if (!(x.startMs >= 0 && x.endMs > x.startMs && x.endMs <= s.durationMs)) problems.push(`fault ${x.id} at [${x.startMs}, ${x.endMs}] is outside the load`);
    if (!s.kinds.includes(x.spec.kind)) problems.push(`fault ${x.id} is a ${x.spec.kind}, not in the nemesis list`);
    if (x.spec.kind === 'byzantine' && !s.byzantine.includes(x.spec.replicas[0]))
      problems.push(`fault ${x.id}: replica ${x.spec.replicas[0]} is not Byzantine in this run`);
    if (x.spec.replicas.some((r) => r < 0 || r >= s.n)) problems.push(`fault ${x.id} names a replica outside 0..${s.n - 1}`);
  }
  const sorted = [...s.faults].sort((a, b) => a.startMs - b.startMs);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i]!.startMs - sorted[i - 1]!.startMs < s.periodMs * 0.75 - 1)
      problems.push(`faults ${sorted[i - 1]!.id} and ${sorted[i]!.id} start less than a period apart`);
  for (const x of sorted) {
    const inForce = sorted.filter((y) => y.startMs <= x.startMs && y.endMs > x.startMs);
    if (inForce.length > s.overlap) problems.push(`${inForce.length} faults in force at ${x.startMs} ms, more than overlap ${s.overlap}`);
    const byz = inForce.filter((y) => y.spec.kind === 'byzantine').flatMap((y) => y.spec.replicas);
    if (new Set(byz).size > s.f) problems.push(`${new Set(byz).size} Byzantine replicas at ${x.startMs} ms, more than f = ${s.f}`);
    const seen = new Set<number>();
    for (const y of inForce)
      for (const r of y.spec.replicas) {
        if (seen.has(r)) problems.push(`replica ${r} carries two faults at ${x.startMs} ms`);
        seen.add(r);
      }
  }
  return problems;
}

/** The most replicas taken down (crashed, stopped, paused, or cut off) at once by the schedule. */
export function maxDownAtOnce(s: Schedule): number {
  let most = 0;
  for (const x of s.faults) {
    const down = s.faults.filter((y) => y.startMs <= x.startMs && y.endMs > x.startMs && takesDown(y.spec)).flatMap((y) => y.spec.replicas);
    most = Math.max(most, new Set(down).size);
  }
  return most;
}

/** Parse a nemesis list: names separated by commas, or "all". */
export function parseNemesisList(s: string): NemesisKind[] {
  const words = s
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w !== '');
  if (words.length === 0) throw new RangeError('the nemesis list is empty');
  if (words.length === 1 && words[0] === 'all') return [...NEMESIS_KINDS];
  if (words.length === 1 && words[0] === 'none') return [];
  const bad = words.filter((w) => !isNemesisKind(w));
  if (bad.length > 0) throw new RangeError(`unknown nemesis ${bad.map((b) => `"${b}"`).join(', ')} (known: ${NEMESIS_KINDS.join(', ')}, or all, or none)`);
  return [...new Set(words as NemesisKind[])];
}
