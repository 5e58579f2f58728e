/**
 * Bad input to the built CLI: each case gets one line `Error: <what is wrong>. <how to fix>`
 * on stderr, a non-zero exit code and no stack trace (unless --debug or DEBUG).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cluster/errors.js';
import { findFreePortRange } from '../../src/cluster/processes.js';
import { ensureBuilt } from '../helpers/cluster.js';
import { CLI_ENTRY, cleanupClusterDir, pbft, pidsOf, type CliResult } from './cli-helpers.js';

let root: string;
let dir: string; // a valid cluster, down unless a test starts part of it
let base: number;

beforeAll(async () => {
  await ensureBuilt();
  if (!existsSync(CLI_ENTRY)) throw new Error(`the CLI is not built (${CLI_ENTRY} missing); run npm run build`);
  root = await mkdtemp(join(tmpdir(), 'pbft-cli-errors-'));
  dir = join(root, 'good');
  base = await findFreePortRange(4);
  const r = await pbft(['init', '--dir', dir, '--base-port', String(base), '--yes']);
  if (r.exitCode !== 0) throw new Error(r.stderr);
}, 180_000);

afterAll(async () => {
  await cleanupClusterDir(dir);
  await rm(root, { recursive: true, force: true });
}, 60_000);

/** A copy of the good cluster to break. */
async function copyCluster(name: string): Promise<string> {
  const d = join(root, name);
  await mkdir(join(d, 'keys'), { recursive: true });
  await copyFile(join(dir, 'cluster.json'), join(d, 'cluster.json'));
  for (const f of ['replica-0.key', 'replica-1.key', 'replica-2.key', 'replica-3.key', 'client-client0.key', 'operator.key']) {
    await copyFile(join(dir, 'keys', f), join(d, 'keys', f));
  }
  return d;
}

/** One line, `Error: ... .`, no stack trace; returns the line. */
function expectOneLineError(r: CliResult, exitCode: number, pattern: RegExp): string {
  expect(r.exitCode, r.stderr).toBe(exitCode);
  const lines = r.stderr.trim().split('\n');
  const last = lines[lines.length - 1]!;
  expect(last).toMatch(/^Error: .+\.$/);
  expect(last).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  return last;
}

describe('bad cluster directory and files', () => {
  it('no cluster in --dir', async () => {
    const r = await pbft(['status', '--dir', join(root, 'nothing-here')]);
    expectOneLineError(r, EXIT.config, /no cluster in .*pbft init/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('PBFT_DIR is used when --dir is absent', async () => {
    const r = await pbft(['status'], { env: { PBFT_DIR: join(root, 'from-env') } });
    expectOneLineError(r, EXIT.config, /from-env/);
  });

  it('malformed cluster.json (not JSON)', async () => {
    const d = await copyCluster('malformed');
    await writeFile(join(d, 'cluster.json'), '{ "version": 1, ');
    const r = await pbft(['status', '--dir', d]);
    expectOneLineError(r, EXIT.config, /cluster\.json: not valid JSON/);
  });

  it('inconsistent cluster.json (f too large for n)', async () => {
    const d = await copyCluster('inconsistent');
    const c = JSON.parse(await readFile(join(d, 'cluster.json'), 'utf8')) as { protocol: { f: number } };
    c.protocol.f = 2;
    await writeFile(join(d, 'cluster.json'), JSON.stringify(c));
    const r = await pbft(['up', '--dir', d]);
    expectOneLineError(r, EXIT.config, /protocol\.f .*n >= 3f\+1/);
  });

  it('inconsistent cluster.json (wrong type, unknown field)', async () => {
    const d = await copyCluster('wrong-type');
    const c = JSON.parse(await readFile(join(d, 'cluster.json'), 'utf8')) as Record<string, unknown> & { replicas: { port: unknown }[] };
    c.replicas[1]!.port = 'seven thousand';
    await writeFile(join(d, 'cluster.json'), JSON.stringify(c));
    expectOneLineError(await pbft(['request', 'get', 'x', '--dir', d]), EXIT.config, /replicas\[1\]\.port/);
    delete (c as Record<string, unknown>).replicas;
    (c as Record<string, unknown>).replcas = [];
    await writeFile(join(d, 'cluster.json'), JSON.stringify(c));
    expectOneLineError(await pbft(['status', '--dir', d, '--json']), EXIT.config, /replcas|replicas/);
  });

  it('missing client key file', async () => {
    const d = await copyCluster('no-client-key');
    await unlink(join(d, 'keys', 'client-client0.key'));
    const r = await pbft(['request', 'put', 'a', 'b', '--dir', d]);
    expectOneLineError(r, EXIT.config, /key file .*client-client0\.key is missing/);
  });

  it('missing or malformed replica key file: up refuses before starting anything', async () => {
    const d = await copyCluster('bad-replica-key');
    await writeFile(join(d, 'keys', 'replica-2.key'), 'not a key\n', { mode: 0o600 });
    const r = await pbft(['up', '--dir', d]);
    expectOneLineError(r, EXIT.config, /replica-2\.key/);
    expect((await pidsOf(d, 4)).every((p) => p === null)).toBe(true);
    await unlink(join(d, 'keys', 'replica-2.key'));
    expectOneLineError(await pbft(['up', '--dir', d]), EXIT.config, /replica-2\.key is missing/);
  });

  it('unreadable key file (a directory in its place)', async () => {
    const d = await copyCluster('dir-key');
    await unlink(join(d, 'keys', 'client-client0.key'));
    await mkdir(join(d, 'keys', 'client-client0.key'));
    expectOneLineError(await pbft(['request', 'get', 'a', '--dir', d]), EXIT.config, /not a regular file/);
  });

  it('init refuses to overwrite an existing cluster without --force', async () => {
    const r = await pbft(['init', '--dir', dir]);
    expectOneLineError(r, EXIT.config, /already holds a cluster.*--force/);
  });
});

describe('processes and the network', () => {
  it('a taken port', async () => {
    const srv: Server = createServer();
    await new Promise<void>((res) => srv.listen(base + 2, '127.0.0.1', () => res()));
    try {
      const r = await pbft(['up', '--dir', dir]);
      expectOneLineError(r, EXIT.process, new RegExp(`port ${base + 2} on 127\\.0\\.0\\.1 \\(replica 2\\) is already in use`));
      expect((await pidsOf(dir, 4)).every((p) => p === null)).toBe(true);
    } finally {
      await new Promise<void>((res) => srv.close(() => res()));
    }
  });

  it('an unknown replica id', async () => {
    expectOneLineError(await pbft(['up', '9', '--dir', dir]), EXIT.usage, /unknown replica id 9: this cluster has replicas 0\.\.3/);
    expectOneLineError(await pbft(['down', 'x', '--dir', dir]), EXIT.usage, /"x" is not a replica id/);
    expectOneLineError(await pbft(['logs', '--replica', '4', '--dir', dir]), EXIT.usage, /unknown replica id 4/);
  });

  it('a request to a cluster that is down', async () => {
    const r = await pbft(['request', 'put', 'a', 'b', '--dir', dir]);
    expectOneLineError(r, EXIT.down, /is down \(no replica is running\).*pbft up/);
    const j = await pbft(['request', 'get', 'a', '--dir', dir, '--json']);
    expect(j.exitCode).toBe(EXIT.down);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, error: { code: 'CLUSTER_DOWN' } });
  });

  it('no quorum: one replica of four running; request fails within its timeout, status shows the rest down', async () => {
    const up = await pbft(['up', '0', '--dir', dir]);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/3 are needed for a quorum/);
    try {
      const r = await pbft(['request', 'put', 'a', 'b', '--timeout', '1500', '--dir', dir]);
      expectOneLineError(r, EXIT.noQuorum, /no quorum/);
      const s = await pbft(['status', '--dir', dir, '--json']);
      expect(s.exitCode).toBe(EXIT.noQuorum);
      const report = JSON.parse(s.stdout) as { health: string; belowQuorum: boolean; notRunning: number[]; replicas: { id: number; up: boolean }[] };
      expect(report).toMatchObject({ health: 'no-quorum', belowQuorum: true, notRunning: [1, 2, 3] });
      expect(report.replicas.map((x) => x.up)).toEqual([true, false, false, false]);
      const text = await pbft(['status', '--dir', dir]);
      expect(text.exitCode).toBe(EXIT.noQuorum);
      expect(text.stdout).toMatch(/warning: below quorum: 1 of 4 replicas answer and 3 are needed/);
      expect(text.stdout).toMatch(/Start: .*pbft up 1 2 3 --dir /);
    } finally {
      const down = await pbft(['down', '--dir', dir]);
      expect(down.exitCode).toBe(0);
    }
  }, 180_000);
});

