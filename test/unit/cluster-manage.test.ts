/**
 * ps, restart, destroy, logs --process, ls and config as library calls, on real cluster
 * directories (initCluster) with a fake replica program: processes are real, the protocol is not.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { destroyCluster, downCluster, listProcesses, planDestroy, restartReplicas, upCluster } from '../../src/cluster/lifecycle.js';
import { describeClusterDir, effectiveConfig, formatClusterList, formatEffectiveConfig, formatPorts, listClusters } from '../../src/cluster/clusters.js';
import { followProcessLogs, processLogFiles, readProcessLogs, type ProcessLogLine } from '../../src/cluster/processlog.js';
import { formatProcessTable, formatUptime } from '../../src/cluster/format-ps.js';
import { palette } from '../../src/cluster/format.js';
import { freePorts } from '../../src/cluster/demo.js';
import { isAlive } from '../../src/cluster/processes.js';
import { initCluster } from '../../src/runtime/init.js';
import type { LoadedCluster } from '../../src/runtime/config.js';

const FAKE = `
const args = process.argv.slice(2);
const id = args[args.indexOf('--id') + 1];
process.on('SIGTERM', () => process.exit(0));
console.error('warning: replica ' + id + ' is a fake');
setTimeout(() => console.log(JSON.stringify({ event: 'ready', replica: Number(id) })), 20);
setInterval(() => {}, 1000);
`;

let root: string;
let entry: string;
let cluster: LoadedCluster;
const plain = palette(false);

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pbft-manage-'));
  entry = join(root, 'fake.cjs');
  await writeFile(entry, FAKE);
  cluster = (await initCluster({ dir: join(root, 'c'), replicas: 4, ports: await freePorts(4) })).cluster;
});

afterEach(async () => {
  await downCluster(cluster.dir, 4, { graceMs: 200 }).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

describe('ps and restart', () => {
  it('lists processes with state, pid, start time and memory; restart replaces the process', async () => {
    const down = await listProcesses(cluster);
    expect(down.map((r) => [r.id, r.state, r.pid])).toEqual([
      [0, 'down', null],
      [1, 'down', null],
      [2, 'down', null],
      [3, 'down', null],
    ]);
    await upCluster(cluster, { entry, ids: [0, 1] });
    const rows = await listProcesses(cluster);
    expect(rows.map((r) => r.state)).toEqual(['running', 'running', 'down', 'down']);
    expect(rows[0]!.startedAtMs).toBeGreaterThan(Date.now() - 120_000);
    expect(rows[0]!.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(rows[0]!.logFile).toBe(join(cluster.dir, 'replicas', '0', 'process.log'));
    const table = formatProcessTable(rows, plain, Date.now(), root);
    expect(table).toMatch(/replica +state +pid +address +up for +memory +output/);
    expect(table).toContain('c/replicas/0/process.log');
    expect(table).toContain('2 of 4 replica processes running.');

    const r = await restartReplicas(cluster, { entry, ids: [1, 2], graceMs: 500 });
    expect(r.replicas.map((x) => [x.id, x.stop.status, x.start.status])).toEqual([
      [1, 'stopped', 'ready'],
      [2, 'not-running', 'ready'],
    ]);
    const after = await listProcesses(cluster);
    expect(after[1]!.pid).not.toBe(rows[1]!.pid);
    expect(r.running).toEqual([0, 1, 2]);
    expect(formatUptime(3200)).toBe('3.2 s');
    expect(formatUptime(2 * 3600_000 + 4 * 60_000)).toBe('2 h 4 min');
  });
});

describe('destroy', () => {
  it('stops the replicas, removes the cluster, and the directory when nothing else is there', async () => {
    await upCluster(cluster, { entry });
    const plan = await planDestroy(cluster.dir);
    expect(plan.running).toEqual([0, 1, 2, 3]);
    expect(plan.keep).toEqual([]);
    const pids = (await listProcesses(cluster)).map((r) => r.pid!);
    const res = await destroyCluster(cluster.dir, { graceMs: 500 });
    expect(res.removedDir).toBe(true);
    expect(res.stopped.filter((s) => s.status === 'stopped')).toHaveLength(4);
    expect(existsSync(cluster.dir)).toBe(false);
    for (const pid of pids) expect(await isAlive(pid), `pid ${pid}`).toBe(false);
  });

  it('keeps files of its own in the directory; refuses a directory without a cluster', async () => {
    await writeFile(join(cluster.dir, 'notes.txt'), 'mine');
    const res = await destroyCluster(cluster.dir);
    expect(res).toMatchObject({ removedDir: false, keep: ['notes.txt'] });
    expect(existsSync(join(cluster.dir, 'notes.txt'))).toBe(true);
    expect(existsSync(join(cluster.dir, 'keys'))).toBe(false);
    await expect(destroyCluster(cluster.dir)).rejects.toMatchObject({ code: 'CONFIG_MISSING' });
    await expect(planDestroy(join(root, 'nope'))).rejects.toMatchObject({ code: 'CONFIG_MISSING' });
    expect(existsSync(join(cluster.dir, 'notes.txt'))).toBe(true);
  });
});

describe('logs --process', () => {
  it('a line half-written when reading starts goes to the follower whole (review: it was printed in two parts)', async () => {
    const f = join(root, `half-${Date.now()}.log`);
    await writeFile(f, 'ready\nwarning: some');
    const files = [{ replica: 0, path: f }];
    for (const o of [{}, { tail: 10 }]) {
      await writeFile(f, 'ready\nwarning: some');
      const now = await readProcessLogs(files, o);
      expect(now.lines.map((l) => l.line)).toEqual(['ready']);
      await writeFile(f, 'ready\nwarning: something\n');
      const got: string[] = [];
      const ac = new AbortController();
      const following = followProcessLogs(files, {
        offsets: now.offsets,
        signal: ac.signal,
        pollMs: 20,
        onLine: (l) => {
          got.push(l.line);
          ac.abort();
        },
      });
      await following;
      expect(got).toEqual(['warning: something']);
    }
  });

  it("reads each replica's output, the last N lines, and follows new ones", async () => {
    await upCluster(cluster, { entry, ids: [0, 1] });
    const files = processLogFiles(cluster, [0, 1]);
    const all = await readProcessLogs(files);
    const of0 = all.lines.filter((l) => l.replica === 0).map((l) => l.line);
    expect(of0[0]).toMatch(/^--- pbft up: starting replica 0 at /);
    expect(of0.join('\n')).toMatch(/warning: replica 0 is a fake/);
    expect(of0.join('\n')).toMatch(/"event":"ready"/);
    const last = await readProcessLogs(files, { tail: 1 });
    expect(last.lines.map((l) => l.replica)).toEqual([0, 1]);

    const got: ProcessLogLine[] = [];
    const ac = new AbortController();
    let arrived!: () => void;
    const seen = new Promise<void>((r) => (arrived = r));
    const following = followProcessLogs(files, {
      offsets: all.offsets,
      signal: ac.signal,
      onLine: (l) => {
        got.push(l);
        if (got.length === 2) arrived();
      },
    });
    await appendFile(files[1]!.path, 'appended line\n');
    await appendFile(files[0]!.path, 'partial');
    await appendFile(files[0]!.path, ' then complete\n');
    await seen;
    ac.abort();
    await following;
    expect(got).toEqual(
      expect.arrayContaining([
        { replica: 1, line: 'appended line' },
        { replica: 0, line: 'partial then complete' },
      ]),
    );
  });
});

describe('ls and config', () => {
  it('finds clusters two levels down, with their state; an invalid one says why', async () => {
    await initCluster({ dir: join(root, 'nested', 'b'), replicas: 7, ports: await freePorts(7) });
    await mkdir(join(root, 'broken'));
    await writeFile(join(root, 'broken', 'cluster.json'), '{');
    await upCluster(cluster, { entry, ids: [0, 1, 2, 3] });
    const rows = await listClusters(root);
    expect(rows.map((r) => [r.dir.slice(root.length + 1), r.state, r.n])).toEqual([
      ['broken', 'invalid', null],
      ['c', 'up', 4],
      ['nested/b', 'down', 7],
    ]);
    expect(rows[0]!.error).toMatch(/not valid JSON/);
    expect(await describeClusterDir(cluster.dir)).toMatchObject({ running: [0, 1, 2, 3], f: 1, host: '127.0.0.1' });
    await downCluster(cluster.dir, 4, { ids: [3] });
    expect((await describeClusterDir(cluster.dir)).state).toBe('partial');
    const text = formatClusterList(rows, plain, root);
    expect(text).toMatch(/directory +name +replicas +state +running +address/);
    expect(text).toMatch(/broken: cluster\.json: not valid JSON/);
    expect(formatPorts([7000, 7001, 7002])).toBe('7000-7002');
    expect(formatPorts([7000, 7005])).toBe('7000,7005');
    expect(await listClusters(join(root, 'empty-or-missing'))).toEqual([]);
  });

  it('config: protocol.batchHoldMs is written by init and, when a cluster.json lacks it, shown with the value in force', async () => {
    expect((await effectiveConfig(cluster)).protocol.batchHoldMs).toBe(25);
    const { readFile } = await import('node:fs/promises');
    const { loadCluster } = await import('../../src/runtime/config.js');
    const json = JSON.parse(await readFile(cluster.paths.config, 'utf8'));
    delete json.protocol.batchHoldMs;
    await writeFile(cluster.paths.config, JSON.stringify(json));
    expect((await effectiveConfig(await loadCluster(cluster.dir))).protocol.batchHoldMs).toBe(25);
    // never more than a quarter of the view-change timeout
    json.protocol.viewChangeTimeoutMs = 40;
    await writeFile(cluster.paths.config, JSON.stringify(json));
    expect((await effectiveConfig(await loadCluster(cluster.dir))).protocol.batchHoldMs).toBe(10);
    json.protocol.batchHoldMs = 11;
    await writeFile(cluster.paths.config, JSON.stringify(json));
    await expect(loadCluster(cluster.dir)).rejects.toThrow(/batchHoldMs/);
    // init with a short view-change timeout writes a hold that fits it
    const short = (await initCluster({ dir: join(root, 'short'), replicas: 4, ports: await freePorts(4), protocol: { viewChangeTimeoutMs: 60 } })).cluster;
    expect(short.config.protocol.batchHoldMs).toBe(15);
  });

  it('config: defaults filled in, overrides marked, key files named but never read', async () => {
    await writeFile(cluster.paths.replicaJson(2), JSON.stringify({ fsync: false, faultInjection: false, heapGrowthPercent: 0 }));
    await writeFile(cluster.paths.replicaJson(3), '{ nope');
    const e = await effectiveConfig(cluster);
    expect(e).toMatchObject({ n: 4, f: 1, quorum: 3, replyQuorum: 2, faultInjection: true });
    expect(e.replicas[0]).toMatchObject({
      settings: {
        fsync: true,
        faultInjection: true,
        phaseLog: true,
        phaseLogMaxBytes: 64 * 1024 * 1024,
        ledgerSegmentBytes: 8 * 1024 * 1024,
        ledgerMaxBytes: 256 * 1024 * 1024,
        heapGrowthPercent: 25,
      },
      faultInjection: true,
      overridden: [],
    });
    expect(e.replicas[2]).toMatchObject({
      settings: { fsync: false, faultInjection: false, heapGrowthPercent: 0 },
      faultInjection: false,
      overridden: ['fsync', 'faultInjection', 'heapGrowthPercent'],
    });
    expect(e.replicas[3]!.error).toMatch(/not valid JSON/);
    expect(e.replicas[0]!.key).toMatchObject({ present: true, mode: '0600' });
    const text = formatEffectiveConfig(e, plain, root);
    const { readFileSync } = await import('node:fs');
    for (const f of [cluster.paths.replicaKey(0), cluster.paths.operatorKey, cluster.paths.clientKey('client0')]) {
      const secret = readFileSync(f, 'utf8').trim();
      expect(text).not.toContain(secret);
      expect(JSON.stringify(e)).not.toContain(secret);
    }
    expect(text).toMatch(/false\* +off\*/);
    expect(text).toMatch(/ 0\* /); // replica 2's heapGrowthPercent, set in its replica.json
    expect(text).toMatch(/replica 3: .*not valid JSON/);
  });
});

describe('demo --step', () => {
  it('runDemo awaits pause before each act, in order', async () => {
    const { runDemo } = await import('../../src/cluster/demo.js');
    const events: string[] = [];
    const act = (id: string) => ({ id, title: `act ${id}`, run: async () => void events.push(`run ${id}`) });
    const out: string[] = [];
    const summary = await runDemo({
      acts: [act('a'), act('b')],
      entry,
      parentDir: root,
      out: (l) => out.push(l),
      palette: plain,
      signal: new AbortController().signal,
      pause: async (next) => void events.push(`pause ${next.step}/${next.total} ${next.title}`),
    });
    expect(events).toEqual(['pause 3/4 act a', 'run a', 'pause 4/4 act b', 'run b']);
    expect(summary.acts.map((a) => a.ok)).toEqual([true, true]);
    expect(existsSync(summary.dir)).toBe(false);
  });
});
