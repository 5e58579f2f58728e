/**
 * Real clusters for integration tests: `node dist/runtime/replica-main.js` processes on free
 * 127.0.0.1 ports in a temporary directory. Readiness is awaited from each process's stdout
 * ({"event":"ready"}); every process is killed in cleanup() and, as a last resort, on exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pickFreePorts } from '../../src/cluster/init.js';
import { fetchStatus, type RuntimeStatus } from '../../src/runtime/admin.js';
import { PbftClient, type ClientConnectOptions } from '../../src/runtime/client.js';
import type { LoadedCluster } from '../../src/runtime/config.js';
import { initCluster, type InitOptions } from '../../src/runtime/init.js';
import type { ReadyInfo } from '../../src/runtime/replica-node.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const REPLICA_MAIN = path.join(ROOT, 'dist', 'runtime', 'replica-main.js');

// ---------------------------------------------------------------------------------------
// Build
// ---------------------------------------------------------------------------------------

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

let built: Promise<void> | null = null;

/** Build dist/ (tsc) unless it is newer than every source file. Serialized across test files. */
export function ensureBuilt(): Promise<void> {
  built ??= (async () => {
    const lock = path.join(os.tmpdir(), `pbft-build-${Buffer.from(ROOT).toString('hex').slice(-24)}.lock`);
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch {
        try {
          if (Date.now() - statSync(lock).mtimeMs > 120_000) rmdirSync(lock);
        } catch {
          /* gone */
        }
        if (Date.now() > deadline) throw new Error(`build lock ${lock} held for too long`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    try {
      const fresh = existsSync(REPLICA_MAIN) && statSync(REPLICA_MAIN).mtimeMs >= newestMtime(path.join(ROOT, 'src'));
      if (!fresh) {
        const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
          cwd: ROOT,
          encoding: 'utf8',
        });
        // tsc still emits when some other file has a type error; only a missing entry point is fatal.
        if (!existsSync(REPLICA_MAIN)) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
        if (r.status !== 0) process.stderr.write(`warning: tsc reported errors (dist was still emitted):\n${r.stdout.split('\n').slice(0, 10).join('\n')}\n`);
      }
    } finally {
      rmdirSync(lock);
    }
  })();
  return built;
}

// ---------------------------------------------------------------------------------------
// Ports and waiting
// ---------------------------------------------------------------------------------------

/**
 * n free TCP ports on 127.0.0.1, consecutive and outside the kernel's ephemeral range (as `pbft
 * init` picks them): with two test workers, ports the kernel hands out for listen(0) or outgoing
 * connections could be taken by the other worker between the choice and the replicas' bind.
 */
export async function freePorts(n: number): Promise<number[]> {
  // never the same ones twice in this process: a test may pick two sets before binding either
  const ports = await pickFreePorts(n, { avoid: pickedPorts });
  if (!ports) throw new Error(`no ${n} consecutive free ports on 127.0.0.1 outside the ephemeral range`);
  for (const p of ports) pickedPorts.add(p);
  return ports;
}
const pickedPorts = new Set<number>();

/** Await a condition (polled); fails with `what` and the last value seen. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  o: { timeoutMs?: number; what?: string; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${o.what ?? 'a condition'}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 100));
  }
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

export interface ReplicaProc {
  id: number;
  child: ChildProcess;
  pid: number;
  stdout: string[];
  stderr: string[];
  ready: Promise<ReadyInfo>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface TestCluster {
  dir: string;
  cluster: LoadedCluster;
  n: number;
  procs: Map<number, ReplicaProc>;
  /** start a replica process and await its ready line */
  start(id: number, extraArgs?: string[]): Promise<ReadyInfo>;
  /** spawn without awaiting readiness */
  spawn(id: number, extraArgs?: string[]): ReplicaProc;
  startAll(ids?: number[]): Promise<void>;
  /** send a signal and await the exit */
  kill(id: number, signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM every running replica and await the exits */
  stopAll(): Promise<Map<number, { code: number | null; signal: NodeJS.Signals | null }>>;
  status(id: number): Promise<RuntimeStatus>;
  statuses(ids?: number[]): Promise<RuntimeStatus[]>;
  client(o?: ClientConnectOptions): Promise<PbftClient>;
  /** await every listed replica at the same lastExecuted (>= min) and stateDigest */
  waitConverged(o?: { ids?: number[]; minExecuted?: number; timeoutMs?: number }): Promise<RuntimeStatus[]>;
  /** kill everything, close clients, remove the directory */
  cleanup(): Promise<void>;
}

export interface TestClusterOptions extends Partial<Omit<InitOptions, 'dir' | 'ports'>> {
  /** keep the directory after cleanup (debugging) */
  keep?: boolean;
}

