/**
 * Many seeds: `runSeeds` runs a range of seeds, spreading the requested replica counts and
 * Byzantine strategy sets across them deterministically (a seed always maps to the same
 * (n, strategy set)), and aggregates the results.
 *
 * Byzantine specs: a list of SETS. Each set is the strategies the Byzantine replicas of one run
 * use together ('none' = no Byzantine replica). On the command line sets are separated by
 * commas and the strategies of one set joined by '+': `--byzantine equivocate,replay+garbage`
 * runs half the seeds with equivocating replicas and half with replaying-and-garbage ones;
 * `all` is every strategy, one set each.
 *
 * Adversaries (src/sim/adversary.ts): a list of names, one per run, spread across seeds the same
 * way (`--adversary twins,cuts`; `all` = every one). `catalogue` and `clients` use the strategy
 * sets; the others ignore them.
 */
import { STRATEGY_NAMES, type StrategyName } from '../byzantine/index.js';
import { BUG_NAMES } from '../core/replica.js';
import { NODE_BUG_NAMES } from '../runtime/replica-node.js';
import { PbftError } from '../errors.js';
import { ADVERSARY_NAMES, isAdversaryName, usesStrategySets, type AdversaryName } from './adversary.js';
import { simulate, type SimBugName, type SimCrypto, type SimDriver, type SimOptions, type SimResult, type SimViolation } from './simulator.js';

export type StrategySet = readonly StrategyName[];
/** 'all' = every strategy (one set each); 'none' = no Byzantine replicas; or explicit items */
export type ByzantineSpec = 'all' | 'none' | readonly (StrategyName | StrategySet | 'none')[];

/** A bad simulator option (a PbftError with code BAD_ARGUMENT). */
export class SimSpecError extends PbftError {
  constructor(message: string) {
    super('BAD_ARGUMENT', message);
  }
}

/** Expand a spec into the list of strategy sets that seeds rotate through. */
export function strategySets(spec: ByzantineSpec): StrategySet[] {
  if (spec === 'none') return [[]];
  if (spec === 'all') return STRATEGY_NAMES.map((s) => [s]);
  if (spec.length === 0) return [[]];
  return spec.map((item) => (item === 'none' ? [] : typeof item === 'string' ? [item as StrategyName] : [...item]));
}

/** Parse the command-line form: `all`, `none`, or `a,b+c,none` (sets by comma, together by '+'). */
export function parseByzantineSpec(text: string): ByzantineSpec {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new SimSpecError('--byzantine needs a value: all, none, or strategy names (comma-separated; join with + to combine)');
  const out: (StrategySet | 'none')[] = [];
  for (const item of items) {
    if (item === 'all') {
      for (const s of STRATEGY_NAMES) out.push([s]);
      continue;
    }
    if (item === 'none') {
      out.push('none');
      continue;
    }
    const set: StrategyName[] = [];
    for (const name of item.split('+').map((s) => s.trim())) {
      if (!(STRATEGY_NAMES as readonly string[]).includes(name)) {
        throw new SimSpecError(`unknown Byzantine strategy "${name.slice(0, 40)}"; known: ${STRATEGY_NAMES.join(', ')} (or all, none)`);
      }
      if (!set.includes(name as StrategyName)) set.push(name as StrategyName);
    }
    out.push(set);
  }
  if (out.length === 1 && out[0] === 'none') return 'none';
  return out;
}

/** Parse `--adversary`: names separated by commas, or `all` (every adversary). */
export function parseAdversarySpec(text: string): AdversaryName[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new SimSpecError(`--adversary needs a value: all, or names (comma-separated): ${ADVERSARY_NAMES.join(', ')}`);
  const out: AdversaryName[] = [];
  for (const item of items) {
    const names = item === 'all' ? ADVERSARY_NAMES : [item];
    for (const name of names) {
      if (!isAdversaryName(name)) throw new SimSpecError(`unknown adversary "${name.slice(0, 40)}"; known: ${ADVERSARY_NAMES.join(', ')} (or all)`);
      if (!out.includes(name)) out.push(name);
    }
  }
  return out;
}

export interface RunSeedsOptions {
  /** how many seeds */
  seeds: number;
  /** the first seed */
  fromSeed: number;
  /** replica counts, spread across seeds (default [4]) */
  replicas?: readonly number[];
  byzantine?: ByzantineSpec;
  /** adversaries, spread across seeds (default ['catalogue']) */
  adversary?: readonly AdversaryName[];
  bugs?: readonly SimBugName[];
  crypto?: SimCrypto;
  /** drive the core (default) or the runtime node (src/sim/simulator.ts SimDriver) */
  driver?: SimDriver;
  faults?: boolean;
  storm?: boolean;
  livenessBoundMs?: number;
  /** stop after this many failing seeds (default: never) */
  maxFailures?: number;
  /** called after each seed */
  onProgress?(done: number, total: number, result: SimResult): void;
  /** checked between seeds */
  signal?: AbortSignal;
  /** extra options for every run (tests) */
  extra?: Partial<SimOptions>;
}

