/**
 * The library behind `pbft sim` (argument parsing, seed -> configuration, summaries), and the
 * built command itself when dist/ exists (npm test builds it first).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { STRATEGY_NAMES } from '../../src/byzantine/index.js';
import { ADVERSARY_NAMES } from '../../src/sim/adversary.js';
import {
  configForSeed,
  configKey,
  formatFailure,
  parseAdversarySpec,
  parseByzantineSpec,
  parseReplicaCounts,
  runSeeds,
  strategySets,
} from '../../src/sim/runner.js';
import { simulate } from '../../src/sim/simulator.js';
import { benchSim, formatBench } from '../../src/sim/bench.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = existsSync(join(root, 'dist', 'cli', 'commands', 'sim.js')) && existsSync(join(root, 'bin', 'run.js'));

describe('--byzantine and --replicas parsing', () => {
  it('parses all, none, lists and combinations', () => {
    expect(parseByzantineSpec('none')).toBe('none');
    expect(strategySets(parseByzantineSpec('all'))).toEqual(STRATEGY_NAMES.map((s) => [s]));
    expect(strategySets(parseByzantineSpec('none,all'))).toEqual([[], ...STRATEGY_NAMES.map((s) => [s])]);
    expect(strategySets(parseByzantineSpec('equivocate, replay+garbage'))).toEqual([['equivocate'], ['replay', 'garbage']]);
    expect(strategySets(parseByzantineSpec('replay+replay'))).toEqual([['replay']]);
  });
  it('rejects unknown names and empty values with a clear error', () => {
    expect(() => parseByzantineSpec('equivocate,nonsense')).toThrow(/unknown Byzantine strategy "nonsense"/);
    expect(() => parseByzantineSpec(' , ')).toThrow(/needs a value/);
    expect(() => parseReplicaCounts(['4,x'])).toThrow(/from 4 to 64/);
    expect(() => parseReplicaCounts(['3'])).toThrow(/from 4 to 64/);
    expect(() => parseReplicaCounts(['65'])).toThrow(/from 4 to 64/);
    expect(parseReplicaCounts(['4,7', '7', '10'])).toEqual([4, 7, 10]);
  });
  it('rejects bad seed ranges', () => {
    expect(() => runSeeds({ seeds: 0, fromSeed: 0 })).toThrow(/positive/);
    expect(() => runSeeds({ seeds: 1, fromSeed: -1 })).toThrow(/non-negative/);
    expect(() => runSeeds({ seeds: 1, fromSeed: 0, replicas: [3] })).toThrow(/from 4 to 64/);
  });
});

describe('seed -> configuration', () => {
  it('covers every (n, strategy set) pair and maps a single choice to itself (replay)', () => {
    const sets = strategySets('all');
    const seen = new Set<string>();
    for (let s = 100; s < 100 + 2 * sets.length; s++) {
      const c = configForSeed(s, [4, 7], sets);
      seen.add(`${c.n}/${c.byzantine.join('+')}`);
    }
    expect(seen.size).toBe(2 * sets.length);
    for (const s of [0, 5, 12345])
      expect(configForSeed(s, [7], [['replay', 'garbage']])).toEqual({ n: 7, adversary: 'catalogue', byzantine: ['replay', 'garbage'] });
  });
  it('a failing seed replays from its command line: same configuration, same run', () => {
    const s = runSeeds({ seeds: 3, fromSeed: 40, replicas: [4, 7], byzantine: 'all', bugs: ['commit-on-2f'] });
    expect(s.failed).toBe(3);
    for (const r of s.failures) {
      const m = /--seed (\d+) --replicas (\d+) --byzantine (\S+)/.exec(r.replay)!;
      const again = simulate({ seed: Number(m[1]), n: Number(m[2]), byzantine: m[3] === 'none' ? [] : (m[3]!.split('+') as never), bugs: ['commit-on-2f'] });
      expect(again.fingerprint).toBe(r.fingerprint);
      expect(again.violations).toEqual(r.violations);
      expect(formatFailure(r)).toContain(r.replay);
    }
  });
  it('summarises runs, requests, view changes, state transfers and speed', () => {
    const s = runSeeds({ seeds: 6, fromSeed: 0, replicas: [4], byzantine: 'none' });
    expect(s.runs).toBe(6);
    expect(s.passed + s.failed).toBe(6);
    expect(s.committedRequests).toBeGreaterThan(0);
    expect(s.seedsPerSec).toBeGreaterThan(0);
    expect(s.committedPerCpuSec).toBeGreaterThan(0);
  });
});

describe('--adversary', () => {
  it('parses names, all, lists; rejects unknown names and empty values', () => {
    expect(parseAdversarySpec('all')).toEqual([...ADVERSARY_NAMES]);
    expect(parseAdversarySpec('twins, cuts')).toEqual(['twins', 'cuts']);
    expect(parseAdversarySpec('clients,clients,all')).toEqual(['clients', ...ADVERSARY_NAMES.filter((a) => a !== 'clients')]);
    expect(parseAdversarySpec('catalogue')).toEqual(['catalogue']);
    expect(() => parseAdversarySpec('twins,nope')).toThrow(/unknown adversary "nope"/);
    expect(() => parseAdversarySpec(' , ')).toThrow(/needs a value/);
  });

  it('spreads adversaries across seeds: every (n, adversary, set) triple; one adversary = the old mapping', () => {
    const sets = strategySets(parseByzantineSpec('none,equivocate'));
    const advs = parseAdversarySpec('all');
    const seen = new Set<string>();
    for (let s = 7; s < 7 + 2 * advs.length * sets.length; s++) seen.add(configKey(configForSeed(s, [4, 7], sets, advs)));
    // the adversaries that ignore strategy sets have one key per n
    const expected = [4, 7].flatMap((n) =>
      advs.flatMap((a) => (a === 'catalogue' || a === 'clients' ? ['none', 'equivocate'].map((b) => `n=${n} ${a} ${b}`) : [`n=${n} ${a}`])),
    );
    expect([...seen].sort()).toEqual([...new Set(expected)].sort());
    const all = strategySets('all');
    for (let s = 0; s < 40; s++) {
      const old = configForSeed(s, [4, 7], all);
      expect(configForSeed(s, [4, 7], all, ['catalogue'])).toEqual(old);
      expect(old.adversary).toBe('catalogue');
    }
    expect(configForSeed(3, [4], [['replay']], ['twins'])).toEqual({ n: 4, adversary: 'twins', byzantine: [] });
  });

  it('byConfig and byAdversary name the adversary; what each did is counted', () => {
    const s = runSeeds({ seeds: 4, fromSeed: 20, replicas: [4], adversary: ['twins', 'clients'], byzantine: 'none' });
    expect(Object.keys(s.byConfig).sort()).toEqual(['n=4 clients none', 'n=4 twins']);
    expect(Object.keys(s.byAdversary).sort()).toEqual(['clients', 'twins']);
    expect(s.byAdversary.twins!.runs).toBe(2);
    expect(s.byAdversary.twins!.counters['split-deliveries']).toBeGreaterThan(0);
    expect(s.byAdversary.clients!.counters.bursts).toBeGreaterThan(0);
  });

  it('a failing seed of any adversary replays from its command line: same configuration, same run', () => {
    const s = runSeeds({ seeds: 8, fromSeed: 60, replicas: [4, 7], adversary: parseAdversarySpec('all'), byzantine: 'all', bugs: ['commit-on-2f'] });
    expect(s.failed).toBeGreaterThan(4);
    expect(new Set(s.failures.map((r) => r.adversary)).size).toBeGreaterThan(3);
    for (const r of s.failures) {
      const m = /^pbft sim --seed (\d+) --replicas (\d+) --byzantine (\S+) --adversary (\S+) --bug commit-on-2f --trace$/.exec(r.replay)!;
      expect(m, r.replay).not.toBeNull();
      expect(m[4]).toBe(r.adversary);
      // what `pbft sim` does with that command line: one seed, that configuration
      const again = runSeeds({
        seeds: 1,
        fromSeed: Number(m[1]),
        replicas: parseReplicaCounts([m[2]!]),
        byzantine: parseByzantineSpec(m[3]!),
        adversary: parseAdversarySpec(m[4]!),
        bugs: ['commit-on-2f'],
      });
      expect(again.failures[0]!.fingerprint).toBe(r.fingerprint);
      expect(again.failures[0]!.violations).toEqual(r.violations);
      expect(formatFailure(r)).toContain(`adversary ${r.adversary}`);
    }
  });
});

describe('sim --bench', () => {
  it('measures only the seeds asked for, after the warm-up seeds (which are run and checked)', () => {
    const spec = { replicas: [4], byzantine: 'none' as const, adversary: ['catalogue' as const] };
    let progress = 0;
    const r = benchSim({ seeds: 3, fromSeed: 40, warmupSeeds: 2, ...spec, onProgress: () => progress++ });
    expect(progress).toBe(5);
    expect(r.rows).toHaveLength(1);
    const row = r.rows[0]!;
    expect(row).toMatchObject({ seeds: 3, failed: 0, warmupSeeds: 2, warmupFailed: 0 });
    // the measured figures are those of seeds 40..42 alone: not the warm-up's (43, 44)
    const measured = runSeeds({ seeds: 3, fromSeed: 40, ...spec });
    const warm = runSeeds({ seeds: 2, fromSeed: 43, ...spec });
    expect(measured.committedRequests + warm.committedRequests).toBeGreaterThan(measured.committedRequests);
    expect(row.committedRequests).toBe(measured.committedRequests);
    expect(formatBench(r)).toMatch(/after 2 unmeasured warm-up seeds per configuration/);
    const cold = benchSim({ seeds: 1, fromSeed: 40, warmupSeeds: 0, ...spec });
    expect(cold.rows[0]).toMatchObject({ seeds: 1, warmupSeeds: 0 });
    expect(formatBench(cold)).toMatch(/from a cold start/);
  });
});

describe.skipIf(!built)('pbft sim (built CLI)', () => {
  const run = (args: string[]) => execa('node', [join(root, 'bin', 'run.js'), 'sim', ...args], { reject: false, env: { NO_COLOR: '1' } });

  it('passing seeds: summary and exit 0', async () => {
    const r = await run(['--seeds', '3', '--byzantine', 'none', '--no-storm']);
    expect(r.stdout).toMatch(/adversary: catalogue, fuzz, twins, clients, cuts/); // the default: all
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/runs +3 +\(3 passed, 0 failed\)/);
    expect(r.stdout).toMatch(/view changes/);
    expect(r.stdout).toMatch(/state transfers/);
    expect(r.stdout).toMatch(/seeds\/s/);
  });

  it('--json on a violation: the failing seed with its replay command, exit 1', async () => {
    const r = await run(['--seed', '3', '--byzantine', 'none', '--adversary', 'catalogue', '--bug', 'commit-on-2f', '--json']);
    expect(r.exitCode).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.failed).toBe(1);
    expect(j.failures[0].seed).toBe(3);
    expect(j.failures[0].replay).toBe('pbft sim --seed 3 --replicas 4 --byzantine none --adversary catalogue --bug commit-on-2f --trace');
    expect(j.failures[0].violations.some((v: { invariant: string }) => v.invariant === 'qcertified')).toBe(true);
  });

  it('a violation in human form: seed, violations, replay, trace; exit 1', async () => {
    const r = await run(['--seed', '3', '--adversary', 'catalogue', '--bug', 'commit-on-2f']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/seed 3 .*violation/);
    expect(r.stdout).toMatch(/\[qcertified\]/);
    expect(r.stdout).toContain('replay: pbft sim --seed 3');
    expect(r.stdout).toMatch(/trace \(last \d+ events\)/);
  });

  it('--adversary: runs each adversary, says what it did, replays with it', async () => {
    const r = await run(['--seeds', '2', '--seed', '30', '--adversary', 'twins,cuts', '--json']);
    expect([0, 1]).toContain(r.exitCode);
    const j = JSON.parse(r.stdout);
    expect(j.runs).toBe(2);
    expect(Object.keys(j.byAdversary).sort()).toEqual(['cuts', 'twins']);
    expect(Object.keys(j.byConfig).sort()).toEqual(['n=4 cuts', 'n=4 twins']);
    expect(j.byAdversary.twins.counters.phases).toBeGreaterThan(0);
    const f = await run(['--seed', '3', '--adversary', 'clients', '--byzantine', 'none', '--bug', 'commit-on-2f']);
    expect(f.exitCode).toBe(1);
    expect(f.stdout).toMatch(/adversary: clients; byzantine: none/);
    expect(f.stdout).toMatch(/adversary clients +1 runs, 1 failed; byzantine-clients \d/);
    expect(f.stdout).toMatch(/seed 3 \(n=4, adversary clients, byzantine: none\)/);
    expect(f.stdout).toContain('replay: pbft sim --seed 3 --replicas 4 --byzantine none --adversary clients --bug commit-on-2f --trace');
  });

  it('bad flags: a one-line error and the usage exit code', async () => {
    const r = await run(['--byzantine', 'nonsense']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown Byzantine strategy "nonsense"/);
    const r2 = await run(['--replicas', '2']);
    expect(r2.exitCode).toBe(2);
    const r3 = await run(['--adversary', 'nonsense']);
    expect(r3.exitCode).toBe(2);
    expect(r3.stderr).toMatch(/unknown adversary "nonsense"/);
    const r4 = await run(['--warmup-seeds', '3']);
    expect(r4.exitCode).toBe(2);
    expect(r4.stderr).toMatch(/--warmup-seeds applies to --bench only/);
  });

  it('--bench --json: the rows, with the warm-up seeds', async () => {
    const r = await run(['--bench', '--seeds', '2', '--warmup-seeds', '1', '--byzantine', 'none', '--adversary', 'catalogue', '--json']);
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(true);
    expect(j.rows).toHaveLength(1);
    expect(j.rows[0]).toMatchObject({ label: 'n=4 crypto=sim', seeds: 2, failed: 0, warmupSeeds: 1, warmupFailed: 0 });
    expect(j.rows[0].committedPerCpuSec).toBeGreaterThan(0);
  });
});
