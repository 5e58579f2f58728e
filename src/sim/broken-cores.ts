/**
 * The broken-core table: every deliberately broken core (BUG_NAMES, src/core/replica.ts) must be
 * caught by the GENERAL adversaries (the fuzzer, Twins, the cut scheduler, Byzantine clients),
 * never by a strategy written for that bug, within a stated number of seeds, and by a safety or
 * liveness invariant. The seed that catches it must pass with the honest core, so that it is
 * the bug that was caught and not noise.
 *
 * `searchBrokenCore` runs one case; test/sim/bugs.test.ts runs them all in CI and
 * bench/broken-cores.ts prints the table the README shows.
 */
import { BUG_DESCRIPTIONS, type BugName } from '../core/replica.js';
import { NODE_BUG_DESCRIPTIONS, type NodeBugName } from '../runtime/replica-node.js';
import type { AdversaryName } from './adversary.js';
import { runSeedsAsync } from './runner.js';
import { simulate, type SimResult } from './simulator.js';

/** Invariants that count as catching a bug (an exception is a crash of the core, not a catch). */
export const CATCHING_INVARIANTS: ReadonlySet<string> = new Set([
  'agreement',
  'qcertified',
  'total-order',
  'checkpoint-agreement',
  'validity',
  'linearizability',
  'state-agreement',
  'view-change-safety',
  'no-equivocation',
  'new-view-validity',
  'bounded-memory',
  'liveness',
]);

/** The general adversaries, rotated across seeds. */
export const GENERAL_ADVERSARIES: readonly AdversaryName[] = ['fuzz', 'twins', 'cuts', 'clients'];

export interface BrokenCoreCase {
  bug: BugName;
  /** most seeds searched; set from measurement with a margin (see the measured note) */
  bound: number;
  replicas: readonly number[];
  adversaries: readonly AdversaryName[];
  /** force storm scenarios (lossy network, tight timeouts) */
  storm?: boolean;
  /** what was measured when the bound was set */
  measured: string;
  /** not caught yet by any general adversary within the bound: a known gap, reported as such */
  knownGap?: string;
}

