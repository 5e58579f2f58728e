/**
 * Disk full during a write, on real replica processes with fsync on: replica 3's directory is a
 * small tmpfs made by the test, filled while writers keep the cluster busy. The replica must stop
 * cleanly with a clear one-line message (exit code 1, no stack trace, no restart), the others go
 * on, and once space is freed and it is started again it recovers and catches up; no
 * acknowledged write is lost, and `verify` passes. Needs mount(2) (root, or CAP_SYS_ADMIN):
 * skipped, saying why, where it is not permitted. The tmpfs is always unmounted.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, cpSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCluster } from '../../src/audit/index.js';
import { createTestCluster, kv, waitFor, withTimeout, type TestCluster } from '../helpers/cluster.js';

const FULL = 3;
let tc: TestCluster | undefined;
let mountPoint: string | undefined;
let cannotMount: string | null = null;

function mountTmpfs(dir: string, size: string): string | null {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error) return `mount is not available (${r.error.message})`;
  if (r.status !== 0) return `mount -t tmpfs is not permitted here (${(r.stderr || `exit ${r.status}`).trim()})`;
  return null;
}

function unmount(dir: string): void {
  for (const args of [[dir], ['-l', dir]]) if (spawnSync('umount', args).status === 0) return;
}

/** Fill the file system holding `dir` with one file, to the last byte. */
function fill(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  try {
    for (let size = chunk.length; size >= 1; ) {
      try {
        writeSync(fd, chunk, 0, size);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        size = Math.floor(size / 2);
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

beforeAll(async () => {
  const probe = mkdtempSync(path.join(os.tmpdir(), 'pbft-mount-probe-'));
  cannotMount = process.platform !== 'linux' ? 'tmpfs mounts need Linux' : mountTmpfs(probe, '64k');
  if (cannotMount === null) unmount(probe);
  rmSync(probe, { recursive: true, force: true });
  if (cannotMount !== null) return;
  tc = await createTestCluster({ replicas: 4, protocol: { checkpointInterval: 8, logWindow: 16 } });
  // replica 3's directory onto a 2 MiB tmpfs, with what init put there
  const rdir = tc.cluster.paths.replicaDir(FULL);
  const saved = `${rdir}.saved`;
  cpSync(rdir, saved, { recursive: true });
  const why = mountTmpfs(rdir, '2m');
  if (why !== null) throw new Error(why);
  mountPoint = rdir;
  cpSync(saved, rdir, { recursive: true });
  rmSync(saved, { recursive: true, force: true });
  await tc.startAll();
}, 120_000);

afterAll(async () => {
  if (tc) await Promise.all([0, 1, 2, 3].map((id) => tc!.kill(id, 'SIGKILL')));
  if (mountPoint) unmount(mountPoint);
  await tc?.cleanup();
}, 60_000);

describe('disk full during a write (tmpfs)', () => {
  it('the replica stops cleanly with a clear message, and recovers when there is space, losing no acknowledged write', async (ctx) => {
    if (cannotMount !== null) {
      console.log(`skipped: ${cannotMount}`);
      ctx.skip();
      return;
    }
    const cluster = tc!;
    const acked = new Map<string, string>();
    let stop = false;
    const writer = async (w: number) => {
      const c = await cluster.client();
      for (let i = 0; !stop; i++) {
        const key = `w${w}-${i}`;
        const value = `v${w}-${i}-${'x'.repeat(200)}`;
        try {
          const r = await c.request(kv.put(key, value), { timeoutMs: 5_000 });
          if (JSON.parse(r.result).ok === true) acked.set(key, value);
        } catch {
          /* indeterminate: not judged */
        }
      }
    };
    const writers = [0, 1].map(writer);
    const ackedAtLeast = (k: number) => waitFor(() => acked.size >= k, { timeoutMs: 60_000, what: `${k} acknowledged writes` });

    await ackedAtLeast(20);
    const proc = cluster.procs.get(FULL)!;
    const filler = fill(mountPoint!);
    // under load, its next durable write fails: it must stop by itself
    const exit = await withTimeout(proc.exited, 60_000, `replica ${FULL} to stop on a full disk`);
    const stderr = proc.stderr.join('');
    expect(exit).toEqual({ code: 1, signal: null });
    expect(stderr).toMatch(
      /error: replica 3: cannot (write|create a segment of) its (durable log|audit ledger) .*ENOSPC: no space left on device.*; free disk space or fix the disk and restart it/,
    );
    expect(stderr).not.toMatch(/^\s+at /m); // a message, not a stack trace
    expect(stderr).not.toMatch(/uncaught|unhandled rejection/);

    // the others go on (n = 4 tolerates one replica down)
    const before = acked.size;
    await ackedAtLeast(before + 20);

    // space again: it restarts, recovers from its logs and catches up
    rmSync(filler);
    await cluster.start(FULL);
    await ackedAtLeast(acked.size + 20);
    stop = true;
    await Promise.all(writers);
    const converged = await cluster.waitConverged({ ids: [0, 1, 2, 3], timeoutMs: 60_000 });
    expect(converged[FULL]!.lastExecuted).toBeGreaterThan(0);

    const c = await cluster.client();
    const lost: string[] = [];
    for (const [key, value] of acked) {
      const r = JSON.parse((await c.request(kv.get(key), { timeoutMs: 20_000 })).result) as { value: string | null };
      if (r.value !== value) lost.push(key);
    }
    expect(lost).toEqual([]);

    const report = await verifyCluster({ dir: cluster.dir });
    expect(
      report.checks.filter((x) => x.status !== 'pass'),
      JSON.stringify(report.checks),
    ).toEqual([]);
    console.log(`disk full: replica 3 stopped with "${stderr.match(/error: .*/)?.[0]}"; ${acked.size} writes acknowledged, all present after its recovery`);
  }, 240_000);
});