export async function createTestCluster(o: TestClusterOptions = {}): Promise<TestCluster> {
  await ensureBuilt();
  const n = o.replicas ?? (o.faults !== undefined ? 3 * o.faults + 1 : 4);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-test-'));
  const ports = await freePorts(n);
  const init = await initCluster({ ...o, dir, replicas: n, ports });
  const cluster = init.cluster;
  const procs = new Map<number, ReplicaProc>();
  const clients: PbftClient[] = [];

  const spawnReplica = (id: number, extraArgs: string[] = []): ReplicaProc => {
    const old = procs.get(id);
    if (old && old.child.exitCode === null && old.child.signalCode === null) throw new Error(`replica ${id} is already running (pid ${old.pid})`);
    const child = spawn(process.execPath, [REPLICA_MAIN, '--dir', dir, '--id', String(id), ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    live.add(child);
    const p: ReplicaProc = { id, child, pid: child.pid ?? -1, stdout: [], stderr: [], ready: null!, exited: null! };
    const logFile = cluster.paths.processLog(id);
    p.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      });
    });
    p.ready = new Promise<ReadyInfo>((resolve, reject) => {
      let buf = '';
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          p.stdout.push(line);
          try {
            const v = JSON.parse(line) as ReadyInfo;
            if (v.event === 'ready') resolve(v);
          } catch {
            /* not JSON */
          }
        }
      });
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        p.stderr.push(chunk);
        try {
          appendFileSync(logFile, chunk);
        } catch {
          /* directory removed */
        }
      });
      void p.exited.then(({ code, signal }) =>
        reject(
          new Error(`replica ${id} exited (code ${code}, signal ${signal}) before it was ready: ${p.stderr.join('').trim().split('\n').slice(-5).join(' | ')}`),
        ),
      );
    });
    p.ready.catch(() => undefined);
    procs.set(id, p);
    return p;
  };

  const isRunning = (p: ReplicaProc | undefined) => !!p && p.child.exitCode === null && p.child.signalCode === null;

  const tc: TestCluster = {
    dir,
    cluster,
    n,
    procs,
    spawn: spawnReplica,
    async start(id, extraArgs) {
      const p = spawnReplica(id, extraArgs);
      return withTimeout(p.ready, 30_000, `replica ${id} ready`);
    },
    async startAll(ids = [...Array(n).keys()]) {
      const ps = ids.map((id) => spawnReplica(id));
      await Promise.all(ps.map((p) => withTimeout(p.ready, 30_000, `replica ${p.id} ready`)));
    },
    async kill(id, signal = 'SIGKILL') {
      const p = procs.get(id);
      if (!p || !isRunning(p)) return { code: null, signal: null };
      p.child.kill(signal);
      return withTimeout(p.exited, 15_000, `replica ${id} exit after ${signal}`);
    },
    async stopAll() {
      const out = new Map<number, { code: number | null; signal: NodeJS.Signals | null }>();
      await Promise.all(
        [...procs.values()].filter(isRunning).map(async (p) => {
          p.child.kill('SIGTERM');
          out.set(p.id, await withTimeout(p.exited, 15_000, `replica ${p.id} exit after SIGTERM`));
        }),
      );
      return out;
    },
    status: (id) => fetchStatus(cluster, id, { timeoutMs: 5000 }),
    statuses: (ids = [...Array(n).keys()]) => Promise.all(ids.map((id) => fetchStatus(cluster, id, { timeoutMs: 5000 }))),
    async client(co) {
      const c = await PbftClient.connect(cluster, co);
      clients.push(c);
      return c;
    },
    async waitConverged(wo = {}) {
      const ids = wo.ids ?? [...procs.values()].filter(isRunning).map((p) => p.id);
      let last: RuntimeStatus[] = [];
      try {
        return await waitFor(
          async () => {
            last = await tc.statuses(ids);
            const e = last[0]!.lastExecuted;
            const d = last[0]!.stateDigest;
            return last.every((s) => s.lastExecuted === e && s.stateDigest === d && e >= (wo.minExecuted ?? 0)) ? last : undefined;
          },
          { timeoutMs: wo.timeoutMs ?? 30_000, what: `replicas ${ids.join(',')} to converge` },
        );
      } catch (e) {
        throw new Error(
          `${(e as Error).message}; last seen: ${last.map((s) => `${s.id}: view ${s.view} executed ${s.lastExecuted} stable ${s.stableCheckpoint} digest ${s.stateDigest.slice(0, 8)}`).join('; ')}`,
        );
      }
    },
    async cleanup() {
      for (const c of clients) c.close();
      await Promise.all(
        [...procs.values()].filter(isRunning).map(async (p) => {
          p.child.kill('SIGKILL');
          await withTimeout(p.exited, 10_000, `replica ${p.id} exit`).catch(() => undefined);
        }),
      );
      if (!o.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
  return tc;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** A put / get / del operation for the KV application. */
export const kv = {
  put: (key: string, value: string) => JSON.stringify({ op: 'put', key, value }),
  get: (key: string) => JSON.stringify({ op: 'get', key }),
  del: (key: string) => JSON.stringify({ op: 'del', key }),
};
