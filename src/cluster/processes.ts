/**
 * Replica process management for `pbft up` / `pbft down`: detached processes in their own
 * process groups, pid files, liveness checks that survive pid reuse, readiness detection from
 * the replica's `{"event":"ready"}` line, and a stop that escalates SIGTERM -> SIGKILL and
 * verifies that nothing is left.
 */
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { DEFAULT_HEAP_GROWTH_PERCENT, clusterPaths, readReplicaOverrides } from '../runtime/config.js';
import { abortError, describeError } from '../errors.js';
import { linesBackward } from '../phaselog/reader.js';
import { CliError } from './errors.js';
import { cmd } from './hints.js';

export interface ReplicaFiles {
  dir: string;
  pidFile: string;
  logFile: string;
  phasesFile: string;
}

/** The per-replica files of the cluster directory layout. */
export function replicaFiles(clusterDir: string, id: number): ReplicaFiles {
  const p = clusterPaths(clusterDir);
  return { dir: p.replicaDir(id), pidFile: p.pid(id), logFile: p.processLog(id), phasesFile: p.phases(id) };
}

/** The package root (the directory holding package.json), from this file's location. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, 'package.json'))) return d;
    d = dirname(d);
  }
  throw new Error('cannot locate the pbft package root');
}

/** The compiled replica entry point. */
export function defaultReplicaEntry(): string {
  return join(packageRoot(), 'dist', 'runtime', 'replica-main.js');
}

export async function readPidFile(path: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  const t = text.trim();
  if (!/^[1-9][0-9]{0,9}$/.test(t)) return null;
  const pid = Number(t);
  return pid <= 0x7fffffff ? pid : null;
}

/** The fields of /proc/<pid>/stat that we read. */
export interface ProcStat {
  /** R, S, D, T (stopped by a signal), t (stopped by a tracer), Z (zombie), X (dead), ... */
  state: string;
  ppid: number;
  pgrp: number;
}

/** /proc/<pid>/stat, or null when it cannot be read (the process is gone, or there is no procfs). */
export async function readProcStat(pid: number | string): Promise<ProcStat | null> {
  let st: string;
  try {
    st = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so the fields are
  // counted from the last ')'
  const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', ppid: Number(rest[1]), pgrp: Number(rest[2]) };
}

/** The process's command line (/proc/<pid>/cmdline), or null when it cannot be read. */
export async function readCmdline(pid: number): Promise<string[] | null> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  } catch {
    return null;
  }
}

/** /proc/<pid>/stat can be read here (Linux): a missing entry then means the process is gone */
const HAS_PROCFS = existsSync('/proc/self/stat');

/** Is the process alive (not gone and not a zombie)? */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = await readProcStat(pid);
  // No entry: either no procfs here (trust kill(0)), or the process was reaped between kill(0)
  // and the read: a zombie whose parent (this process, for replicas it started) collected it
  // (found by a flaky test: stopReplicas saw it gone, then this said alive).
  if (st === null) return !HAS_PROCFS;
  return st.state !== 'Z' && st.state !== 'X';
}

/** Is the process stopped by a signal (SIGSTOP: state T, or t under a tracer)? false when it cannot tell. */
export async function isPaused(pid: number): Promise<boolean> {
  const st = await readProcStat(pid);
  return st !== null && (st.state === 'T' || st.state === 't');
}

/** Does the live process `pid` look like replica `id` (guards against pid reuse)? */
export async function looksLikeReplica(pid: number, id: number): Promise<boolean> {
  const args = await readCmdline(pid);
  if (args === null) return true; // no procfs: cannot tell, trust the pid file
  const i = args.indexOf('--id');
  return i >= 0 && args[i + 1] === String(id);
}

export interface ReplicaProcessState {
  id: number;
  pid: number | null;
  running: boolean;
  /** a pid file whose process is gone (or is another program) */
  stalePidFile: boolean;
}

export async function replicaProcessState(clusterDir: string, id: number): Promise<ReplicaProcessState> {
  const f = replicaFiles(clusterDir, id);
  const pid = await readPidFile(f.pidFile);
  if (pid === null) return { id, pid: null, running: false, stalePidFile: existsSync(f.pidFile) };
  const running = (await isAlive(pid)) && (await looksLikeReplica(pid, id));
  return { id, pid: running ? pid : null, running, stalePidFile: !running };
}

/**
 * The last `n` lines of a file (before byte `end`, default its end), trailing blank lines left
 * out ([] when it cannot be read): read backwards (linesBackward).
 */