describe('invalid flag values and arguments', () => {
  it.each([
    [['init', '--dir', 'X', '--replicas', 'abc'], /--replicas must be an integer from 1 to 256, got "abc"/],
    [['init', '--dir', 'X', '--base-port', '70000'], /--base-port must be an integer from 1 to 65535/],
    [['init', '--dir', 'X', '--faults', '2', '--replicas', '4'], /needs at least 7 replicas/],
    [['init', '--dir', 'X', '--crypto', 'rsa'], /--crypto=rsa to be one of: sodium, node, noble/],
    [['init', '--dir', 'X', '--bogus'], /Nonexistent flag: --bogus/],
    [['request', 'put', 'k'], /put needs a KEY and a VALUE/],
    [['request', 'frob', 'k'], /unknown operation "frob"/],
    [['request', 'get', 'k', '--timeout', '0'], /--timeout must be an integer from 1/],
    [['logs', '--phase', 'nope'], /unknown phase "nope"/],
    [['logs', '--seq', 'x'], /--seq must be an integer/],
    [['bench', '--duration', '0'], /--duration must be a number from 0\.1/],
    [['bench', '--clients', '0'], /--clients must be an integer from 1 to 1024/],
    [['status', '--timeout', '-5'], /--timeout must be an integer/],
    [['down', '--grace', 'soon'], /--grace must be an integer/],
  ])('pbft %j', async (args, pattern) => {
    const full = args.map((a) => (a === 'X' ? join(root, 'flag-tests') : a));
    const needsDir = !full.includes('--dir');
    const r = await pbft(needsDir ? [...full, '--dir', dir] : full);
    expectOneLineError(r, EXIT.usage, pattern);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(root, 'flag-tests', 'cluster.json'))).toBe(false);
  });

  it('--json errors are JSON on stdout too', async () => {
    const r = await pbft(['init', '--dir', dir, '--json']);
    expect(r.exitCode).toBe(EXIT.config);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'CLUSTER_EXISTS' } });
  });

  it('--debug and DEBUG show the stack trace', async () => {
    const a = await pbft(['status', '--dir', join(root, 'none'), '--debug']);
    expect(a.exitCode).toBe(EXIT.config);
    expect(a.stderr).toMatch(/^Error: no cluster/);
    expect(a.stderr).toMatch(/^\s+at /m);
    const b = await pbft(['status', '--dir', join(root, 'none')], { env: { DEBUG: '1' } });
    expect(b.stderr).toMatch(/^\s+at /m);
  });

  it('an unknown command', async () => {
    const r = await pbft(['frobnicate']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/frobnicate/);
  });
});
