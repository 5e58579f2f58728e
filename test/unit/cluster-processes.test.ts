/**
 * Process management against real child processes: a tiny fake replica program stands in for
 * dist/runtime/replica-main.js, so start-up, readiness, early death, taken ports, SIGTERM and
 * SIGKILL escalation, stale pid files and idempotence are all exercised for real.
 */
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  containsReadyLine,
  isAlive,
  isPaused,
  readCmdline,
  readPidFile,
  readProcStat,
  replicaFiles,
  replicaHeapArgs,
  replicaProcessState,
  startReplicas,
  stopReplicas,
  signalGroup,
  tailLines,
  waitGone,
  waitPaused,
  type ReplicaEndpoint,
} from '../../src/cluster/processes.js';
import { freePorts } from '../../src/cluster/demo.js';

const FAKE = `
const args = process.argv.slice(2);
const id = args[args.indexOf('--id') + 1];
const mode = process.env['FAKE_MODE_' + id] || 'ready';
if (mode === 'die') {
  console.error('starting replica ' + id);
  console.error('error: port 1 on 127.0.0.1 is already in use (EADDRINUSE)');
  process.exit(1);
}
console.error('execArgv ' + JSON.stringify(process.execArgv));
process.on('SIGTERM', () => { if (mode !== 'stubborn') process.exit(0); });
if (mode !== 'silent') setTimeout(() => console.log(JSON.stringify({ event: 'ready', replica: Number(id) })), 30);
setInterval(() => {}, 1000);
`;

let dir: string;
let entry: string;
let endpoints: ReplicaEndpoint[];
const envKeys: string[] = [];
function mode(id: number, m: string): void {
  process.env[`FAKE_MODE_${id}`] = m;
  envKeys.push(`FAKE_MODE_${id}`);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pbft-proc-'));
  entry = join(dir, 'fake-replica.cjs');
  await writeFile(entry, FAKE);
  const ports = await freePorts(3);
  endpoints = ports.map((port, id) => ({ id, host: '127.0.0.1', port }));
});

afterEach(async () => {
  await stopReplicas({ dir, ids: [0, 1, 2], graceMs: 100 }).catch(() => undefined);
  for (const k of envKeys.splice(0)) delete process.env[k];
  await rm(dir, { recursive: true, force: true });
});