export interface SimSummary {
  runs: number;
  passed: number;
  failed: number;
  committedRequests: number;
  completedRequests: number;
  viewChanges: number;
  stateTransfers: number;
  crashes: number;
  restarts: number;
  /** storage faults found at restart (torn last records, corrupt logs) and recoveries completed */
  storage: { torn: number; corrupt: number; recovered: number };
  messagesSent: number;
  virtualMs: number;
  violations: number;
  /** violations by invariant */
  byInvariant: Record<string, number>;
  /**
   * runs per replica count, adversary and (for the adversaries that use them) strategy set,
   * e.g. "n=4 catalogue equivocate", "n=7 twins", "n=4 clients none"
   */
  byConfig: Record<string, { runs: number; failed: number }>;
  /** per adversary: runs, failures, and what it did (its counters, summed over its runs) */
  byAdversary: Record<string, { runs: number; failed: number; counters: Record<string, number> }>;
  failures: SimResult[];
  wallMs: number;
  cpuMs: number;
  seedsPerSec: number;
  /** simulated committed requests per second of CPU */
  committedPerCpuSec: number;
  /** true when stopped early (maxFailures or abort) */
  stoppedEarly: boolean;
}

/**
 * The (n, adversary, strategy set) a seed runs with: deterministic, covering every triple. With
 * one adversary it is the (n, strategy set) of the simulator before adversaries existed.
 */
export function configForSeed(
  seed: number,
  replicas: readonly number[],
  sets: readonly StrategySet[],
  adversaries: readonly AdversaryName[] = ['catalogue'],
): { n: number; adversary: AdversaryName; byzantine: StrategySet } {
  const n = replicas[seed % replicas.length]!;
  const rest = Math.floor(seed / replicas.length);
  const adversary = adversaries[rest % adversaries.length]!;
  const byzantine = sets[Math.floor(rest / adversaries.length) % sets.length]!;
  return { n, adversary, byzantine: usesStrategySets(adversary) ? byzantine : [] };
}

/** The byConfig key of a configuration: "n=4 catalogue equivocate", "n=4 twins". */
export function configKey(c: { n: number; adversary: AdversaryName; byzantine: StrategySet }): string {
  return `n=${c.n} ${c.adversary}${usesStrategySets(c.adversary) ? ` ${c.byzantine.length ? c.byzantine.join('+') : 'none'}` : ''}`;
}

export function parseBugName(s: string): SimBugName {
  if ((BUG_NAMES as readonly string[]).includes(s) || (NODE_BUG_NAMES as readonly string[]).includes(s)) return s as SimBugName;
  throw new SimSpecError(`unknown bug "${s.slice(0, 40)}"; known: ${[...BUG_NAMES, ...NODE_BUG_NAMES].join(', ')}`);
}

/** Parse replica counts: repeatable and/or comma-separated ("4,7"). */
export function parseReplicaCounts(values: readonly string[]): number[] {
  const out: number[] = [];
  for (const v of values) {
    for (const part of v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      const n = /^\d{1,3}$/.test(part) ? Number(part) : NaN;
      if (!(n >= 4 && n <= 64)) throw new SimSpecError(`--replicas must be integers from 4 to 64, got "${part.slice(0, 20)}"`);
      if (!out.includes(n)) out.push(n);
    }
  }
  return out;
}

export function validateRunOptions(o: RunSeedsOptions): void {
  if (!Number.isSafeInteger(o.seeds) || o.seeds < 1) throw new SimSpecError(`seeds must be a positive integer, got ${o.seeds}`);
  if (!Number.isSafeInteger(o.fromSeed) || o.fromSeed < 0) throw new SimSpecError(`the first seed must be a non-negative integer, got ${o.fromSeed}`);
  if (o.fromSeed + o.seeds > Number.MAX_SAFE_INTEGER) throw new SimSpecError('seed range too large');
  for (const n of o.replicas ?? [4]) {
    if (!Number.isSafeInteger(n) || n < 4 || n > 64) throw new SimSpecError(`replica counts must be integers from 4 to 64, got ${n}`);
  }
}

export function runSeeds(o: RunSeedsOptions): SimSummary {
  const it = seedRuns(o);
  for (;;) {
    const step = it.next();
    if (step.done) return step.value;
  }
}

/**
 * `runSeeds` that gives the event loop a turn every `yieldEvery` seeds: long searches in a test
 * worker (or next to a server) then never block it for more than a few seeds.
 */