export async function tailLines(path: string, n: number, o: { end?: number } = {}): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const line of linesBackward(path, o)) {
      if (out.length >= n) break;
      if (out.length === 0 && line.trim() === '') continue;
      out.push(line);
    }
  } catch {
    return [];
  }
  return out.reverse();
}

/** Can we listen on host:port right now? */
export function portAvailable(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => res(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => res(true)));
  });
}

/** A base port such that base..base+count-1 are all free on host (best effort, racy by nature). */
export async function findFreePortRange(count: number, host = '127.0.0.1', attempts = 50): Promise<number> {
  for (let a = 0; a < attempts; a++) {
    const base = 20000 + Math.floor(Math.random() * (60000 - 20000 - count));
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await portAvailable(host, base + i);
    if (ok) return base;
  }
  throw new CliError('NO_FREE_PORTS', `could not find ${count} consecutive free ports on ${host}`, 'free some ports or pass --base-port');
}

// ---------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------

export interface ReplicaEndpoint {
  id: number;
  host: string;
  port: number;
}

export type StartOutcome =
  | { id: number; status: 'already-running'; pid: number }
  | { id: number; status: 'ready'; pid: number; readyMs: number }
  | { id: number; status: 'not-ready'; pid: number }
  | { id: number; status: 'exited'; pid: number | null; exitCode: number | null; signal: string | null; lastLines: string[] };

export interface StartOptions {
  dir: string;
  replicas: ReplicaEndpoint[];
  /** ids to start (default: all) */
  ids?: number[];
  /** script run with `node <entry> --dir D --id I` */
  entry?: string;
  /** extra arguments for every replica */
  extraArgs?: string[];
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: { ready: number; total: number; pending: number[] }) => void;
  /** how many log lines to show for a replica that died */
  logLines?: number;
}

const READY_POLL_MS = 100;

/** Does a chunk of a replica's stdout contain its ready line? */
export function containsReadyLine(text: string): boolean {
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{') || !t.includes('ready')) continue;
    try {
      const v = JSON.parse(t) as { event?: unknown };
      if (v && v.event === 'ready') return true;
    } catch {
      /* not JSON */
    }
  }
  return false;
}

async function readFrom(path: string, offset: number, maxBytes = 1 << 20): Promise<string> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    const { size } = await fh.stat();
    if (size <= offset) return '';
    const len = Math.min(size - offset, maxBytes);
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, offset);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch {
    return '';
  } finally {
    await fh?.close();
  }
}

/**
 * Extra node flags for replica processes, from PBFT_REPLICA_NODE_ARGS (whitespace-separated),
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a real cluster (node refuses
 * --cpu-prof in NODE_OPTIONS). Only flags (each must start with `-`) are accepted.
 */
export function replicaNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.PBFT_REPLICA_NODE_ARGS?.trim();
  if (!raw) return [];
  const args = raw.split(/\s+/);
  const bad = args.find((a) => !a.startsWith('-'));
  if (bad !== undefined)
    throw new CliError(
      'BAD_ARGUMENT',
      `PBFT_REPLICA_NODE_ARGS: ${JSON.stringify(bad)} is not a node flag`,
      'give node flags only, e.g. PBFT_REPLICA_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"',
    );
  return args;
}

/**
 * The node flags a replica's replica.json asks for (its heap growth, see
 * ReplicaOverridesSchema.heapGrowthPercent), before PBFT_REPLICA_NODE_ARGS, whose flags come
 * later and so win. A replica.json that cannot be read or is invalid gives the defaults here:
 * the replica itself reads it again and reports what is wrong with it.
 */
export async function replicaHeapArgs(clusterDir: string, id: number): Promise<string[]> {
  const o = await readReplicaOverrides(clusterPaths(clusterDir).replicaJson(id), id).catch(() => ({ heapGrowthPercent: undefined }));
  const percent = o.heapGrowthPercent ?? DEFAULT_HEAP_GROWTH_PERCENT;
  return percent > 0 ? [`--heap-growing-percent=${percent}`] : [];
}

/**
 * Start the given replicas detached (own process group, stdout/stderr to process.log, pid
 * file) and wait until each prints its ready line, dies, or the timeout passes. Replicas
 * already running are left alone. Ports are checked before anything is spawned.
 */
