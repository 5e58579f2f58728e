/**
 * The node driver (`driver: 'node'`): the simulator runs the runtime's ReplicaNode
 * (src/runtime/replica-node.ts) over a simulated network, disk and clock. Same seed, same run;
 * every checker judges it; a crash loses what a real one loses (the frame being written, timers,
 * memory), and a node that sends before it persists is caught.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { PersistRecord } from '../../src/core/types.js';
import { PbftError } from '../../src/errors.js';
import type { NodeClock } from '../../src/runtime/node-io.js';
import { BROKEN_NODE_CASES, CATCHING_INVARIANTS, searchBrokenCore } from '../../src/sim/broken-cores.js';
import { Rng } from '../../src/sim/rng.js';
import { formatFailure } from '../../src/sim/runner.js';
import { SimDisk } from '../../src/sim/simdisk.js';
import { simulate } from '../../src/sim/simulator.js';
import { NODE_BUDGET, nodeBudget } from './node-budget.js';

describe('node driver: determinism', () => {
  // 13 (clients, n=4): a corrupt log and a recovery; 22: a torn frame; 3 (n=7 cuts)
  const cases = [
    { seed: 13, n: 4, adversary: 'clients' as const },
    { seed: 22, n: 4, adversary: 'clients' as const },
    { seed: 3, n: 7, adversary: 'cuts' as const },
  ];
  for (const c of cases) {
    it(`seed ${c.seed}, n=${c.n}, ${c.adversary}: two runs are identical`, () => {
      const a = simulate({ ...c, driver: 'node', fullTrace: true });
      const b = simulate({ ...c, driver: 'node', fullTrace: true });
      expect(a.ok, a.violations.map((v) => v.message).join('\n')).toBe(true);
      expect(a.fullTrace!.length).toBeGreaterThan(100);
      expect(b.fullTrace).toEqual(a.fullTrace);
      expect(b.stats).toEqual(a.stats);
      expect(b.fingerprint).toBe(a.fingerprint);
      expect(a.stats.completedRequests).toBeGreaterThan(0);
    });
  }

  it('the storage faults of those seeds happen on the simulated disk', () => {
    const corrupt = simulate({ seed: 13, n: 4, adversary: 'clients', driver: 'node' });
    expect(corrupt.stats.storage).toEqual({ torn: 0, corrupt: 1, recovered: 1 });
    const torn = simulate({ seed: 22, n: 4, adversary: 'clients', driver: 'node' });
    expect(torn.stats.storage.torn).toBe(1);
  });

  it('is another run than the core driver, and its replay command names the driver', () => {
    const core = simulate({ seed: 5, n: 4 });
    const node = simulate({ seed: 5, n: 4, driver: 'node' });
    expect(node.fingerprint).not.toBe(core.fingerprint);
    const broken = simulate({ seed: 5, n: 4, driver: 'node', bugs: ['send-before-persist'] });
    expect(broken.replay).toBe('pbft sim --seed 5 --replicas 4 --byzantine none --adversary catalogue --driver node --bug send-before-persist --trace');
    expect(core.replay).not.toContain('--driver');
  });

  it('refuses a node bug under the core driver', () => {
    expect(() => simulate({ seed: 1, bugs: ['send-before-persist'] })).toThrow(/node driver/);
  });
});

describe('simulated disk', () => {
  /** a clock whose callbacks run when `run` is called */
  function manualClock(): NodeClock & { run(): void } {
    let pending: (() => void)[] = [];
    return {
      now: () => 0,
      setTimeout: (fn) => pending.push(fn),
      clearTimeout: () => undefined,
      setImmediate: (fn) => {
        pending.push(fn);
      },
      run() {
        const p = pending;
        pending = [];
        for (const f of p) f();
      },
    };
  }
  const rec = (view: number): PersistRecord => ({ kind: 'view', view, viewChanging: false });
  function disk() {
    const opened: { torn: number; corruptAt: number | null }[] = [];
    const d = new SimDisk('r0/wal', new Rng(1), { onWrite: () => undefined, onOpen: (f) => opened.push(f) }, 1000);
    const clock = manualClock();
    d.attach(clock);
    return { d, clock, opened };
  }

  it('a frame is durable only when its completion comes; a crash before loses it or writes it, unacknowledged', () => {
    const { d, clock } = disk();
    const log = d.open();
    const done: (PbftError | null)[] = [];
    log.commit([rec(1)], (e) => done.push(e));
    clock.run();
    expect(done).toEqual([null]);
    log.commit([rec(2)], (e) => done.push(e));
    expect(() => log.commit([rec(3)], () => undefined)).toThrow(/in flight/);
    const fate = d.crash(null);
    clock.run(); // the completion of the frame in flight never comes
    expect(done).toEqual([null]);
    expect(['lost', 'written']).toContain(fate);
    expect(d.open().takeRecords()).toEqual(fate === 'lost' ? [rec(1)] : [rec(1), rec(2)]);
    expect(d.crash(null)).toBe('none');
  });

  it('a torn frame is cut off at open; a corrupt older one makes open refuse the log', () => {
    const { d, clock, opened } = disk();
    let log = d.open();
    log.commit([rec(1)], () => undefined);
    clock.run();
    log.commit([rec(2)], () => undefined);
    clock.run();
    log.commit([rec(3)], () => undefined);
    d.crash('torn');
    log = d.open();
    expect(opened.at(-1)).toMatchObject({ torn: 1, corruptAt: null });
    expect(log.loadReport.tornTail).toBe(true);
    log.commit([rec(4)], () => undefined);
    clock.run();
    d.crash('corrupt');
    let err: unknown;
    try {
      d.open();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PbftError);
    expect((err as PbftError).code).toBe('WAL_CORRUPT');
    d.moveAside();
    expect(d.open().takeRecords()).toEqual([]);
  });
});

