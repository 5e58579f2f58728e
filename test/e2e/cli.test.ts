/**
 * The built CLI (`node bin/run.js ...`) against real replica processes on free 127.0.0.1
 * ports in a temporary directory: init, up, puts and gets, status (every replica at the same
 * lastExecuted and stateDigest), logs (the phases of a request on every replica), down (no
 * process left). Bad input is covered in cli-errors.test.ts.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePortRange } from '../../src/cluster/processes.js';
import { ensureBuilt } from '../helpers/cluster.js';
import { CLI_ENTRY, cleanupClusterDir, follow, pbft, pidsOf, pidAlive, waitForStatus } from './cli-helpers.js';

let dir: string;
let root: string;

beforeAll(async () => {
  await ensureBuilt();
  if (!existsSync(CLI_ENTRY)) throw new Error(`the CLI is not built (${CLI_ENTRY} missing); run npm run build`);
  root = await mkdtemp(join(tmpdir(), 'pbft-cli-e2e-'));
  dir = join(root, 'cluster');
}, 180_000);

afterAll(async () => {
  await cleanupClusterDir(dir);
  await rm(root, { recursive: true, force: true });
}, 60_000);

describe('pbft CLI on a real 4-replica cluster', () => {
  let upPids: number[] = [];

  it('init creates the cluster directory', async () => {
    const base = await findFreePortRange(4);
    const r = await pbft(['init', '--dir', dir, '--base-port', String(base), '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { n: number; f: number; replicas: { port: number }[]; files: string[] };
    expect(out).toMatchObject({ n: 4, f: 1 });
    expect(out.replicas.map((x) => x.port)).toEqual([base, base + 1, base + 2, base + 3]);
    for (const f of ['cluster.json', 'keys/replica-0.key', 'keys/client-client0.key', 'keys/operator.key', 'replicas/3/replica.json']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
  });

  it('up starts every replica and waits until ready; a second up leaves them alone', async () => {
    const r = await pbft(['up', '--dir', dir, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { replicas: { id: number; status: string; pid: number }[]; running: number[] };
    expect(out.replicas.map((x) => x.status)).toEqual(['ready', 'ready', 'ready', 'ready']);
    expect(out.running).toEqual([0, 1, 2, 3]);
    upPids = out.replicas.map((x) => x.pid);
    expect(await pidsOf(dir, 4)).toEqual(upPids);

    const again = await pbft(['up', '--dir', dir]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout.match(/^replica \d +already running/gm)?.length).toBe(4);
    expect(again.stdout).toMatch(/All 4 replicas were already running; nothing to start/);
  });

  let tracedSeq = 0;

  it('request put/get/del go through the cluster', async () => {
    const put = await pbft(['request', 'put', 'greeting', 'hello world', '--dir', dir, '--json']);
    expect(put.exitCode, put.stderr).toBe(0);
    const p = JSON.parse(put.stdout) as { ok: boolean; result: string | null; replicas: number[]; view: number; latencyMs: number };
    expect(p).toMatchObject({ ok: true, result: null, view: 0 });
    expect(p.replicas.length).toBeGreaterThanOrEqual(2);
    expect(new Set(p.replicas).size).toBe(p.replicas.length);
    expect(p.latencyMs).toBeGreaterThan(0);

    const get = await pbft(['request', 'get', 'greeting', '--dir', dir, '--json']);
    expect(JSON.parse(get.stdout)).toMatchObject({ ok: true, result: 'hello world' });

    const human = await pbft(['request', 'put', 'greeting', 'bye', '--dir', dir]);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toContain('put greeting = "bye"  (previous value: "hello world")');
    expect(human.stdout).toMatch(/quorum: replicas \d, \d/);

    const del = await pbft(['request', 'del', 'greeting', '--dir', dir, '--json']);
    expect(JSON.parse(del.stdout)).toMatchObject({ ok: true, result: 'bye' });
    const gone = await pbft(['request', 'get', 'greeting', '--dir', dir]);
    expect(gone.stdout).toContain('greeting is not set');
  });

  it('request --trace shows the timeline of that request on every replica', async () => {
    const r = await pbft(['request', 'put', 'traced', 'yes', '--trace', '--dir', dir, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { replicas: number[]; trace: { seqs: number[]; executedBy: number[]; records: { phase: string; replica: number }[] } };
    expect(out.trace.seqs.length).toBe(1);
    tracedSeq = out.trace.seqs[0]!;
    // at least the replicas whose replies formed the quorum have executed it (the others
    // normally too, but a loaded machine may delay one past the trace's wait)
    for (const id of out.replicas) expect(out.trace.executedBy).toContain(id);
    const phases = new Set(out.trace.records.map((x) => x.phase));
    for (const ph of ['request', 'pre-prepare', 'prepare', 'commit', 'execute', 'reply']) expect(phases, ph).toContain(ph);

    const text = await pbft(['request', 'get', 'traced', '--trace', '--dir', dir]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toContain('Timeline of request');
    expect(text.stdout).toMatch(/r0 +v0 +#\d+ +pre-prepare/);
    expect(text.stdout).toMatch(/execute/);
    expect(text.stdout).not.toContain('\x1b['); // not a terminal: no colour
  });

  it('status shows every replica up at the same lastExecuted with the same stateDigest', async () => {
    const rows = await waitForStatus(
      dir,
      (rs) => rs.length === 4 && rs.every((x) => x.lastExecuted === rs[0]!.lastExecuted && x.stateDigest === rs[0]!.stateDigest),
    );
    for (const row of rows) {
      expect(row).toMatchObject({ up: true, view: 0, primary: 0 });
      expect(row.lastExecuted).toBeGreaterThanOrEqual(6);
      expect(row.stateDigest).toMatch(/^[0-9a-f]{64}$/);
      expect(upPids).toContain(row.pid);
      expect(typeof row.stableCheckpoint).toBe('number');
    }
    const table = await pbft(['status', '--dir', dir]);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/replica +state +pid +view/);
    expect(table.stdout).toContain('4/4 up and answering');
    expect(table.stdout).not.toContain('warning');
    expect(table.stdout).toContain('with the same state digest');
  });

  it('logs shows the phases of a request on every replica, merged in time order', async () => {
    const r = await pbft(['logs', '--dir', dir, '--seq', String(tracedSeq), '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const recs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ts: number; replica: number; phase: string; seq: number; view: number });
    expect(recs.every((x) => x.seq === tracedSeq)).toBe(true);
    for (let i = 1; i < recs.length; i++) expect(recs[i]!.ts).toBeGreaterThanOrEqual(recs[i - 1]!.ts);
    const by = (id: number) => new Set(recs.filter((x) => x.replica === id).map((x) => x.phase));
    expect(by(0)).toContain('pre-prepare');
    for (const id of [0, 1, 2, 3]) {
      for (const ph of ['prepare', 'commit', 'execute']) expect(by(id), `replica ${id} ${ph}`).toContain(ph);
    }
    const filtered = await pbft(['logs', '--dir', dir, '--replica', '2', '--phase', 'execute', '--seq', String(tracedSeq)]);
    expect(filtered.stdout.trim().split('\n')).toHaveLength(1);
    expect(filtered.stdout).toMatch(/r2 +v0 +#\d+ +execute/);
  });

  it('logs -f follows new lines until interrupted', async () => {
    const f = follow(['logs', '-f', '--dir', dir, '--phase', 'reply', '--json']);
    // the history (replies to earlier requests) is printed after the follower took its starting offsets
    await f.waitUntil((ls) => ls.length > 0);
    const put = await pbft(['request', 'put', 'followed', '1', '--dir', dir, '--json']);
    expect(put.exitCode, put.stderr).toBe(0);
    const { client, timestamp } = JSON.parse(put.stdout) as { client: string; timestamp: number };
    const repliedBy = (ls: string[]) =>
      new Set(
        ls
          .map((l) => JSON.parse(l) as { replica: number; client?: string; timestamp?: number })
          .filter((x) => x.client === client && x.timestamp === timestamp)
          .map((x) => x.replica),
      );
    await f.waitUntil((ls) => repliedBy(ls).size === 4);
    expect([...repliedBy(f.lines)].sort()).toEqual([0, 1, 2, 3]);
    const r = await f.stop();
    expect(r.exitCode).toBe(0);
  });

  it('bench runs a short closed-loop load and reports throughput and latency', async () => {
    const r = await pbft(['bench', '--dir', dir, '--clients', '2', '--duration', '1', '--warmup', '0', '--value-size', '32', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { completed: number; errors: number; throughput: number; latency: { p50Ms: number; p99Ms: number } };
    expect(out.completed).toBeGreaterThan(0);
    expect(out.errors).toBe(0);
    expect(out.throughput).toBeGreaterThan(0);
    expect(out.latency.p99Ms).toBeGreaterThanOrEqual(out.latency.p50Ms);
  });

  it('down stops every replica and leaves no process behind; a second down is fine', async () => {
    const r = await pbft(['down', '--dir', dir, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { replicas: { status: string }[] };
    expect(out.replicas.map((x) => x.status)).toEqual(['stopped', 'stopped', 'stopped', 'stopped']);
    for (const pid of upPids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
    for (let i = 0; i < 4; i++) expect(existsSync(join(dir, 'replicas', String(i), 'replica.pid'))).toBe(false);
    const again = await pbft(['down', '--dir', dir]);
    expect(again.exitCode).toBe(0);
    expect(again.stdout.match(/not running/g)?.length).toBe(4);
    const status = await pbft(['status', '--dir', dir, '--json']);
    expect(status.exitCode).toBe(4);
    const report = JSON.parse(status.stdout) as { health: string; replicas: { up: boolean }[] };
    expect(report.health).toBe('down');
    expect(report.replicas.every((x) => !x.up)).toBe(true);
  });
});