export async function startReplicas(o: StartOptions): Promise<StartOutcome[]> {
  const dir = resolve(o.dir);
  const entry = o.entry ?? defaultReplicaEntry();
  if (!existsSync(entry)) {
    throw new CliError('NOT_BUILT', `the replica program ${entry} does not exist`, 'run `npm run build` (npm install does it for you)');
  }
  const ids = o.ids ?? o.replicas.map((r) => r.id);
  const byId = new Map(o.replicas.map((r) => [r.id, r]));
  const outcomes = new Map<number, StartOutcome>();
  const toStart: ReplicaEndpoint[] = [];
  for (const id of ids) {
    const ep = byId.get(id);
    if (!ep) throw new CliError('UNKNOWN_REPLICA', `unknown replica id ${id}`, `this cluster has replicas 0..${o.replicas.length - 1}`);
    const st = await replicaProcessState(dir, id);
    if (st.running) outcomes.set(id, { id, status: 'already-running', pid: st.pid! });
    else toStart.push(ep);
  }
  for (const ep of toStart) {
    if (!(await portAvailable(ep.host, ep.port))) {
      throw new CliError(
        'PORT_IN_USE',
        `port ${ep.port} on ${ep.host} (replica ${ep.id}) is already in use by another process`,
        `stop that process, or re-create the cluster on free ports with ${cmd('init --force', o.dir)} (it picks free ones)`,
      );
    }
  }

  interface Pending {
    ep: ReplicaEndpoint;
    pid: number;
    logFile: string;
    offset: number;
    startedAt: number;
    exit: { exitCode: number | null; signal: string | null } | null;
    /** settles when the process has exited and p.exit is set */
    exited: Promise<void>;
  }
  const pending: Pending[] = [];
  for (const ep of toStart) {
    if (o.signal?.aborted) break;
    const f = replicaFiles(dir, ep.id);
    await mkdir(f.dir, { recursive: true });
    await rm(f.pidFile, { force: true });
    const fd = openSync(f.logFile, 'a', 0o644);
    let offset: number;
    try {
      writeSync(fd, `--- pbft up: starting replica ${ep.id} at ${new Date().toISOString()} ---\n`);
      offset = (await stat(f.logFile)).size;
      const sub = execa(
        process.execPath,
        [...(await replicaHeapArgs(dir, ep.id)), ...replicaNodeArgs(), entry, '--dir', dir, '--id', String(ep.id), ...(o.extraArgs ?? [])],
        {
          detached: true,
          cleanup: false,
          reject: false,
          buffer: false,
          stdin: 'ignore',
          // a raw file descriptor: the replica writes straight to process.log and outlives us
          // (execa accepts any fd at run time; its types only list 3..9)
          stdout: fd as 3,
          stderr: fd as 3,
          cwd: dir,
          env: { ...process.env, PBFT_REPLICA_ID: String(ep.id) },
        },
      );
      if (sub.pid === undefined) {
        const r = await sub;
        throw new CliError(
          'SPAWN_FAILED',
          `could not start replica ${ep.id}: ${'message' in r ? String(r.message) : 'spawn failed'}`,
          `check that node can run ${entry}`,
        );
      }
      const p: Pending = { ep, pid: sub.pid, logFile: f.logFile, offset, startedAt: performance.now(), exit: null, exited: Promise.resolve() };
      p.exited = sub.then(
        (r) => {
          p.exit = { exitCode: r.exitCode ?? null, signal: r.signal ?? null };
        },
        () => undefined,
      );
      sub.unref();
      await writeFile(f.pidFile, `${sub.pid}\n`, { mode: 0o644 });
      pending.push(p);
    } finally {
      closeSync(fd);
    }
  }

  const timeoutMs = o.readyTimeoutMs ?? 30_000;
  const t0 = performance.now();
  const total = ids.length;
  const notify = () =>
    o.onProgress?.({
      ready: [...outcomes.values()].filter((x) => x.status === 'ready' || x.status === 'already-running').length,
      total,
      pending: pending.map((p) => p.ep.id),
    });
  notify();
  while (pending.length > 0) {
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i]!;
      const text = await readFrom(p.logFile, p.offset);
      if (containsReadyLine(text)) {
        outcomes.set(p.ep.id, { id: p.ep.id, status: 'ready', pid: p.pid, readyMs: performance.now() - p.startedAt });
        pending.splice(i, 1);
        continue;
      }
      if (p.exit || !(await isAlive(p.pid))) {
        // gone: its exit status arrives through the child's exit event, possibly a moment later
        if (!p.exit) await Promise.race([p.exited, new Promise((r) => setTimeout(r, 1000))]);
        await rm(replicaFiles(dir, p.ep.id).pidFile, { force: true });
        outcomes.set(p.ep.id, {
          id: p.ep.id,
          status: 'exited',
          pid: p.pid,
          exitCode: p.exit?.exitCode ?? null,
          signal: p.exit?.signal ?? null,
          lastLines: await tailLines(p.logFile, o.logLines ?? 15),
        });
        pending.splice(i, 1);
      }
    }
    notify();
    if (pending.length === 0) break;
    if (o.signal?.aborted || performance.now() - t0 > timeoutMs) {
      for (const p of pending) outcomes.set(p.ep.id, { id: p.ep.id, status: 'not-ready', pid: p.pid });
      break;
    }
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
  return ids.map((id) => outcomes.get(id)!).filter(Boolean);
}

