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
import { configForSeed, formatFailure, parseByzantineSpec, parseReplicaCounts, runSeeds, strategySets } from '../../src/sim/runner.js';
import { simulate } from '../../src/sim/simulator.js';

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
    for (const s of [0, 5, 12345]) expect(configForSeed(s, [7], [['replay', 'garbage']])).toEqual({ n: 7, byzantine: ['replay', 'garbage'] });
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

describe.skipIf(!built)('pbft sim (built CLI)', () => {
  const run = (args: string[]) => execa('node', [join(root, 'bin', 'run.js'), 'sim', ...args], { reject: false, env: { NO_COLOR: '1' } });

  it('passing seeds: summary and exit 0', async () => {
    const r = await run(['--seeds', '3', '--byzantine', 'none', '--no-storm']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/runs +3 +\(3 passed, 0 failed\)/);
    expect(r.stdout).toMatch(/view changes/);
    expect(r.stdout).toMatch(/state transfers/);
    expect(r.stdout).toMatch(/seeds\/s/);
  });

  it('--json on a violation: the failing seed with its replay command, exit 1', async () => {
    const r = await run(['--seed', '3', '--byzantine', 'none', '--bug', 'commit-on-2f', '--json']);
    expect(r.exitCode).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.failed).toBe(1);
    expect(j.failures[0].seed).toBe(3);
    expect(j.failures[0].replay).toBe('pbft sim --seed 3 --replicas 4 --byzantine none --bug commit-on-2f --trace');
    expect(j.failures[0].violations.some((v: { invariant: string }) => v.invariant === 'qcertified')).toBe(true);
  });

  it('a violation in human form: seed, violations, replay, trace; exit 1', async () => {
    const r = await run(['--seed', '3', '--bug', 'commit-on-2f']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/seed 3 .*violation/);
    expect(r.stdout).toMatch(/\[qcertified\]/);
    expect(r.stdout).toContain('replay: pbft sim --seed 3');
    expect(r.stdout).toMatch(/trace \(last \d+ events\)/);
  });

  it('bad flags: a one-line error and the usage exit code', async () => {
    const r = await run(['--byzantine', 'nonsense']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown Byzantine strategy "nonsense"/);
    const r2 = await run(['--replicas', '2']);
    expect(r2.exitCode).toBe(2);
  });
});
