/**
 * `pbft fault` on real clusters (issue 4), through the library the command is built on
 * (src/cluster/faults.ts) and, for a few cases, through the built CLI (node bin/run.js fault).
 * Replicas are started as `pbft up` starts them (detached, pid files), so crash / restart /
 * pause / resume act exactly as they do for a user. Conditions are awaited by polling status
 * with a deadline; every process is killed in afterAll. The last test runs the demo's fault acts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomSecretKey } from '../../src/crypto/index.js';
import { primaryOf } from '../../src/core/quorum.js';
import { fetchStatus, type RuntimeStatus } from '../../src/runtime/admin.js';
import { PbftClient } from '../../src/runtime/client.js';
import type { LoadedCluster } from '../../src/runtime/config.js';
import { initCluster, type InitOptions } from '../../src/runtime/init.js';
import { injectFault } from '../../src/cluster/faults.js';
import { listFaults } from '../../src/cluster/fault-list.js';
import type { FaultRequest } from '../../src/cluster/fault-request.js';
import { replicaRunState } from '../../src/cluster/fault-state.js';
import { upCluster, upFailure } from '../../src/cluster/lifecycle.js';
import { clusterStatus } from '../../src/cluster/status.js';
import { DEFAULT_ACTS, runDemo } from '../../src/cluster/demo.js';
import { palette } from '../../src/cluster/format.js';
import { ROOT, ensureBuilt, freePorts, kv, waitFor } from '../helpers/cluster.js';

const BIN = path.join(ROOT, 'bin', 'run.js');
const FAST = { checkpointInterval: 4, logWindow: 8, viewChangeTimeoutMs: 400, maxViewChangeTimeoutMs: 3200 };

/** Every replica pid seen; SIGKILLed on exit whatever happens. */
const seenPids = new Set<number>();
process.on('exit', () => {
  for (const pid of seenPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

interface Harness {
  cluster: LoadedCluster;
  n: number;
  all: number[];
  client: PbftClient;
  fault(req: FaultRequest): ReturnType<typeof injectFault>;
  status(id: number): Promise<RuntimeStatus>;
  /** k puts that must all complete */
  puts(k: number, prefix: string): Promise<void>;
  /** await the listed replicas at the same lastExecuted (>= min) and stateDigest */
  converged(ids: number[], minExecuted?: number, timeoutMs?: number): Promise<RuntimeStatus[]>;
  phases(id: number): string;
  cleanup(): Promise<void>;
}

async function startCluster(o: Partial<InitOptions> = {}): Promise<Harness> {
  await ensureBuilt();
  const n = o.replicas ?? (o.faults !== undefined ? 3 * o.faults + 1 : 4);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-fault-'));
  const { cluster } = await initCluster({ ...o, dir, replicas: n, ports: await freePorts(n) });
  const all = [...Array(n).keys()];
  const track = async () => {
    for (const id of all) {
      const p = await replicaRunState(cluster, id);
      if (p.pid !== null) seenPids.add(p.pid);
    }
  };
  let client: PbftClient | null = null;
  const cleanup = async () => {
    client?.close();
    await track();
    for (const pid of seenPids) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          /* gone, or not a group */
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const up = await upCluster(cluster, { readyTimeoutMs: 30_000 });
    await track();
    const failure = upFailure(cluster, up);
    if (failure) throw failure;
    client = await PbftClient.connect(cluster);
  } catch (e) {
    await cleanup();
    throw e;
  }
  const c = client;
  let seq = 0;
  const h: Harness = {
    cluster,
    n,
    all,
    client: c,
    async fault(req) {
      const r = await injectFault(cluster, req, { timeoutMs: 5000, readyTimeoutMs: 30_000 });
      await track();
      return r;
    },
    status: (id) => fetchStatus(cluster, id, { timeoutMs: 5000 }),
    async puts(k, prefix) {
      for (let i = 0; i < k; i++) {
        const key = `${prefix}-${seq++}`;
        const r = await c.request(kv.put(key, `v-${key}`), { timeoutMs: 20_000 });
        expect(JSON.parse(r.result)).toEqual({ ok: true, value: null });
      }
    },
    async converged(ids, minExecuted = 0, timeoutMs = 30_000) {
      let last: RuntimeStatus[] = [];
      try {
        return await waitFor(
          async () => {
            last = await Promise.all(ids.map((id) => h.status(id)));
            const [a] = last;
            return last.every((s) => s.lastExecuted === a!.lastExecuted && s.stateDigest === a!.stateDigest && s.view === a!.view && !s.viewChanging) &&
              a!.lastExecuted >= minExecuted
              ? last
              : undefined;
          },
          { timeoutMs, what: `replicas ${ids.join(',')} to converge` },
        );
      } catch (e) {
        throw new Error(
          `${(e as Error).message}; last seen: ${last.map((s) => `r${s.id} view ${s.view}${s.viewChanging ? '*' : ''} exec ${s.lastExecuted} ckpt ${s.stableCheckpoint} ${s.stateDigest.slice(0, 8)}`).join('; ')}`,
        );
      }
    },
    phases: (id) => readFileSync(cluster.paths.phases(id), 'utf8'),
    cleanup,
  };
  return h;
}

/** Run the built CLI. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Pairs of replicas at the same lastExecuted must have the same state digest. */
function divergence(samples: RuntimeStatus[][]): string | null {
  for (const st of samples)
    for (const a of st)
      for (const b of st)
        if (a.id < b.id && a.lastExecuted === b.lastExecuted && a.stateDigest !== b.stateDigest)
          return `r${a.id} and r${b.id} at ${a.lastExecuted}: ${a.stateDigest.slice(0, 8)} vs ${b.stateDigest.slice(0, 8)}`;
  return null;
}

describe('pbft fault on a 4-replica cluster', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startCluster({ replicas: 4, protocol: FAST });
  }, 90_000);
  afterAll(async () => {
    await h?.cleanup();
  });

  it('primary crash: requests still complete, the others agree on a new view, the old primary restarted catches up', async () => {
    await h.puts(3, 'pre');
    const before = await h.converged(h.all, 3);
    const crashed = await h.fault({ target: 'primary', action: 'crash' });
    expect(crashed.replica).toBe(before[0]!.primary);
    expect(crashed.primary).toMatchObject({ primary: before[0]!.primary, view: before[0]!.view });
    expect(crashed.process.state).toBe('crashed');
    const old = crashed.replica;
    expect((await listFaults(h.cluster)).find((r) => r.id === old)).toMatchObject({ state: 'crashed', active: ['crashed'], pid: null });
    expect((await clusterStatus(h.cluster)).find((r) => r.id === old)).toMatchObject({ process: 'crashed', faults: ['crashed'], reachable: false });

    await h.puts(3, 'after-crash');
    const others = h.all.filter((i) => i !== old);
    const st = await h.converged(others);
    expect(st[0]!.view).toBeGreaterThan(before[0]!.view);
    expect(primaryOf(st[0]!.view, 4)).not.toBe(old);

    const restarted = await h.fault({ target: old, action: 'restart' });
    expect(restarted).toMatchObject({ changed: true, process: { state: 'running' } });
    await h.puts(1, 'after-restart');
    const all = await h.converged(h.all, st[0]!.lastExecuted + 1);
    expect(new Set(all.map((s) => s.stateDigest)).size).toBe(1);

    // the merged log shows the crash and the reaction
    expect(h.phases(old)).toMatch(/"phase":"fault".*"action":"crash"/);
    const reaction = others.map((i) => h.phases(i)).join('');
    for (const phase of ['view-change', 'new-view', 'enter-view']) expect(reaction).toContain(`"phase":"${phase}"`);
  });

  it('equivocating primary: correct replicas never diverge, a view change replaces it, requests complete', async () => {
    const before = await h.converged(h.all);
    const r = await h.fault({ target: 'primary', action: 'byzantine', strategy: 'equivocate' });
    const liar = r.replica;
    expect(r.faults?.byzantine).toBe('equivocate');
    const correct = h.all.filter((i) => i !== liar);
    const samples: RuntimeStatus[][] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push(await Promise.all(correct.map((id) => h.status(id))).catch(() => []));
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    try {
      // Each pre-prepare goes to a random split of the backups. When the real one reaches two
      // backups, they and the primary's own commit still form a quorum and the request commits
      // in the view; otherwise no quorum forms and the backups change view. So put until the
      // view changes (one put in two does, on average), not a fixed number of times.
      let puts = 0;
      do {
        await h.puts(1, `eq${puts}`);
        puts++;
      } while (puts < 24 && (await h.status(correct[0]!)).view === before[0]!.view);
      const st = await h.converged(correct, before[0]!.lastExecuted + puts);
      expect(st[0]!.view).toBeGreaterThan(before[0]!.view);
      expect(st[0]!.primary).not.toBe(liar);
    } finally {
      sampling = false;
      await sampler;
    }
    expect(samples.length).toBeGreaterThan(3);
    expect(divergence(samples)).toBe(null);
    expect((await h.status(liar)).faults.byzantineCounters).not.toEqual({});
    expect((await h.fault({ target: liar, action: 'clear' })).faults?.active).toEqual([]);
    await h.puts(1, 'eq-after');
    await h.converged(h.all);
  });

  it('corrupt-state on a backup: detected at the next checkpoint, repaired by state transfer', async () => {
    const before = await h.converged(h.all);
    const victim = h.all.find((i) => i !== before[0]!.primary)!;
    await h.fault({ target: victim, action: 'byzantine', strategy: 'corrupt-state' });
    await h.fault({ target: victim, action: 'clear' }); // the state stays corrupt: the honest core must find and repair it
    await h.puts(2 * FAST.checkpointInterval, 'cs');
    const st = await h.converged(h.all, before[0]!.lastExecuted + 2 * FAST.checkpointInterval);
    expect(new Set(st.map((s) => s.stateDigest)).size).toBe(1);
    const log = h.phases(victim);
    expect(log).toContain('differs from the stable one');
    expect(log).toContain('installed state');
  });

  it('wrong-reply on one replica: the client still gets the right answer', async () => {
    const liar = h.all.find((i) => i !== h.client.view % 4)!;
    await h.fault({ target: liar, action: 'byzantine', strategy: 'wrong-reply' });
    for (let i = 0; i < 4; i++) {
      const put = await h.client.request(kv.put(`wr${i}`, `good${i}`));
      expect(put.replicas).not.toContain(liar);
      const get = await h.client.request(kv.get(`wr${i}`));
      expect(JSON.parse(get.result)).toEqual({ ok: true, value: `good${i}` });
      expect(get.replicas).not.toContain(liar);
    }
    expect(Object.values((await h.status(liar)).faults.byzantineCounters).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    await h.fault({ target: liar, action: 'clear' });
  });

  it('pause / resume and isolate / heal: the replica falls behind, then catches up', async () => {
    const before = await h.converged(h.all);
    const backup = h.all.find((i) => i !== before[0]!.primary)!;
    const paused = await h.fault({ target: backup, action: 'pause' });
    expect(paused.process.state).toBe('paused');
    expect((await listFaults(h.cluster)).find((r) => r.id === backup)).toMatchObject({ state: 'paused', active: ['paused'] });
    await expect(h.fault({ target: backup, action: 'isolate' })).rejects.toMatchObject({ code: 'REPLICA_PAUSED' });
    try {
      await h.puts(3, 'pause');
    } finally {
      await h.fault({ target: backup, action: 'resume' });
    }
    expect((await replicaRunState(h.cluster, backup)).state).toBe('running');
    const top = (await h.status(before[0]!.primary)).lastExecuted;
    await h.converged(h.all, top);

    const iso = await h.fault({ target: backup, action: 'isolate' });
    expect(iso.faults?.active).toEqual(['isolate']);
    await h.puts(3, 'iso');
    const [p, b] = await Promise.all([h.status(before[0]!.primary), h.status(backup)]);
    expect(b.lastExecuted).toBeLessThan(p.lastExecuted);
    expect((b.runtimeDropped['fault-isolated-in'] ?? 0) + (b.runtimeDropped['fault-isolated-out'] ?? 0)).toBeGreaterThan(0);
    expect((await h.fault({ target: backup, action: 'heal' })).faults?.active).toEqual([]);
    await h.converged(h.all, p.lastExecuted);
  });

  it('client links: the primary cut from every client still orders (the others forward and reply); delay on client links only', async () => {
    const before = await h.converged(h.all);
    const primary = before[0]!.primary;
    const cut = await h.fault({ target: primary, action: 'partition', from: [], clients: true });
    expect(cut.faults?.active).toEqual(['partition from clients']);
    await h.puts(3, 'clientcut');
    const p = await h.status(primary);
    expect(p.faults.net.clients.partitioned).toBe(true);
    // it dropped requests and replies, yet it still ordered them as primary
    expect((p.runtimeDropped['fault-partitioned-in'] ?? 0) + (p.runtimeDropped['fault-partitioned-out'] ?? 0)).toBeGreaterThan(0);
    expect(p.view).toBe(before[0]!.view);
    expect((await h.fault({ target: primary, action: 'heal', from: [], clients: true })).faults?.active).toEqual([]);
    const slow = await h.fault({ target: primary, action: 'delay', ms: 30, link: 'clients' });
    expect(slow.faults?.active).toEqual(['delay 30ms (client links)']);
    expect((await h.status(primary)).faults.net).toMatchObject({ delayMs: 0, clients: { delayMs: 30 } });
    await h.puts(2, 'clientdelay');
    await h.fault({ target: primary, action: 'clear' });
    await h.converged(h.all);
  });

  it('the CLI: fault, fault list and validation, with --json', async () => {
    const dir = h.cluster.dir;
    const st = await h.converged(h.all);
    const backup = h.all.find((i) => i !== st[0]!.primary)!;
    const part = await cli([
      'fault',
      String(backup),
      'partition',
      '--from',
      h.all
        .filter((i) => i !== backup)
        .slice(0, 2)
        .join(','),
      '--dir',
      dir,
      '--json',
    ]);
    expect(part.code, part.stderr).toBe(0);
    expect(JSON.parse(part.stdout)).toMatchObject({
      ok: true,
      replica: backup,
      action: 'partition',
      faults: { active: [expect.stringMatching(/^partition from /)] },
    });
    const delay = await cli(['fault', 'primary', 'delay', '--ms', '5', '--jitter', '2', '--dir', dir]);
    expect(delay.code, delay.stderr).toBe(0);
    expect(delay.stdout).toMatch(new RegExp(`^replica ${st[0]!.primary}: network fault: delay 5ms ±2ms \\(the primary of view ${st[0]!.view}`));
    const list = await cli(['fault', 'list', '--dir', dir, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as { id: number; state: string; active: string[] }[];
    expect(rows.find((r) => r.id === backup)!.active[0]).toMatch(/^partition from /);
    expect(rows.find((r) => r.id === st[0]!.primary)!.active).toEqual(['delay 5ms ±2ms']);
    const human = await cli(['fault', 'list', '--dir', dir]);
    expect(human.stdout).toContain('2 of 4 replicas have faults in force');
    for (const id of [backup, st[0]!.primary]) await h.fault({ target: id, action: 'clear' });
    expect((await listFaults(h.cluster)).every((r) => r.active.length === 0)).toBe(true);

    const bad = await cli(['fault', '1', 'drop', '--rate', '1.5', '--dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('Error: --rate must be a number from 0 to 1 (a fraction of the messages), got "1.5".');
    const strat = await cli(['fault', '1', 'byzantine', 'teleport', '--dir', dir, '--json']);
    expect(strat.code).toBe(2);
    expect(JSON.parse(strat.stdout)).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT', message: 'unknown Byzantine strategy "teleport"' } });
    expect((await cli(['fault', '7', 'crash', '--dir', dir])).stderr).toMatch(/^Error: unknown replica 7: this cluster has replicas 0-3/);
    await h.converged(h.all);
  });

  it('a command signed with another key is refused, and says so', async () => {
    await h.fault({ target: 1, action: 'isolate' });
    const forged = injectFault(h.cluster, { target: 1, action: 'byzantine', strategy: 'silent' }, { operatorSecret: randomSecretKey() });
    await expect(forged).rejects.toMatchObject({ code: 'ADMIN_REFUSED', message: expect.stringContaining("not the operator's") });
    expect((await h.status(1)).faults).toMatchObject({ byzantine: null, active: ['isolate'] });
    await h.fault({ target: 1, action: 'clear' });
    expect((await h.status(1)).faults.active).toEqual([]);
  });

  it('more than f replicas crashed: requests fail with "no quorum" within their timeout, and succeed once enough restart', async () => {
    const st = await h.converged(h.all);
    const victims = h.all.filter((i) => i !== st[0]!.primary).slice(0, 2);
    for (const v of victims) await h.fault({ target: v, action: 'crash' });
    const t0 = performance.now();
    await expect(h.client.request(kv.put('nq', 'x'), { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'NO_QUORUM',
      message: expect.stringMatching(/^no quorum: .* within 2000 ms/),
    });
    expect(performance.now() - t0).toBeLessThan(8000);
    await expect(h.fault({ target: 'primary', action: 'crash' })).rejects.toMatchObject({
      code: 'NO_PRIMARY',
      message: expect.stringContaining('no primary that a quorum (3) of running replicas agree on'),
    });
    await h.fault({ target: victims[0]!, action: 'restart' });
    const r = await h.client.request(kv.put('nq2', 'y'), { timeoutMs: 30_000 });
    expect(JSON.parse(r.result).ok).toBe(true);
    await h.fault({ target: victims[1]!, action: 'restart' });
    // Every replica ends with the same state. Views may differ: while only two replicas ran,
    // the live backup's request timer could expire and it went into a view change that no one
    // else joined (one view-change is not f+1). PBFT does not let it go back to the old view
    // (its VIEW-CHANGE promised not to), so it waits, executing by catch-up, for the next view
    // change; the other three serve in the old view meanwhile.
    const all = await waitFor(
      async () => {
        const s = await Promise.all(h.all.map((id) => h.status(id)));
        const same = s.every((x) => x.lastExecuted === s[0]!.lastExecuted && x.stateDigest === s[0]!.stateDigest);
        return same && s[0]!.lastExecuted >= st[0]!.lastExecuted + 1 ? s : undefined;
      },
      { timeoutMs: 30_000, what: 'every replica at the same state' },
    );
    const views = new Map<number, number>();
    for (const x of all) if (!x.viewChanging) views.set(x.view, (views.get(x.view) ?? 0) + 1);
    expect(Math.max(...views.values())).toBeGreaterThanOrEqual(3);
  });
});

describe('n = 7, f = 2: a crashed primary and a Byzantine backup at once', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startCluster({ faults: 2, protocol: FAST });
  }, 120_000);
  afterAll(async () => {
    await h?.cleanup();
  });

  it('requests complete and the correct replicas agree; healed, all seven converge', async () => {
    expect(h.cluster.params).toMatchObject({ n: 7, f: 2 });
    await h.puts(2, 'pre');
    await h.converged(h.all, 2);
    const crashed = (await h.fault({ target: 'primary', action: 'crash' })).replica;
    const liar = h.all.find((i) => i !== crashed && i !== (crashed + 1) % 7)!;
    await h.fault({ target: liar, action: 'byzantine', strategy: 'conflicting-votes' });
    const correct = h.all.filter((i) => i !== crashed && i !== liar);
    for (let i = 0; i < 4; i++) {
      const r = await h.client.request(kv.put(`s${i}`, `v${i}`), { timeoutMs: 30_000 });
      expect(JSON.parse(r.result)).toEqual({ ok: true, value: null });
      const g = await h.client.request(kv.get(`s${i}`), { timeoutMs: 30_000 });
      expect(JSON.parse(g.result)).toEqual({ ok: true, value: `v${i}` });
    }
    const st = await h.converged(correct, 10);
    expect(primaryOf(st[0]!.view, 7)).not.toBe(crashed);
    // the correct replicas logged what they rejected from the liar, and why
    expect(correct.map((i) => h.phases(i)).join('')).toMatch(new RegExp(`"phase":"drop","peer":${liar},"reason":"[a-z-]+"`));
    await h.fault({ target: liar, action: 'clear' });
    await h.fault({ target: crashed, action: 'restart' });
    await h.puts(1, 'healed');
    await h.converged(h.all, 11);
  });
});

describe('fault injection disabled', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startCluster({ replicas: 4, faultInjection: false });
  }, 90_000);
  afterAll(async () => {
    await h?.cleanup();
  });

  it('every fault is refused with the reason, signals included; listing still works', async () => {
    for (const req of [
      { target: 1, action: 'isolate' },
      { target: 1, action: 'byzantine', strategy: 'silent' },
      { target: 'primary', action: 'crash' },
      { target: 2, action: 'pause' },
    ] as FaultRequest[]) {
      await expect(h.fault(req)).rejects.toMatchObject({ code: 'ADMIN_REFUSED', message: expect.stringContaining('fault injection is disabled on replica') });
    }
    expect((await replicaRunState(h.cluster, 0)).state).toBe('running');
    const r = await cli(['fault', '1', 'isolate', '--dir', h.cluster.dir]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^Error: replica 1 refused the command: fault injection is disabled on replica 1 \(faultInjection is false in cluster\.json\)/);
    const list = await listFaults(h.cluster);
    expect(list.every((x) => x.faultInjection === false && x.active.length === 0 && x.state === 'running')).toBe(true);
    await h.puts(1, 'still-works');
  });
});

