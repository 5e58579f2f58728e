/**
 * The fault library's pure parts: argument validation, the control-channel command for each
 * action, help text, the fault list table; and the process-state helpers against real
 * (non-replica) processes: paused detection, crashed vs stopped from the phase log, the
 * fault-injection switches that signals obey.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { STRATEGY_NAMES } from '../../src/byzantine/index.js';
import { parseAdminCommand } from '../../src/runtime/wire.js';
import { initCluster } from '../../src/runtime/init.js';
import type { LoadedCluster } from '../../src/runtime/config.js';
import { palette } from '../../src/cluster/format.js';
import { exitCodeFor } from '../../src/cluster/errors.js';
import { injectFault } from '../../src/cluster/faults.js';
import {
  FAULT_ACTIONS,
  adminCommandFor,
  faultPeers,
  parseFaultArgs,
  type FaultAction,
  type FaultArgs,
  type FaultRequest,
  type FaultRequestOf,
} from '../../src/cluster/fault-request.js';
import { actionHelp, formatFaultList, formatFaultOutcome, strategyHelp } from '../../src/cluster/fault-format.js';
import type { ReplicaFaults } from '../../src/cluster/fault-list.js';
import { replicaRunState, signalFaultsRefusal } from '../../src/cluster/fault-state.js';
import { parseReplicaIds, parseReplicaTarget } from '../../src/cluster/ids.js';
import { isPaused } from '../../src/cluster/processes.js';

const parsePeerList = (s: string, n: number) => parseReplicaIds([s], n, { flag: '--from' });
const parseTarget = parseReplicaTarget;

const N = 4;
const parse = (a: FaultArgs) => parseFaultArgs(a, N);
function fails(a: FaultArgs, message: string | RegExp, code = 'BAD_ARGUMENT') {
  let err: unknown;
  try {
    parse(a);
  } catch (e) {
    err = e;
  }
  expect(err, JSON.stringify(a)).toMatchObject({ code, message: typeof message === 'string' ? message : expect.stringMatching(message) });
}

describe('parseFaultArgs', () => {
  it('accepts every action with its options', () => {
    expect(parse({ target: '2', action: 'crash' })).toEqual({ target: 2, action: 'crash' });
    expect(parse({ target: 'primary', action: 'restart' })).toEqual({ target: 'primary', action: 'restart' });
    expect(parse({ target: '0', action: 'partition', from: '1,3' })).toEqual({ target: 0, action: 'partition', from: [1, 3] });
    expect(parse({ target: '0', action: 'partition', from: '3 1-2 1' })).toEqual({ target: 0, action: 'partition', from: [1, 2, 3] });
    expect(parse({ target: '1', action: 'delay', ms: '50', jitter: 10 })).toEqual({ target: 1, action: 'delay', ms: 50, jitterMs: 10 });
    expect(parse({ target: '1', action: 'delay', ms: 0 })).toEqual({ target: 1, action: 'delay', ms: 0 });
    expect(parse({ target: '1', action: 'drop', rate: '0.25' })).toEqual({ target: 1, action: 'drop', rate: 0.25 });
    expect(parse({ target: '1', action: 'drop', rate: '1' })).toEqual({ target: 1, action: 'drop', rate: 1 });
    expect(parse({ target: '1', action: 'drop', rate: '.5' })).toEqual({ target: 1, action: 'drop', rate: 0.5 });
    expect(parse({ target: '1', action: 'heal' })).toEqual({ target: 1, action: 'heal' });
    expect(parse({ target: '1', action: 'heal', from: '0' })).toEqual({ target: 1, action: 'heal', from: [0] });
    for (const s of STRATEGY_NAMES) expect(parse({ target: '3', action: 'byzantine', rest: [s] })).toEqual({ target: 3, action: 'byzantine', strategy: s });
    for (const a of ['pause', 'resume', 'isolate', 'clear']) expect(parse({ target: '1', action: a })).toEqual({ target: 1, action: a });
  });

  it('rejects bad targets, actions and strategies in one line', () => {
    fails({ action: 'crash' }, 'no TARGET given');
    fails({ target: '4', action: 'crash' }, 'unknown replica 4: this cluster has replicas 0-3', 'UNKNOWN_REPLICA');
    fails({ target: '-1', action: 'crash' }, '"-1" is not a replica id or "primary"');
    fails({ target: 'leader', action: 'crash' }, '"leader" is not a replica id or "primary"');
    fails({ target: '1' }, 'no ACTION given');
    fails({ target: '1', action: 'explode' }, 'unknown action "explode"');
    fails({ target: '1', action: 'byzantine' }, 'byzantine needs a STRATEGY');
    fails({ target: '1', action: 'byzantine', rest: ['evil'] }, 'unknown Byzantine strategy "evil"');
    fails({ target: '1', action: 'byzantine', rest: ['silent', 'garbage'] }, /^byzantine takes one STRATEGY/);
    fails({ target: '1', action: 'crash', rest: ['now'] }, 'crash takes no further argument, but got "now"');
  });

  it('rejects out-of-range values and flags that do not apply', () => {
    fails({ target: '1', action: 'drop' }, /^drop needs --rate/);
    fails({ target: '1', action: 'drop', rate: '1.01' }, '--rate must be a number from 0 to 1 (a fraction of the messages), got "1.01"');
    fails({ target: '1', action: 'drop', rate: '-0.1' }, /^--rate must be a number from 0 to 1/);
    fails({ target: '1', action: 'drop', rate: 'half' }, /^--rate must be a number/);
    fails({ target: '1', action: 'drop', rate: Number.NaN }, /^--rate must be a number/);
    fails({ target: '1', action: 'delay' }, /^delay needs --ms/);
    fails({ target: '1', action: 'delay', ms: '-5' }, '--ms must be an integer from 0 to 60000 (milliseconds), got "-5"');
    fails({ target: '1', action: 'delay', ms: '1.5' }, /^--ms must be an integer/);
    fails({ target: '1', action: 'delay', ms: '60001' }, /^--ms must be an integer from 0 to 60000/);
    fails({ target: '1', action: 'delay', ms: '5', jitter: 'x' }, /^--jitter must be an integer/);
    fails({ target: '1', action: 'partition' }, /^partition needs --from IDS/);
    fails({ target: '1', action: 'partition', from: '' }, /^--from needs at least one replica id/);
    fails({ target: '1', action: 'partition', from: '1,2' }, '--from lists the target replica 1 itself');
    fails({ target: '1', action: 'partition', from: '0,9' }, '--from: unknown replica 9: this cluster has replicas 0-3', 'UNKNOWN_REPLICA');
    fails({ target: '1', action: 'partition', from: '3-2' }, /^--from: "3-2" is not a replica id or range/);
    fails({ target: '1', action: 'crash', ms: 5 }, '--ms does not apply to crash');
    fails({ target: '1', action: 'isolate', from: '0' }, '--from does not apply to isolate');
    fails({ target: '1', action: 'delay', ms: 5, rate: 0.1 }, '--rate does not apply to delay');
    fails({ target: '1', action: 'drop', rate: 0.1, jitter: 3 }, '--jitter does not apply to drop');
  });

  it('parsePeerList and parseTarget', () => {
    expect(parsePeerList('0-3', 4)).toEqual([0, 1, 2, 3]);
    expect(() => parsePeerList('0-4', 4)).toThrow(/unknown replica 4/);
    expect(parseTarget(' primary ', 4)).toBe('primary');
    expect(parseTarget('03', 4)).toBe(3);
  });
});

describe('FaultRequest: one type per action', () => {
  it('parseFaultArgs gives each action exactly its own fields (no undefined ones)', () => {
    const cases: [FaultArgs, FaultRequest][] = [
      [
        { target: '2', action: 'crash' },
        { target: 2, action: 'crash' },
      ],
      [
        { target: 'primary', action: 'restart' },
        { target: 'primary', action: 'restart' },
      ],
      [
        { target: '0', action: 'partition', from: '1,3' },
        { target: 0, action: 'partition', from: [1, 3] },
      ],
      [
        { target: '1', action: 'delay', ms: '50' },
        { target: 1, action: 'delay', ms: 50 },
      ],
      [
        { target: '1', action: 'delay', ms: '50', jitter: '5' },
        { target: 1, action: 'delay', ms: 50, jitterMs: 5 },
      ],
      [
        { target: '1', action: 'drop', rate: '0.5' },
        { target: 1, action: 'drop', rate: 0.5 },
      ],
      [
        { target: '1', action: 'heal' },
        { target: 1, action: 'heal' },
      ],
      [
        { target: '1', action: 'heal', from: '0' },
        { target: 1, action: 'heal', from: [0] },
      ],
      [
        { target: '1', action: 'byzantine', rest: ['silent'] },
        { target: 1, action: 'byzantine', strategy: 'silent' },
      ],
      [
        { target: '1', action: 'clear' },
        { target: 1, action: 'clear' },
      ],
      // client links
      [
        { target: '2', action: 'partition', from: 'clients' },
        { target: 2, action: 'partition', from: [], clients: true },
      ],
      [
        { target: '2', action: 'partition', from: '0,clients' },
        { target: 2, action: 'partition', from: [0], clients: true },
      ],
      [
        { target: '2', action: 'heal', from: 'clients' },
        { target: 2, action: 'heal', from: [], clients: true },
      ],
      [
        { target: '1', action: 'delay', ms: '200', link: 'clients' },
        { target: 1, action: 'delay', ms: 200, link: 'clients' },
      ],
      [
        { target: '1', action: 'drop', rate: '0.3', link: 'replicas' },
        { target: 1, action: 'drop', rate: 0.3, link: 'replicas' },
      ],
    ];
    for (const [args, want] of cases) expect(parse(args), JSON.stringify(args)).toStrictEqual(want);
    expect(() => parse({ target: '1', action: 'delay', ms: '5', link: 'peers' })).toThrow(/--link must be replicas or clients/);
    expect(() => parse({ target: '1', action: 'partition', from: '0', link: 'clients' })).toThrow(/--link does not apply to partition/);
    expect(() => parse({ target: '1', action: 'partition', from: 'clients,1' })).toThrow(/target replica 1 itself/);
  });

  it('the type follows the action: required fields, no foreign ones, narrowing by action', () => {
    expectTypeOf<FaultRequestOf<'partition'>['from']>().toEqualTypeOf<number[]>();
    expectTypeOf<FaultRequestOf<'heal'>['from']>().toEqualTypeOf<number[] | undefined>();
    expectTypeOf<FaultRequestOf<'delay'>['ms']>().toEqualTypeOf<number>();
    expectTypeOf<FaultRequest['action']>().toEqualTypeOf<FaultAction>();
    const typeErrors = (): FaultRequest[] => [
      // @ts-expect-error partition needs --from
      { target: 1, action: 'partition' },
      // @ts-expect-error delay needs ms
      { target: 1, action: 'delay', jitterMs: 3 },
      // @ts-expect-error crash takes no ms
      { target: 1, action: 'crash', ms: 5 },
      // @ts-expect-error drop takes a rate, not peers
      { target: 1, action: 'drop', rate: 0.1, from: [0] },
      // @ts-expect-error an unknown strategy
      { target: 1, action: 'byzantine', strategy: 'teleport' },
    ];
    expect(typeof typeErrors).toBe('function');
    // every action is a member, and `action` alone narrows to it
    const fields = (r: FaultRequest): string => {
      switch (r.action) {
        case 'partition':
          return r.from.join(',');
        case 'delay':
          return `${r.ms}${r.jitterMs !== undefined ? `+-${r.jitterMs}` : ''}`;
        case 'drop':
          return String(r.rate);
        case 'heal':
          return r.from?.join(',') ?? 'all';
        case 'byzantine':
          return r.strategy;
        case 'crash':
        case 'restart':
        case 'pause':
        case 'resume':
        case 'isolate':
        case 'clear':
          return '-';
        default: {
          const none: never = r;
          return none;
        }
      }
    };
    expect(fields(parse({ target: '1', action: 'delay', ms: 7, jitter: 2 }))).toBe('7+-2');
    expect(fields(parse({ target: '1', action: 'heal' }))).toBe('all');
    expect(faultPeers(parse({ target: '1', action: 'partition', from: '0,2' }))).toEqual([0, 2]);
    expect(faultPeers(parse({ target: '1', action: 'heal' }))).toBe(undefined);
    expect(faultPeers(parse({ target: '1', action: 'isolate' }))).toBe(undefined);
  });
});

describe('adminCommandFor', () => {
  it('maps every network and Byzantine action to a command the replica accepts; signals to null', () => {
    const cases: FaultArgs[] = [
      { target: '1', action: 'isolate' },
      { target: '1', action: 'partition', from: '0,2' },
      { target: '1', action: 'delay', ms: 7, jitter: 2 },
      { target: '1', action: 'delay', ms: 7 },
      { target: '1', action: 'drop', rate: 0.5 },
      { target: '1', action: 'heal' },
      { target: '1', action: 'heal', from: '2' },
      { target: '1', action: 'clear' },
      { target: '1', action: 'partition', from: 'clients' },
      { target: '1', action: 'partition', from: '0,clients' },
      { target: '1', action: 'heal', from: 'clients' },
      { target: '1', action: 'delay', ms: 9, link: 'clients' },
      { target: '1', action: 'drop', rate: 0.2, link: 'replicas' },
      ...STRATEGY_NAMES.map((s) => ({ target: '1', action: 'byzantine', rest: [s] })),
    ];
    for (const c of cases) {
      const cmd = adminCommandFor(parse(c));
      expect(cmd, JSON.stringify(c)).not.toBe(null);
      expect(parseAdminCommand(cmd, N), JSON.stringify(c)).toEqual(cmd);
    }
    expect(adminCommandFor(parse({ target: '1', action: 'partition', from: '0,2' }))).toEqual({ kind: 'net', action: 'partition', peers: [0, 2] });
    expect(adminCommandFor(parse({ target: '1', action: 'partition', from: 'clients' }))).toEqual({ kind: 'net', action: 'partition', clients: true });
    expect(adminCommandFor(parse({ target: '1', action: 'delay', ms: 9, link: 'clients' }))).toEqual({ kind: 'net', action: 'delay', ms: 9, link: 'clients' });
    expect(adminCommandFor(parse({ target: '1', action: 'byzantine', rest: ['equivocate'] }))).toEqual({ kind: 'byzantine', strategy: 'equivocate' });
    for (const a of ['crash', 'restart', 'pause', 'resume']) expect(adminCommandFor(parse({ target: '1', action: a }))).toBe(null);
  });
});

describe('help and formatting', () => {
  it('help lists every action and strategy', () => {
    for (const a of FAULT_ACTIONS) expect(actionHelp()).toMatch(new RegExp(`^${a}\\b`, 'm'));
    for (const s of STRATEGY_NAMES) expect(strategyHelp()).toMatch(new RegExp(`^${s}: `, 'm'));
  });

  it('the fault list shows process state, faults in force and counters', () => {
    const base: ReplicaFaults = {
      id: 0,
      state: 'running',
      pid: 100,
      reachable: true,
      view: 1,
      primary: 1,
      faultInjection: true,
      byzantine: null,
      byzantineCounters: {},
      net: null,
      active: [],
    };
    const rows: ReplicaFaults[] = [
      base,
      { ...base, id: 1, active: ['drop 0.2', 'byzantine equivocate'], byzantine: 'equivocate', byzantineCounters: { equivocations: 3, x: 0 } },
      { ...base, id: 2, state: 'paused', reachable: false, view: null, primary: null, faultInjection: null, active: ['paused'] },
      { ...base, id: 3, state: 'crashed', pid: null, reachable: false, view: null, primary: null, faultInjection: null, active: ['crashed'] },
    ];
    const text = formatFaultList(rows, palette(false));
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^replica\s+process\s+pid\s+view\s+faults in force\s+strategy did\s+injection$/);
    expect(lines[1]).toMatch(/^0\s+running\s+100\s+1\s+none\s+-\s+on$/);
    expect(lines[2]).toMatch(/^1 \(primary\)\s+running\s+100\s+1\s+drop 0\.2, byzantine equivocate\s+equivocations:3\s+on$/);
    expect(lines[3]).toMatch(/^2\s+paused\s+100\s+-\s+-\s+-\s+-$/);
    expect(lines[4]).toMatch(/^3\s+crashed\s+-\s+-\s+-\s+-\s+-$/);
    expect(text).toContain('3 of 4 replicas have faults in force');
    expect(formatFaultList([base], palette(false))).toContain('No faults in force.');
  });

  it('an outcome names how the primary was found', () => {
    expect(
      formatFaultOutcome({
        replica: 1,
        target: 'primary',
        primary: { primary: 1, view: 5, agreeing: [0, 1, 3], quorum: 3 },
        action: 'crash',
        changed: true,
        message: 'replica 1 crashed (SIGKILL to pid 9)',
        process: { id: 1, state: 'crashed', pid: null },
        faults: null,
      }),
    ).toBe('replica 1 crashed (SIGKILL to pid 9) (the primary of view 5, as replicas 0,1,3 report)');
  });

  it('new error codes have exit codes', () => {
    expect(exitCodeFor('NO_PRIMARY')).toBe(5);
    expect(exitCodeFor('REPLICA_PAUSED')).toBe(4);
  });
});

describe('process state and the fault-injection switches (fake replica processes)', () => {
  let dir: string;
  let cluster: LoadedCluster;
  const kids: ChildProcess[] = [];
  /** a process whose command line looks like replica `id`'s (looksLikeReplica checks --id) */
  function fakeReplica(id: number, extra: string[] = []): ChildProcess {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', '--id', String(id), ...extra], { stdio: 'ignore' });
    kids.push(child);
    writeFileSync(cluster.paths.pid(id), `${child.pid}\n`);
    return child;
  }
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-faults-unit-'));
    cluster = (await initCluster({ dir, replicas: 4, ports: [41001, 41002, 41003, 41004] })).cluster;
  });
  afterAll(() => {
    for (const k of kids) k.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('running, paused, crashed (from the phase log), stopped, down', async () => {
    const a = fakeReplica(0);
    await expect(replicaRunState(cluster, 0)).resolves.toEqual({ id: 0, state: 'running', pid: a.pid });
    a.kill('SIGSTOP');
    await expect.poll(() => isPaused(a.pid!)).toBe(true);
    await expect(replicaRunState(cluster, 0)).resolves.toMatchObject({ state: 'paused', pid: a.pid });
    a.kill('SIGCONT');
    await expect.poll(() => isPaused(a.pid!)).toBe(false);

    // no process: the last phase record tells a crash (pbft fault) from a clean stop
    await expect(replicaRunState(cluster, 1)).resolves.toEqual({ id: 1, state: 'down', pid: null });
    appendFileSync(cluster.paths.phases(1), `${JSON.stringify({ ts: Date.now(), replica: 1, view: 2, phase: 'stop', detail: 'signal' })}\n`);
    await expect(replicaRunState(cluster, 1)).resolves.toMatchObject({ state: 'stopped' });
    appendFileSync(
      cluster.paths.phases(1),
      `${JSON.stringify({ ts: Date.now(), replica: 1, view: 2, phase: 'fault', action: 'crash', source: 'operator' })}\ngarbage\n`,
    );
    await expect(replicaRunState(cluster, 1)).resolves.toMatchObject({ state: 'crashed' });
  });

  it('crash through the library kills the process, removes the pid file and logs the fault', async () => {
    const b = fakeReplica(2);
    const exited = new Promise((r) => b.once('exit', (_c, sig) => r(sig)));
    const out = await injectFault(cluster, { target: 2, action: 'crash' });
    expect(await exited).toBe('SIGKILL');
    expect(out).toMatchObject({ replica: 2, action: 'crash', changed: true, process: { state: 'crashed', pid: null } });
    await expect(replicaRunState(cluster, 2)).resolves.toMatchObject({ state: 'crashed', pid: null });
    await expect(injectFault(cluster, { target: 2, action: 'pause' })).rejects.toMatchObject({
      code: 'NOT_RUNNING',
      message: 'replica 2 is not running (crashed by pbft fault)',
    });
  });

  it('pause and resume are idempotent and reported', async () => {
    const c = fakeReplica(3);
    const p1 = await injectFault(cluster, { target: 3, action: 'pause' });
    expect(p1).toMatchObject({ changed: true, process: { state: 'paused' } });
    expect(await isPaused(c.pid!)).toBe(true);
    expect(await injectFault(cluster, { target: 3, action: 'pause' })).toMatchObject({ changed: false, message: `replica 3 is already paused (pid ${c.pid})` });
    expect(await injectFault(cluster, { target: 3, action: 'resume' })).toMatchObject({ changed: true, process: { state: 'running' } });
    expect(await isPaused(c.pid!)).toBe(false);
    expect(await injectFault(cluster, { target: 3, action: 'resume' })).toMatchObject({ changed: false });
    expect(await injectFault(cluster, { target: 3, action: 'restart' })).toMatchObject({ changed: false, message: expect.stringContaining('already running') });
  });

  it('signals obey --no-faults, replica.json and cluster.json', async () => {
    const d = fakeReplica(1, ['--no-faults']);
    expect(await signalFaultsRefusal(cluster, 1, d.pid!)).toBe('fault injection is disabled on replica 1 (it was started with pbft up --no-fault-injection)');
    await expect(injectFault(cluster, { target: 1, action: 'crash' })).rejects.toMatchObject({
      code: 'ADMIN_REFUSED',
      message: expect.stringContaining('cannot crash replica 1: fault injection is disabled'),
    });
    expect(d.exitCode).toBe(null);
    expect(await signalFaultsRefusal(cluster, 0, null)).toBe(null);
    writeFileSync(cluster.paths.replicaJson(0), JSON.stringify({ faultInjection: false }));
    expect(await signalFaultsRefusal(cluster, 0, null)).toBe('fault injection is disabled on replica 0 (faultInjection is false in its replica.json)');
    const off = { ...cluster, config: { ...cluster.config, faultInjection: false } };
    expect(await signalFaultsRefusal(off, 3, null)).toBe('fault injection is disabled on replica 3 (faultInjection is false in cluster.json)');
  });

  it('primary cannot be resolved when nobody answers', async () => {
    await expect(injectFault(cluster, { target: 'primary', action: 'crash' }, { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'NO_PRIMARY',
      message: 'no primary that a quorum (3) of running replicas agree on: no replica answered',
    });
  });
});