describe('startReplicas / stopReplicas', () => {
  it('starts detached replicas, waits for ready, leaves running ones alone, stops them all', async () => {
    const out = await startReplicas({ dir, replicas: endpoints, entry, readyTimeoutMs: 10_000 });
    expect(out.map((o) => o.status)).toEqual(['ready', 'ready', 'ready']);
    const pids = out.map((o) => (o as { pid: number }).pid);
    for (const [i, pid] of pids.entries()) {
      expect(await readPidFile(replicaFiles(dir, i).pidFile)).toBe(pid);
      expect(await isAlive(pid)).toBe(true);
      expect((await replicaProcessState(dir, i)).running).toBe(true);
      // each leads its own process group
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])).toBe(pid);
    }
    const log = await readFile(replicaFiles(dir, 0).logFile, 'utf8');
    expect(containsReadyLine(log)).toBe(true);

    const again = await startReplicas({ dir, replicas: endpoints, entry, ids: [1] });
    expect(again).toEqual([{ id: 1, status: 'already-running', pid: pids[1] }]);

    const stopped = await stopReplicas({ dir, ids: [0, 1, 2], graceMs: 5000 });
    expect(stopped.map((s) => s.status)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(stopped.every((s) => s.status === 'stopped' && s.signal === 'SIGTERM')).toBe(true);
    for (const [i, pid] of pids.entries()) {
      expect(await isAlive(pid)).toBe(false);
      expect(existsSync(replicaFiles(dir, i).pidFile)).toBe(false);
    }
    // idempotent
    const twice = await stopReplicas({ dir, ids: [0, 1, 2] });
    expect(twice.map((s) => s.status)).toEqual(['not-running', 'not-running', 'not-running']);
  });

  it("passes each replica's heap growth (replica.json heapGrowthPercent, default 25, 0: none) before PBFT_REPLICA_NODE_ARGS", async () => {
    await mkdir(join(dir, 'replicas', '1'), { recursive: true });
    await writeFile(join(dir, 'replicas', '1', 'replica.json'), JSON.stringify({ heapGrowthPercent: 0 }));
    await mkdir(join(dir, 'replicas', '2'), { recursive: true });
    await writeFile(join(dir, 'replicas', '2', 'replica.json'), JSON.stringify({ heapGrowthPercent: 60 }));
    process.env.PBFT_REPLICA_NODE_ARGS = '--stack-size=900';
    envKeys.push('PBFT_REPLICA_NODE_ARGS');
    const out = await startReplicas({ dir, replicas: endpoints, entry, readyTimeoutMs: 10_000 });
    expect(out.map((o) => o.status)).toEqual(['ready', 'ready', 'ready']);
    const argv = async (id: number) => JSON.parse(/execArgv (.*)/.exec(await readFile(replicaFiles(dir, id).logFile, 'utf8'))![1]!) as string[];
    expect(await argv(0)).toEqual(['--heap-growing-percent=25', '--stack-size=900']);
    expect(await argv(1)).toEqual(['--stack-size=900']);
    expect(await argv(2)).toEqual(['--heap-growing-percent=60', '--stack-size=900']);
    expect(await replicaHeapArgs(dir, 1)).toEqual([]);
    // an invalid replica.json: the defaults here (the replica reports the error itself)
    await writeFile(join(dir, 'replicas', '1', 'replica.json'), '{"heapGrowthPercent": -1}');
    expect(await replicaHeapArgs(dir, 1)).toEqual(['--heap-growing-percent=25']);
  });

  it('reports a replica that dies at start with its last log lines', async () => {
    mode(1, 'die');
    const out = await startReplicas({ dir, replicas: endpoints, entry, readyTimeoutMs: 10_000 });
    const dead = out.find((o) => o.id === 1)!;
    expect(dead.status).toBe('exited');
    if (dead.status !== 'exited') return;
    expect(dead.exitCode).toBe(1);
    expect(dead.lastLines.join('\n')).toContain('already in use');
    expect(existsSync(replicaFiles(dir, 1).pidFile)).toBe(false);
    expect(out.filter((o) => o.status === 'ready').map((o) => o.id)).toEqual([0, 2]);
  });

  it('refuses to start when a port is taken, before spawning anything', async () => {
    const srv: Server = createServer();
    await new Promise<void>((r) => srv.listen(endpoints[2]!.port, '127.0.0.1', () => r()));
    try {
      await expect(startReplicas({ dir, replicas: endpoints, entry })).rejects.toMatchObject({ code: 'PORT_IN_USE' });
      expect(existsSync(replicaFiles(dir, 0).pidFile)).toBe(false);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('rejects an unknown replica id', async () => {
    await expect(startReplicas({ dir, replicas: endpoints, entry, ids: [7] })).rejects.toMatchObject({ code: 'UNKNOWN_REPLICA' });
  });

  it('escalates to SIGKILL when a replica ignores SIGTERM', async () => {
    mode(0, 'stubborn');
    const [o] = await startReplicas({ dir, replicas: endpoints, entry, ids: [0] });
    expect(o!.status).toBe('ready');
    const pid = (o as { pid: number }).pid;
    const [s] = await stopReplicas({ dir, ids: [0], graceMs: 300 });
    expect(s).toMatchObject({ status: 'stopped', signal: 'SIGKILL' });
    expect(await isAlive(pid)).toBe(false);
  });

  it('reports replicas that never become ready, and still stops them', async () => {
    mode(2, 'silent');
    const out = await startReplicas({ dir, replicas: endpoints, entry, ids: [2], readyTimeoutMs: 400 });
    expect(out[0]!.status).toBe('not-ready');
    expect((await replicaProcessState(dir, 2)).running).toBe(true);
    const [s] = await stopReplicas({ dir, ids: [2] });
    expect(s!.status).toBe('stopped');
  });

  it('treats stale and foreign pid files as not running', async () => {
    const f = replicaFiles(dir, 0);
    await mkdir(f.dir, { recursive: true });
    await writeFile(f.pidFile, `${process.pid}\n`); // alive, but not a replica (no --id 0)
    expect(await replicaProcessState(dir, 0)).toMatchObject({ running: false, stalePidFile: true });
    await writeFile(f.pidFile, 'garbage');
    expect(await replicaProcessState(dir, 0)).toMatchObject({ running: false, pid: null, stalePidFile: true });
    const [s] = await stopReplicas({ dir, ids: [0] });
    expect(s).toEqual({ id: 0, status: 'not-running', stalePidFile: true });
    expect(existsSync(f.pidFile)).toBe(false);
    expect(await isAlive(process.pid)).toBe(true); // and we did not kill ourselves
  });
});

describe('helpers', () => {
  it('tailLines returns the last lines', async () => {
    const p = join(dir, 'log');
    await writeFile(p, `${Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n')}\n\n`);
    expect(await tailLines(p, 2)).toEqual(['line 98', 'line 99']);
    expect(await tailLines(join(dir, 'none'), 2)).toEqual([]);
  });
  it('containsReadyLine needs the JSON ready event', () => {
    expect(containsReadyLine('x\n{"event":"ready","replica":1}\n')).toBe(true);
    expect(containsReadyLine('ready\n{"event":"started"}')).toBe(false);
  });
});

describe('signals and /proc (the helpers pbft down and pbft fault share)', () => {
  /** a process leading its own group, with a second process in that group; their pids */
  async function group(): Promise<{ leader: number; member: number }> {
    const program = [
      "const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });",
      'console.log(c.pid);',
      'setInterval(() => {}, 1000);',
    ].join(' ');
    const leader = spawn(process.execPath, ['-e', program], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const member = await new Promise<number>((res) => leader.stdout!.once('data', (d: Buffer) => res(Number(String(d).trim()))));
    leader.unref();
    return { leader: leader.pid!, member };
  }
  const kill = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };

  it('readProcStat and readCmdline read this process; isPaused and waitPaused follow SIGSTOP/SIGCONT', async () => {
    expect(await readProcStat(process.pid)).toMatchObject({ state: expect.stringMatching(/^[RSD]$/), ppid: process.ppid });
    expect(await readProcStat(0x7ffffff0)).toBe(null);
    const { leader, member } = await group();
    try {
      expect(await readCmdline(member)).toEqual([process.execPath, '-e', 'setInterval(() => {}, 1000)', '']);
      expect((await readProcStat(member))?.pgrp).toBe(leader);
      signalGroup(leader, 'SIGSTOP');
      // (each process of the group stops when the kernel gets to it: await both, under load too)
      expect(await waitPaused(leader, true, 2000)).toBe(true);
      expect(await waitPaused(member, true, 2000)).toBe(true); // the whole group
      expect(await isPaused(member)).toBe(true);
      signalGroup(leader, 'SIGCONT');
      expect(await waitPaused(member, false, 2000)).toBe(true);
      expect(await waitPaused(leader, false, 2000)).toBe(true);
      expect(await isPaused(leader)).toBe(false);
    } finally {
      kill(-leader);
    }
  });

  it('waitGone waits for the whole group, not only its leader', async () => {
    const { leader, member } = await group();
    try {
      process.kill(leader, 'SIGKILL'); // the leader alone
      expect(await waitGone(leader, 300)).toBe(false);
      expect(await isAlive(member)).toBe(true);
      signalGroup(leader, 'SIGKILL'); // the group outlives its leader
      expect(await waitGone(leader, 5000)).toBe(true);
      expect(await isAlive(member)).toBe(false);
    } finally {
      kill(member);
    }
  });

  it('signalGroup falls back to the process alone, and throws ESRCH once it is gone; waitGone can be aborted', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); // in our group
    const exited = new Promise((r) => child.once('exit', (_c, sig) => r(sig)));
    signalGroup(child.pid!, 'SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(await waitGone(child.pid!, 2000)).toBe(true);
    expect(() => signalGroup(child.pid!, 'SIGKILL')).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    const ac = new AbortController();
    ac.abort();
    await expect(waitGone(process.pid, 1000, ac.signal)).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
