/** Running the built CLI in tests, and making sure no replica process outlives them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'run.js');
export const CLI_ENTRY = join(ROOT, 'dist', 'cli', 'commands', 'init.js');

/** Every pid seen in a test run, killed at the end whatever happens. */
const seenPids = new Set<number>();

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const ENV = { NO_COLOR: '1', CI: '1', FORCE_COLOR: '0' };

/** Run `pbft ...` to completion (never rejects; a hung command is killed after timeoutMs). */
export async function pbft(args: string[], o: { env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<CliResult> {
  const r = await execa(process.execPath, [BIN, ...args], {
    reject: false,
    env: { ...ENV, ...o.env },
    extendEnv: true,
    timeout: o.timeoutMs ?? 90_000,
    stdin: 'ignore',
    cwd: ROOT,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

export interface Follower {
  lines: string[];
  /** resolves once pred(lines) holds (checked on every new line) */
  waitUntil(pred: (lines: string[]) => boolean, timeoutMs?: number): Promise<void>;
  /** SIGINT, then the result */
  stop(): Promise<CliResult>;
}

/** Run a long-lived `pbft ...` (e.g. logs -f) and watch its stdout line by line. */
export function follow(args: string[]): Follower {
  const sub: ResultPromise = execa(process.execPath, [BIN, ...args], {
    reject: false,
    env: ENV,
    extendEnv: true,
    stdin: 'ignore',
    cwd: ROOT,
    timeout: 120_000,
  });
  const lines: string[] = [];
  let buf = '';
  const waiters: { pred: (l: string[]) => boolean; resolve: () => void }[] = [];
  const check = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.pred(lines)) {
        waiters[i]!.resolve();
        waiters.splice(i, 1);
      }
    }
  };
  sub.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.length > 0));
    check();
  });
  return {
    lines,
    waitUntil(pred, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        if (pred(lines)) return resolve();
        const t = setTimeout(() => reject(new Error(`follower: condition not met within ${timeoutMs} ms; got ${lines.length} lines`)), timeoutMs);
        waiters.push({
          pred,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
        void sub.then(() => reject(new Error(`follower exited before the condition held; ${lines.length} lines`)));
      });
    },
    async stop() {
      sub.kill('SIGINT');
      const r = await sub;
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
    },
  };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** The pids in replicas/<i>/replica.pid (null where there is none); remembered for cleanup. */
export async function pidsOf(dir: string, n: number): Promise<(number | null)[]> {
  const out: (number | null)[] = [];
  for (let i = 0; i < n; i++) {
    try {
      const pid = Number(readFileSync(join(dir, 'replicas', String(i), 'replica.pid'), 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0) {
        seenPids.add(pid);
        out.push(pid);
      } else out.push(null);
    } catch {
      out.push(null);
    }
  }
  return out;
}

export interface StatusRow {
  id: number;
  up: boolean;
  pid: number | null;
  view: number | null;
  primary: number | null;
  lastExecuted: number | null;
  stableCheckpoint: number | null;
  stateDigest: string | null;
}

/** Poll `pbft status --json` until pred holds (or fail after timeoutMs). */
export async function waitForStatus(dir: string, pred: (rows: StatusRow[]) => boolean, timeoutMs = 20_000): Promise<StatusRow[]> {
  const until = Date.now() + timeoutMs;
  let last: StatusRow[] = [];
  for (;;) {
    const r = await pbft(['status', '--dir', dir, '--json']);
    // 0 healthy, 7 degraded, 5 no quorum, 4 down: a report either way
    if ([0, 4, 5, 7].includes(r.exitCode)) {
      last = (JSON.parse(r.stdout) as { replicas: StatusRow[] }).replicas;
      for (const row of last) if (row.pid) seenPids.add(row.pid);
      if (pred(last)) return last;
    }
    if (Date.now() > until) throw new Error(`status condition not met within ${timeoutMs} ms: ${JSON.stringify(last)}`);
  }
}

/** `pbft down`, then SIGKILL anything left that this run ever saw. */
export async function cleanupClusterDir(dir: string | undefined, n = 8): Promise<void> {
  if (dir) {
    await pidsOf(dir, n);
    await pbft(['down', '--dir', dir, '--grace', '2000'], { timeoutMs: 30_000 }).catch(() => undefined);
  }
  for (const pid of seenPids) {
    if (!pidAlive(pid)) continue;
    try {
      // never kill a recycled pid: only replica processes
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('replica')) continue;
    } catch {
      /* no procfs: trust the pid */
    }
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}
