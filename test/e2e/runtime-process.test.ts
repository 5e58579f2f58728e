/**
 * The replica process itself: one-line errors and exit codes for bad arguments, config, keys,
 * durable logs and ports; a torn durable log tolerated; SIGINT / SIGTERM exit 0.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PersistRecord } from '../../src/core/types.js';
import { encodeFrame, segmentName } from '../../src/runtime/storage.js';
import { REPLICA_MAIN, createTestCluster, kv, type TestCluster } from '../helpers/cluster.js';

function run(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [REPLICA_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`replica-main ${args.join(' ')} did not exit: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('replica process errors', () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await createTestCluster({ replicas: 4 });
  }, 60_000);
  afterAll(async () => {
    await tc?.cleanup();
  });

  it('bad arguments: exit 2 with a usage line', async () => {
    const r = await run(['--dir', tc.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: --id is required; usage: replica-main --dir <cluster dir> --id <replica id> [--no-faults]\n');
    expect((await run(['--dir', tc.dir, '--id', 'two'])).stderr).toBe('error: "two" is not a replica id; use a number such as 0\n');
  });

  it('unknown replica, missing cluster, missing key: exit 1 with one line', async () => {
    const a = await run(['--dir', tc.dir, '--id', '7']);
    expect(a).toMatchObject({ code: 1, stdout: '', stderr: 'error: unknown replica 7: this cluster has replicas 0-3\n' });
    const b = await run(['--dir', `${tc.dir}/nothing-here`, '--id', '0']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/^error: no cluster in .*nothing-here \(cluster.json not found\); create one with "pbft init/);
    const key = tc.cluster.paths.replicaKey(1);
    renameSync(key, `${key}.away`);
    try {
      const c = await run(['--dir', tc.dir, '--id', '1']);
      expect(c).toMatchObject({
        code: 1,
        stderr: `error: key file ${key} is missing; restore it from a backup or recreate the cluster with "pbft init --force"\n`,
      });
    } finally {
      renameSync(`${key}.away`, key);
    }
  });

  it('a taken port: exit 1 naming the port and the fix', async () => {
    const { host, port } = tc.cluster.config.replicas[2]!;
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(port, host, r));
    try {
      const r = await run(['--dir', tc.dir, '--id', '2']);
      expect(r).toMatchObject({
        code: 1,
        stderr: `error: replica 2: port ${port} on ${host} is in use (EADDRINUSE); stop what holds it or change replicas[2].port in cluster.json\n`,
      });
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('a durable log corrupted before its end: moved aside, the replica starts empty in recovery mode; a torn last line: starts and says so', async () => {
    const wal = tc.cluster.paths.wal(3);
    writeFileSync(wal, '{"c":"garbage"}\n{"c":"more"}\n', { mode: 0o600 });
    const p0 = tc.spawn(3);
    const said = await stderrUntil(p0, 'recovery mode');
    expect(said).toMatch(/durable log damaged: replica 3: durable log .* is corrupt at line 1 of 2 \(not a log line\)\. Moved aside to .*wal\.jsonl\.damaged-/);
    expect(readdirSync(path.dirname(wal)).some((f) => f.startsWith('wal.jsonl.damaged-'))).toBe(true);
    expect((await tc.kill(3, 'SIGINT')).code).toBe(0);
    rmSync(tc.cluster.paths.walDir(3), { recursive: true, force: true }); // what the recovering life wrote
    writeFileSync(wal, '');
    appendFileSync(wal, '{"c":"0123456789abcdef","r":[{"kind":"vi'); // torn
    chmodSync(wal, 0o600);
    const p = tc.spawn(3);
    await stderrUntil(p, 'torn last append');
    expect((await tc.kill(3, 'SIGINT')).code).toBe(0);
  });

  it('a durable log in segment files: a corrupt frame before the end is named, moved aside, and the replica recovers; a torn last frame: starts and says so', async () => {
    const walDir = tc.cluster.paths.walDir(3);
    rmSync(walDir, { recursive: true, force: true });
    rmSync(tc.cluster.paths.wal(3), { force: true });
    mkdirSync(walDir, { recursive: true });
    const view: PersistRecord = { kind: 'view', view: 0, viewChanging: false };
    const frames = [encodeFrame([view]), encodeFrame([view]), encodeFrame([view])];
    const seg1 = path.join(walDir, segmentName(1));
    const bad = Buffer.from(frames[1]!.toString('utf8').replace('"view":0', '"view":7'));
    writeFileSync(seg1, Buffer.concat([frames[0]!, bad, frames[2]!]), { mode: 0o600 });
    const p0 = tc.spawn(3);
    const said = await stderrUntil(p0, 'recovery mode');
    expect(said).toMatch(
      /durable log damaged: replica 3: durable log .*0000000000000001\.log is corrupt at line 2 of 3 \(checksum mismatch\)\. Moved aside to .*wal\.damaged-/,
    );
    expect((await tc.kill(3, 'SIGINT')).code).toBe(0);
    mkdirSync(walDir, { recursive: true });
    writeFileSync(seg1, Buffer.concat([frames[0]!, frames[1]!, frames[2]!.subarray(0, 12)]), { mode: 0o600 });
    const p = tc.spawn(3);
    // it cannot be ready alone (no quorum): await the diagnostic line instead
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const onData = (d: Buffer | string) => {
        seen += d.toString();
        if (seen.includes('torn last append')) {
          p.child.stderr!.off('data', onData);
          resolve();
        }
      };
      p.child.stderr!.on('data', onData);
      void p.exited.then((e) => reject(new Error(`replica 3 exited (${JSON.stringify(e)}): ${seen}`)));
    });
    expect((await tc.kill(3, 'SIGINT')).code).toBe(0);
  });
});

/** Await a text on a replica's stderr (it may never be ready: no quorum); everything it said. */
function stderrUntil(p: { child: { stderr: NodeJS.ReadableStream | null }; exited: Promise<unknown> }, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer | string) => {
      seen += d.toString();
      if (seen.includes(text)) {
        p.child.stderr!.off('data', onData);
        resolve(seen);
      }
    };
    p.child.stderr!.on('data', onData);
    void p.exited.then((e) => reject(new Error(`replica exited (${JSON.stringify(e)}) before saying "${text}": ${seen}`)));
  });
}

describe('a one-replica cluster (n = 1, f = 0)', () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await createTestCluster({ replicas: 1 });
    await tc.startAll();
  }, 60_000);
  afterAll(async () => {
    await tc?.cleanup();
  });

  it('is ready at once (no peers needed) and SIGTERM exits 0', async () => {
    expect((await tc.status(0)).ready).toBe(true);
    expect(await tc.kill(0, 'SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('serves requests', async () => {
    await tc.startAll();
    const c = await tc.client();
    expect(JSON.parse((await c.request(kv.put('solo', '1'), { timeoutMs: 5000 })).result)).toEqual({ ok: true, value: null });
    expect((await c.request(kv.get('solo'))).replicas).toEqual([0]);
  });
});