export const BROKEN_CORE_CASES: readonly BrokenCoreCase[] = [
  { bug: 'commit-on-2f', bound: 30, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 0 (n=4 fuzz), qcertified' },
  { bug: 'execute-out-of-order', bound: 30, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 0 (n=4 fuzz), total-order' },
  {
    bug: 'skip-pre-prepare-digest-check',
    bound: 410,
    replicas: [4, 7],
    adversaries: GENERAL_ADVERSARIES,
    measured: "seed 136 (n=4 fuzz), liveness (seed 33 by n=7 fuzz before session 17's batch-hold window, which changed every schedule)",
  },
  { bug: 'new-view-lowest-view', bound: 258, replicas: [4], adversaries: GENERAL_ADVERSARIES, storm: true, measured: 'seed 34 (n=4 cuts), new-view-validity' },
  { bug: 'new-view-count-only', bound: 30, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 8 (n=4 fuzz), new-view-validity' },
  { bug: 'checkpoint-evict-lowest', bound: 87, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 29 (n=7 cuts), bounded-memory' },
  {
    bug: 'new-primary-stale-next-seq',
    bound: 1656,
    replicas: [4, 7],
    adversaries: GENERAL_ADVERSARIES,
    measured: 'seed 340 (n=4 cuts), no-equivocation (session 17; seed 552 by n=4 fuzz before)',
  },
  { bug: 'pre-prepare-outside-window', bound: 33, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 10 (n=4 twins), bounded-memory' },
  { bug: 'accept-conflicting-pre-prepare', bound: 30, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 5 (n=7 cuts), no-equivocation' },
  { bug: 'new-view-too-few-view-changes', bound: 147, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 8 (n=4 fuzz), new-view-validity' },
  {
    bug: 'state-no-digest-check',
    bound: 42,
    replicas: [4, 7],
    adversaries: GENERAL_ADVERSARIES,
    measured: 'seed 17 (n=7 fuzz), agreement, state-agreement (session 17; seed 13 by n=7 cuts before)',
  },
  { bug: 'view-change-timeout-no-double', bound: 30, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 6 (n=4 clients), liveness' },
  { bug: 'view-change-skip-cert-check', bound: 138, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 13 (n=7 cuts), new-view-validity' },
  { bug: 'catch-up-skip-cert-check', bound: 30, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 8 (n=4 fuzz), agreement, validity' },
  {
    bug: 'restart-forget-prepared',
    bound: 1150,
    replicas: [4, 7],
    adversaries: GENERAL_ADVERSARIES,
    measured: 'seed 404 (n=4 cuts), view-change-safety (seed 382 by clients before MAC authenticators)',
  },
  { bug: 'execute-on-prepared', bound: 30, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 0 (n=4 fuzz), qcertified' },
  {
    bug: 'skip-client-signature-check',
    bound: 1890,
    replicas: [4, 7],
    adversaries: GENERAL_ADVERSARIES,
    measured: 'seed 629 (n=7 cuts), validity (seed 312 by fuzz, liveness, before MAC authenticators)',
  },
  { bug: 'execute-duplicate-request', bound: 30, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 0 (n=4 fuzz), validity' },
  { bug: 'prepare-quorum-short', bound: 30, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 1 (n=7 fuzz), liveness' },
  { bug: 'recovery-skipped', bound: 138, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 46 (n=4 clients), no-equivocation' },
  { bug: 'view-change-last-view-only', bound: 54, replicas: [4, 7], adversaries: GENERAL_ADVERSARIES, measured: 'seed 18 (n=4 twins), view-change-safety' },
  {
    bug: 'snapshot-current-state',
    bound: 285,
    replicas: [4, 7],
    adversaries: GENERAL_ADVERSARIES,
    measured: 'seed 43 (n=7 twins), agreement (session 17; seed 95 by n=7 clients before)',
  },
  {
    bug: 'light-checkpoint-as-full',
    bound: 30,
    replicas: [4, 7],
    adversaries: GENERAL_ADVERSARIES,
    measured: 'seed 6 (n=4 clients), total-order, agreement (session 17; seed 7 by n=7 clients before)',
  },
];

/**
 * Broken NODES (NODE_BUG_NAMES, src/runtime/replica-node.ts): the driver, not the core, is
 * wrong. Searched under the node driver (`driver: 'node'`), with the same rules.
 */
export interface BrokenNodeCase extends Omit<BrokenCoreCase, 'bug'> {
  bug: NodeBugName;
  driver: 'node';
}

export const BROKEN_NODE_CASES: readonly BrokenNodeCase[] = [
  {
    bug: 'send-before-persist',
    driver: 'node',
    bound: 60,
    replicas: [4],
    adversaries: GENERAL_ADVERSARIES,
    measured: 'seed 19 (n=4 clients), no-equivocation; with n = 4 and 7 rotated: seed 54 (n=4 clients)',
  },
];

export interface BrokenCoreResult {
  bug: BugName | NodeBugName;
  description: string;
  caught: boolean;
  /** seeds run until caught (or the bound) */
  searched: number;
  bound: number;
  seed?: number;
  n?: number;
  adversary?: string;
  /** the invariants that failed on the catching seed */
  invariants: string[];
  /** the catching seed passes with the honest core */
  honestPasses?: boolean;
  replay?: string;
  cpuMs: number;
  failure?: SimResult;
}

/** Search seeds 0.. for the first run the bug fails, then check that seed with the honest core. */
export async function searchBrokenCore(
  c: BrokenCoreCase | BrokenNodeCase,
  opts: { bound?: number; fromSeed?: number; driver?: 'core' | 'node' } = {},
): Promise<BrokenCoreResult> {
  const bound = opts.bound ?? c.bound;
  const driver = opts.driver ?? ('driver' in c ? c.driver : undefined);
  const s = await runSeedsAsync({
    driver,
    seeds: bound,
    fromSeed: opts.fromSeed ?? 0,
    bugs: [c.bug],
    replicas: c.replicas,
    adversary: c.adversaries,
    byzantine: 'none',
    storm: c.storm,
    maxFailures: 1,
  });
  const description = 'driver' in c ? NODE_BUG_DESCRIPTIONS[c.bug] : BUG_DESCRIPTIONS[c.bug];
  const base: BrokenCoreResult = { bug: c.bug, description, caught: false, searched: s.runs, bound, invariants: [], cpuMs: s.cpuMs };
  const r = s.failures[0];
  if (!r) return base;
  const invariants = [...new Set(r.violations.map((v) => v.invariant))];
  const honest = simulate({ seed: r.seed, n: r.n, adversary: r.adversary, byzantine: [], storm: c.storm, driver });
  return {
    ...base,
    caught: invariants.some((i) => CATCHING_INVARIANTS.has(i)),
    seed: r.seed,
    n: r.n,
    adversary: r.adversary,
    invariants,
    honestPasses: honest.ok,
    replay: r.replay,
    failure: r,
  };
}

/** The README's table, in Markdown. */
export function formatBrokenCoreTable(rows: readonly BrokenCoreResult[]): string {
  const lines = ['| Broken core | What is wrong | Caught by adversary | At seed (of a bound) | Caught by checker |', '|---|---|---|---|---|'];
  for (const r of rows) {
    const at = r.caught ? `${r.seed} (n=${r.n}; bound ${r.bound})` : `not caught in ${r.searched}`;
    lines.push(`| \`${r.bug}\` | ${r.description} | ${r.adversary ?? '-'} | ${at} | ${r.invariants.join(', ') || '-'} |`);
  }
  return lines.join('\n');
}
