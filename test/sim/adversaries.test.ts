/**
 * The simulator's adversaries (src/sim/adversary.ts): each is deterministic (a seed is one
 * run), each actually attacks (its counters move), and a budget of seeds per adversary passes
 * every invariant on the honest core. A failing seed is printed with its replay command: it
 * may be a real core bug, so the adversary is never weakened to make it pass.
 *
 * CPU: about a minute on one core (the budget dominates; it prints seeds/s per adversary).
 */
import { describe, expect, it } from 'vitest';
import { STRATEGY_NAMES } from '../../src/byzantine/index.js';
import { ADVERSARY_NAMES, FUZZ_AVAILABLE, FUZZ_STRATEGY, type AdversaryName } from '../../src/sim/adversary.js';
import { BYZ_CLIENT_KINDS } from '../../src/sim/byzclients.js';
import { formatFailure, runSeeds, type SimSummary } from '../../src/sim/runner.js';
import { simulate } from '../../src/sim/simulator.js';

/** seeds per adversary: n = 4 and n = 7 */
const BUDGET: Record<Exclude<AdversaryName, 'catalogue'>, { n4: number; n7: number }> = {
  fuzz: { n4: 80, n7: 12 },
  twins: { n4: 120, n7: 20 },
  clients: { n4: 80, n7: 12 },
  cuts: { n4: 80, n7: 16 },
};
const FROM_SEED = 0;

function sum(s: SimSummary, a: AdversaryName, key: string): number {
  return s.byAdversary[a]?.counters[key] ?? 0;
}

/** a chunk of seeds at a time, yielding in between (the worker answers vitest's RPC meanwhile) */
const CHUNK = 10;

async function budget(a: AdversaryName, n: number, seeds: number): Promise<SimSummary> {
  let s: SimSummary | undefined;
  const wall0 = performance.now();
  for (let from = FROM_SEED; from < FROM_SEED + seeds; from += CHUNK) {
    await new Promise((resolve) => setImmediate(resolve));
    // clients also run with the catalogue's Byzantine replicas (every strategy, and none)
    const c = runSeeds({
      seeds: Math.min(CHUNK, FROM_SEED + seeds - from),
      fromSeed: from,
      replicas: [n],
      adversary: [a],
      byzantine: ['none', ...STRATEGY_NAMES],
    });
    s = s ? merge(s, c) : c;
  }
  s!.wallMs = performance.now() - wall0;
  s!.seedsPerSec = s!.runs / Math.max(1e-9, s!.wallMs / 1000);
  const cpuS = s!.cpuMs / 1000;
  console.log(
    `adversary ${a}, n=${n}: ${s!.runs} seeds, ${s!.failed} failed, ${s!.committedRequests} committed, ${s!.viewChanges} view changes; ` +
      `${cpuS.toFixed(1)} CPU-s, ${s!.seedsPerSec.toFixed(1)} seeds/s (${(s!.runs / Math.max(1e-9, cpuS)).toFixed(1)} per CPU-s)`,
  );
  console.log(`  did: ${JSON.stringify(Object.fromEntries(Object.entries(s!.byAdversary[a]?.counters ?? {}).filter(([k]) => !k.includes(':'))))}`);
  return s!;
}

/** what these tests read of two summaries, added up (seed ranges of one configuration) */
function merge(x: SimSummary, y: SimSummary): SimSummary {
  const byAdversary = { ...x.byAdversary };
  for (const [name, b] of Object.entries(y.byAdversary)) {
    const a = byAdversary[name] ?? { runs: 0, failed: 0, counters: {} };
    const counters = { ...a.counters };
    for (const [k, v] of Object.entries(b.counters)) counters[k] = (counters[k] ?? 0) + v;
    byAdversary[name] = { runs: a.runs + b.runs, failed: a.failed + b.failed, counters };
  }
  return {
    ...x,
    runs: x.runs + y.runs,
    passed: x.passed + y.passed,
    failed: x.failed + y.failed,
    committedRequests: x.committedRequests + y.committedRequests,
    viewChanges: x.viewChanges + y.viewChanges,
    cpuMs: x.cpuMs + y.cpuMs,
    failures: [...x.failures, ...y.failures],
    byAdversary,
  };
}