// ---------------------------------------------------------------------------------------
// Signals (pbft down, pbft fault)
// ---------------------------------------------------------------------------------------

/**
 * Send `sig` to the process group that `pid` leads (a replica started by pbft up leads its
 * own), or to the process alone when it leads none (started otherwise, e.g. by tests). Throws
 * the error of kill(2) when neither can be signalled: ESRCH, the process is gone; EPERM, it is
 * not ours.
 */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    process.kill(pid, sig);
  }
}

async function groupAlive(pid: number): Promise<boolean> {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPERM') return true;
    return isAlive(pid);
  }
}

/** Is any non-zombie process left in the group led by pid? */
async function groupAliveNonZombie(pgid: number): Promise<boolean> {
  if (!(await groupAlive(pgid))) return false;
  // kill(-pgid, 0) also succeeds for zombies; look at procfs when it is there
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return true;
  }
  for (const e of entries) {
    if (!/^[0-9]+$/.test(e)) continue;
    const st = await readProcStat(e); // null: raced with its exit
    if (st !== null && st.pgrp === pgid && st.state !== 'Z' && st.state !== 'X') return true;
  }
  return false;
}

/**
 * Wait until the process and every other process of the group it leads are gone (zombies
 * count as gone): true, or false after `timeoutMs`. Throws ABORTED when `signal` fires.
 */
export async function waitGone(pid: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (!(await isAlive(pid)) && !(await groupAliveNonZombie(pid))) return true;
    if (performance.now() >= until) return false;
    if (signal?.aborted) throw abortError(signal);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Wait until the process is paused (or no longer paused), or gone: true, or false after `timeoutMs`. */
export async function waitPaused(pid: number, paused: boolean, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if ((await isPaused(pid)) === paused || !(await isAlive(pid))) return true;
    if (performance.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---------------------------------------------------------------------------------------
// Stop
// ---------------------------------------------------------------------------------------

export type StopOutcome =
  | { id: number; status: 'not-running'; stalePidFile: boolean }
  | { id: number; status: 'stopped'; pid: number; signal: 'SIGTERM' | 'SIGKILL'; stopMs: number };

export interface StopOptions {
  dir: string;
  ids: number[];
  /** time between SIGTERM and SIGKILL */
  graceMs?: number;
}

/** Stop replicas: SIGTERM to the group, a grace period, then SIGKILL. Idempotent. */
export async function stopReplicas(o: StopOptions): Promise<StopOutcome[]> {
  const dir = resolve(o.dir);
  const graceMs = o.graceMs ?? 5000;
  return Promise.all(
    o.ids.map(async (id): Promise<StopOutcome> => {
      const f = replicaFiles(dir, id);
      const st = await replicaProcessState(dir, id);
      if (!st.running || st.pid === null) {
        await rm(f.pidFile, { force: true });
        return { id, status: 'not-running', stalePidFile: st.stalePidFile };
      }
      const pid = st.pid;
      /** a process that is already gone is stopped; one we may not signal is an error at once */
      const send = (sig: NodeJS.Signals) => {
        try {
          signalGroup(pid, sig);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ESRCH') return;
          throw new CliError('STOP_FAILED', `replica ${id} (pid ${pid}) could not be sent ${sig}: ${describeError(e)}`, `check it with \`ps -p ${pid}\``);
        }
      };
      const t0 = performance.now();
      send('SIGTERM');
      let sig: 'SIGTERM' | 'SIGKILL' = 'SIGTERM';
      if (!(await waitGone(pid, graceMs))) {
        sig = 'SIGKILL';
        send('SIGKILL');
        if (!(await waitGone(pid, 5000))) {
          throw new CliError('STOP_FAILED', `replica ${id} (pid ${pid}) is still alive after SIGKILL`, `check it with \`ps -p ${pid}\``);
        }
      }
      await rm(f.pidFile, { force: true });
      return { id, status: 'stopped', pid, signal: sig, stopMs: performance.now() - t0 };
    }),
  );
}

/** Replica ids that have a directory under <dir>/replicas (for a cluster whose config is broken). */
export async function discoverReplicaIds(clusterDir: string): Promise<number[]> {
  try {
    const names = await readdir(clusterPaths(clusterDir).replicasDir);
    return names
      .filter((x) => /^(0|[1-9][0-9]{0,2})$/.test(x))
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}