describe('argument errors before any cluster is touched', () => {
  it('names what is wrong in one line', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-fault-noclu-'));
    try {
      const r = await cli(['fault', '0', 'crash', '--dir', dir]);
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('no cluster in');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// (in this file, so that it does not run alongside the clusters above on a 2-core machine)
describe('pbft demo: the fault act', () => {
  it('crash of the primary, view change, restart and catch-up; corrupt state repaired; all agree', async () => {
    await ensureBuilt();
    const lines: string[] = [];
    const s = await runDemo({ out: (l) => lines.push(l), palette: palette(false), signal: new AbortController().signal });
    expect(DEFAULT_ACTS.map((a) => a.id)).toEqual(['requests', 'trace', 'crash-primary', 'corrupt-state', 'agreement']);
    expect(s.ok).toBe(true);
    expect(s.acts.every((a) => a.ok)).toBe(true);
    expect(s.requests.every((r) => r.ok)).toBe(true);
    const crash = s.results.crashPrimary as { crashed: number; fromView: number; toView: number; newPrimary: number; caughtUp: boolean };
    expect(crash.toView).toBeGreaterThan(crash.fromView);
    expect(crash.newPrimary).not.toBe(crash.crashed);
    expect(crash.caughtUp).toBe(true);
    expect(s.results.corruptState).toMatchObject({ repaired: true });
    expect((s.results.agreement as { digests: string[] }).digests).toHaveLength(1);
    const text = lines.join('\n');
    expect(text).toContain('$ pbft fault primary crash');
    expect(text).toMatch(/enter-view\s+primary is \d/);
    expect(text).toMatch(/state-transfer .*installed state/);
    expect(s.durationMs).toBeLessThan(60_000);
  }, 90_000);
});