function expectNoFailures(s: SimSummary): void {
  const report = s.failures.map((r) => formatFailure({ ...r, trace: r.trace?.slice(-40) })).join('\n\n');
  if (s.failed > 0)
    console.log(
      `failing seeds:\n${s.failures.map((r) => `  ${r.replay}  [${[...new Set(r.violations.map((v) => v.invariant))].join(', ')}] ${r.violations[0]?.message.slice(0, 200)}`).join('\n')}`,
    );
  expect(s.failed, report).toBe(0);
}

describe('adversaries: determinism', () => {
  const cases: { adversary: AdversaryName; seed: number; n: number }[] = [
    { adversary: 'fuzz', seed: 3, n: 4 },
    { adversary: 'twins', seed: 5, n: 4 },
    { adversary: 'twins', seed: 8, n: 7 },
    { adversary: 'clients', seed: 4, n: 4 },
    { adversary: 'cuts', seed: 2, n: 4 },
  ];
  for (const c of cases) {
    it(`${c.adversary}, seed ${c.seed}, n=${c.n}: two runs are identical`, () => {
      const o = { seed: c.seed, n: c.n, adversary: c.adversary, byzantine: c.adversary === 'clients' ? (['replay'] as const) : [], fullTrace: true };
      const a = simulate({ ...o, byzantine: [...o.byzantine] });
      const b = simulate({ ...o, byzantine: [...o.byzantine] });
      expect(a.fullTrace!.length).toBeGreaterThan(100);
      expect(b.fullTrace).toEqual(a.fullTrace);
      expect(b.stats).toEqual(a.stats);
      expect(b.fingerprint).toBe(a.fingerprint);
      expect(b.violations).toEqual(a.violations);
      expect(a.adversary).toBe(c.adversary);
      expect(a.replay).toContain(`--adversary ${c.adversary}`);
      // the adversary changes the run: not the catalogue run of the same seed
      expect(simulate({ seed: c.seed, n: c.n }).fingerprint).not.toBe(a.fingerprint);
    });
  }

  it('the default adversary is the catalogue, and the catalogue run is the one from before adversaries', () => {
    const a = simulate({ seed: 9, n: 4, byzantine: ['equivocate'] });
    const b = simulate({ seed: 9, n: 4, byzantine: ['equivocate'], adversary: 'catalogue' });
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(a.adversary).toBe('catalogue');
    expect(a.twins).toEqual([]);
    expect(a.scenario).not.toContain('adversary');
  });

  it('without faults an adversary does nothing', () => {
    for (const adversary of ADVERSARY_NAMES) {
      const r = simulate({ seed: 1, n: 4, adversary, faults: false });
      expect(r.ok, adversary).toBe(true);
      expect(r.byzantine).toEqual([]);
      expect(r.twins).toEqual([]);
      expect(r.stats.adversary).toEqual({ name: adversary, counters: {} });
    }
  });
});