export async function runSeedsAsync(o: RunSeedsOptions & { yieldEvery?: number }): Promise<SimSummary> {
  const every = Math.max(1, o.yieldEvery ?? 5);
  const it = seedRuns(o);
  for (let i = 1; ; i++) {
    const step = it.next();
    if (step.done) return step.value;
    if (i % every === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The seeds of a run one by one (yields after each), returning the summary. */
function* seedRuns(o: RunSeedsOptions): Generator<void, SimSummary, void> {
  validateRunOptions(o);
  const replicas = o.replicas?.length ? o.replicas : [4];
  const sets = strategySets(o.byzantine ?? 'none');
  const adversaries = o.adversary?.length ? o.adversary : (['catalogue'] as const);
  const s: SimSummary = {
    runs: 0,
    passed: 0,
    failed: 0,
    committedRequests: 0,
    completedRequests: 0,
    viewChanges: 0,
    stateTransfers: 0,
    crashes: 0,
    restarts: 0,
    storage: { torn: 0, corrupt: 0, recovered: 0 },
    messagesSent: 0,
    virtualMs: 0,
    violations: 0,
    byInvariant: {},
    byConfig: {},
    byAdversary: {},
    failures: [],
    wallMs: 0,
    cpuMs: 0,
    seedsPerSec: 0,
    committedPerCpuSec: 0,
    stoppedEarly: false,
  };
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < o.seeds; i++) {
    if (o.signal?.aborted || (o.maxFailures !== undefined && s.failed >= o.maxFailures)) {
      s.stoppedEarly = true;
      break;
    }
    const seed = o.fromSeed + i;
    const cfg = configForSeed(seed, replicas, sets, adversaries);
    const r = simulate({
      seed,
      n: cfg.n,
      byzantine: cfg.byzantine,
      adversary: cfg.adversary,
      bugs: o.bugs,
      crypto: o.crypto,
      driver: o.driver,
      faults: o.faults,
      storm: o.storm,
      livenessBoundMs: o.livenessBoundMs,
      ...o.extra,
    });
    s.runs++;
    s.committedRequests += r.stats.committedRequests;
    s.completedRequests += r.stats.completedRequests;
    s.viewChanges += r.stats.viewChanges;
    s.stateTransfers += r.stats.stateTransfers;
    s.crashes += r.stats.crashes;
    s.restarts += r.stats.restarts;
    s.storage.torn += r.stats.storage.torn;
    s.storage.corrupt += r.stats.storage.corrupt;
    s.storage.recovered += r.stats.storage.recovered;
    s.messagesSent += r.stats.messagesSent;
    s.virtualMs += r.stats.virtualMs;
    const key = configKey(cfg);
    s.byConfig[key] ??= { runs: 0, failed: 0 };
    const c = s.byConfig[key];
    c.runs++;
    s.byAdversary[cfg.adversary] ??= { runs: 0, failed: 0, counters: {} };
    const a = s.byAdversary[cfg.adversary];
    a.runs++;
    for (const [k, v] of Object.entries(r.stats.adversary.counters)) a.counters[k] = (a.counters[k] ?? 0) + v;
    if (r.ok) s.passed++;
    else {
      s.failed++;
      c.failed++;
      a.failed++;
      s.failures.push(r);
      s.violations += r.violations.length;
      for (const v of r.violations) s.byInvariant[v.invariant] = (s.byInvariant[v.invariant] ?? 0) + 1;
    }
    o.onProgress?.(s.runs, o.seeds, r);
    yield;
  }
  s.wallMs = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  s.cpuMs = (cpu.user + cpu.system) / 1000;
  s.seedsPerSec = s.runs / Math.max(1e-9, s.wallMs / 1000);
  s.committedPerCpuSec = s.committedRequests / Math.max(1e-9, s.cpuMs / 1000);
  return s;
}

/** A readable report of one failing run: seed, violations, replay command, trace. */
export function formatFailure(r: SimResult, o: { trace: boolean } = { trace: true }): string {
  const lines: string[] = [];
  const twins = r.twins.length ? `, twins: r${r.twins.join(',r')}` : '';
  lines.push(
    `seed ${r.seed} (n=${r.n}, adversary ${r.adversary}, byzantine: ${r.byzantine.map((b) => `r${b.replica}=${b.strategy}`).join(' ') || 'none'}${twins}): ${r.violations.length} violation(s)`,
  );
  for (const v of r.violations.slice(0, 20)) lines.push(`  [${v.invariant}] ${describeViolation(v)}`);
  if (r.violations.length > 20) lines.push(`  ... and ${r.violations.length - 20} more`);
  lines.push(`  replay: ${r.replay}`);
  lines.push(`  scenario: ${r.scenario}`);
  if (o.trace && r.trace) {
    lines.push(`  trace (last ${r.trace.length} events):`);
    for (const t of r.trace) lines.push(`    ${t}`);
  }
  return lines.join('\n');
}

function describeViolation(v: SimViolation): string {
  const where = [
    v.replica !== undefined ? `replica ${v.replica}` : '',
    v.seq !== undefined ? `seq ${v.seq}` : '',
    v.timeMs !== undefined ? `at ${v.timeMs.toFixed(1)}ms` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return where ? `${v.message} (${where})` : v.message;
}