describe('node driver: broken nodes are caught', () => {
  for (const c of BROKEN_NODE_CASES) {
    it(`${c.bug}: caught within ${c.bound} seeds (${c.adversaries.join(', ')})`, { timeout: 600_000 }, async () => {
      const r = await searchBrokenCore(c);
      expect(r.caught, `${c.bug} not caught in ${r.searched} seeds${r.failure ? `; the failing seed:\n${formatFailure(r.failure)}` : ''}`).toBe(true);
      expect(r.invariants.some((i) => CATCHING_INVARIANTS.has(i))).toBe(true);
      expect(r.replay).toContain('--driver node');
      expect(r.replay).toContain(`--bug ${c.bug}`);
      expect(r.honestPasses, `seed ${r.seed} also fails with the honest node`).toBe(true);
      console.log(
        `${c.bug}: caught at seed ${r.seed} (n=${r.n}, ${r.adversary}) by [${r.invariants.join(', ')}] after ${r.searched} seeds, ${(r.cpuMs / 1000).toFixed(1)} CPU-s`,
      );
    });
  }
});

describe('node driver budget', () => {
  it(`n=7: ${NODE_BUDGET.n7} seeds, every adversary, no violation`, { timeout: 600_000 }, () => nodeBudget(7, NODE_BUDGET.n7));
});

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = existsSync(join(root, 'dist', 'cli', 'commands', 'sim.js')) && existsSync(join(root, 'bin', 'run.js'));

describe.skipIf(!built)('pbft sim --driver node (built CLI)', () => {
  const run = (args: string[]) => execa('node', [join(root, 'bin', 'run.js'), 'sim', ...args], { reject: false, env: { NO_COLOR: '1' } });

  it('a failing seed prints a replay command that names the driver, and exits 1', { timeout: 120_000 }, async () => {
    const r = await run([
      '--seed',
      '19',
      '--replicas',
      '4',
      '--byzantine',
      'none',
      '--adversary',
      'clients',
      '--driver',
      'node',
      '--bug',
      'send-before-persist',
    ]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/driver: node/);
    expect(r.stdout).toContain('pbft sim --seed 19 --replicas 4 --byzantine none --adversary clients --driver node --bug send-before-persist --trace');
    expect(r.stdout).toMatch(/no-equivocation/);
  });
});