describe('adversaries: each one attacks, and a budget of seeds passes every invariant', () => {
  // one test per (adversary, n): each a few CPU-seconds, so the worker never blocks for long
  const run = (a: Exclude<AdversaryName, 'catalogue'>, n: 4 | 7): Promise<SimSummary> => budget(a, n, BUDGET[a][n === 4 ? 'n4' : 'n7']);

  for (const n of [4, 7] as const) {
    it(`fuzz, n=${n}: ${BUDGET.fuzz[n === 4 ? 'n4' : 'n7']} seeds`, { timeout: 300_000 }, async () => {
      const s = await run('fuzz', n);
      // every run's Byzantine replicas ran the fuzz strategy (or its stand-in until it exists)
      const r = simulate({ seed: 1, n, adversary: 'fuzz' });
      expect(r.byzantine.length).toBeGreaterThan(0);
      expect(r.byzantine.every((b) => b.strategy === FUZZ_STRATEGY)).toBe(true);
      expect(FUZZ_AVAILABLE, 'the catalogue has the fuzz strategy').toBe(true);
      expect(Object.keys(s.byAdversary.fuzz!.counters).filter((k) => k.startsWith(`${FUZZ_STRATEGY}:`)).length).toBeGreaterThan(0);
      expectNoFailures(s);
    });
  }

  for (const n of [4, 7] as const) {
    it(`twins, n=${n}: ${BUDGET.twins[n === 4 ? 'n4' : 'n7']} seeds`, { timeout: 300_000 }, async () => {
      const s = await run('twins', n);
      expect(sum(s, 'twins', 'twinned-replicas')).toBeGreaterThanOrEqual(s.runs);
      expect(sum(s, 'twins', 'phases')).toBeGreaterThan(s.runs);
      expect(sum(s, 'twins', 'split-deliveries')).toBeGreaterThan(0);
      expect(sum(s, 'twins', 'deliveries-to-both-twins')).toBeGreaterThan(0);
      expect(sum(s, 'twins', 'split-requests')).toBeGreaterThan(0);
      // twins are primaries: of view 0 or of a later view
      expect(sum(s, 'twins', 'twin-primary-views')).toBeGreaterThan(s.runs / 2);
      // at n = 7 some runs twin two replicas
      if (n === 7) expect(sum(s, 'twins', 'twinned-replicas')).toBeGreaterThan(s.runs);
      expectNoFailures(s);
    });
  }

  for (const n of [4, 7] as const) {
    it(`clients, n=${n}: ${BUDGET.clients[n === 4 ? 'n4' : 'n7']} seeds`, { timeout: 300_000 }, async () => {
      const s = await run('clients', n);
      if (n === 4) for (const kind of BYZ_CLIENT_KINDS) expect(sum(s, 'clients', kind), kind).toBeGreaterThan(0);
      expect(sum(s, 'clients', 'byzantine-clients')).toBeGreaterThanOrEqual(s.runs);
      expect(sum(s, 'clients', 'bursts')).toBeGreaterThan(s.runs);
      expectNoFailures(s);
    });
  }

  for (const n of [4, 7] as const) {
    it(`cuts, n=${n}: ${BUDGET.cuts[n === 4 ? 'n4' : 'n7']} seeds`, { timeout: 300_000 }, async () => {
      const s = await run('cuts', n);
      const did = (k: string) => sum(s, 'cuts', k);
      // (a) commits to one replica, a view change; in some runs it alone committed before it
      expect(did('commit-to-one')).toBeGreaterThan(0);
      expect(did('dropped-commits')).toBeGreaterThan(0);
      expect(did('commit-to-one-hit')).toBeGreaterThan(0);
      expect(did('isolations')).toBeGreaterThan(0);
      // (b) checkpoints straddle view changes
      expect(did('checkpoint-straddle')).toBeGreaterThan(0);
      expect(did('dropped-checkpoints') + did('delayed-checkpoints')).toBeGreaterThan(0);
      // (c) a correct replica crashed and restarted while f replicas were Byzantine
      expect(did('crash-restart')).toBeGreaterThan(0);
      const r = simulate({ seed: 1, n, adversary: 'cuts' });
      expect(r.byzantine.map((b) => b.strategy)).toEqual(Array(r.f).fill(FUZZ_STRATEGY));
      // (d) a straggler prepared alone
      expect(did('prepared-straggler')).toBeGreaterThan(0);
      expect(did('delayed-straggler')).toBeGreaterThan(0);
      expect(did('dropped-prepares')).toBeGreaterThan(0);
      // (e) a commit that only survived in durable logs: its holders restarted before the view change
      expect(did('restart-prepared')).toBeGreaterThan(0);
      expect(did('restart-prepared-hit')).toBeGreaterThan(0);
      expect(did('restart-prepared-restarts')).toBeGreaterThan(0);
      expectNoFailures(s);
    });
  }
});
