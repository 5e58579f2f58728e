/**
 * Issue 10 on the built CLI and real replica processes (127.0.0.1, free ports, a temporary
 * directory; every replica stopped at the end): version and typo handling, init's checks, up
 * when everything runs, values from stdin and files, escaped keys, status health and its exit
 * codes, a timed-out request's unknown outcome, the fault-injection hint, and the lifecycle
 * verbs (ps, stop, start, restart, destroy), logs --process, ls, config and completion.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cluster/errors.js';
import { ensureBuilt } from '../helpers/cluster.js';
import { BIN, CLI_ENTRY, ROOT, cleanupClusterDir, pbft, pidAlive, pidsOf, waitForStatus } from './cli-helpers.js';

let root: string;
let dir: string;

beforeAll(async () => {
  await ensureBuilt();
  if (!existsSync(CLI_ENTRY)) throw new Error(`the CLI is not built (${CLI_ENTRY} missing); run npm run build`);
  root = await mkdtemp(join(tmpdir(), 'pbft-everyday-e2e-'));
  dir = join(root, 'c');
}, 180_000);

afterAll(async () => {
  await cleanupClusterDir(dir);
  await rm(root, { recursive: true, force: true });
}, 60_000);

/** `pbft ...` with standard input. */
async function pbftWithInput(args: string[], input: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, [BIN, ...args], {
    reject: false,
    env: { NO_COLOR: '1', CI: '1' },
    extendEnv: true,
    input,
    cwd: ROOT,
    timeout: 60_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('without a cluster', () => {
  it('-v, --version and -h work', async () => {
    for (const flag of ['-v', '--version']) {
      const r = await pbft([flag]);
      expect(r.exitCode, flag).toBe(0);
      expect(r.stdout).toMatch(/^pbft\/\d+\.\d+\.\d+/);
    }
    const h = await pbft(['-h']);
    expect(h.exitCode).toBe(0);
    expect(h.stdout).toMatch(/COMMANDS/);
  });

  it('a typo gets the corrected command line, as it runs here', async () => {
    const r = await pbft(['requst', 'put', 'a', 'b']);
    expect(r.exitCode).toBe(EXIT.usage);
    expect(r.stderr.trim()).toBe('Error: unknown command "requst". Did you mean "npx pbft request put a b"? Run `npx pbft --help` for all commands.');
  });

  it('init refuses /proc at once, and warns about sizes without fault tolerance', async () => {
    const t0 = performance.now();
    const p = await pbft(['init', '--dir', '/proc/x', '--yes', '--json'], { timeoutMs: 20_000 });
    expect(p.exitCode).toBe(EXIT.usage);
    expect(JSON.parse(p.stdout)).toMatchObject({ ok: false, error: { code: 'BAD_DIRECTORY' } });
    expect(performance.now() - t0).toBeLessThan(15_000);
    const two = await pbft(['init', '--dir', join(root, 'two'), '--replicas', '2', '--yes']);
    expect(two.exitCode, two.stderr).toBe(0);
    expect(two.stderr).toMatch(/warning: 2 replicas tolerate no faulty replica \(f = 0\)/);
    const five = await pbft(['init', '--dir', join(root, 'five'), '--replicas', '5', '--yes', '--json']);
    expect(JSON.parse(five.stdout).warnings[0]).toMatch(/5 replicas tolerate f = 1 fault, as 4 do/);
  });
});

describe('a 4-replica cluster', () => {
  let ports: number[] = [];

  it('init picks free ports (not 7000), and its hint keeps --dir', async () => {
    const r = await pbft(['init', '--dir', dir, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { portsChosen: string; replicas: { port: number }[] };
    expect(out.portsChosen).toBe('free');
    ports = out.replicas.map((x) => x.port);
    expect(ports).not.toContain(7000);
    expect(ports.map((p) => p - ports[0]!)).toEqual([0, 1, 2, 3]);
    const text = await pbft(['init', '--dir', join(root, 'other'), '--yes']);
    expect(text.stdout).toContain(`Next: npx pbft up --dir ${join(root, 'other')}`);
    // the other cluster next to it got other ports
    const ls = JSON.parse((await pbft(['ls', root, '--json'])).stdout) as { dir: string; ports: number[]; state: string }[];
    const other = ls.find((x) => x.dir === join(root, 'other'))!;
    expect(other.ports.some((p) => ports.includes(p))).toBe(false);
  });

  it('up starts them; a second up says they already run and starts nothing', async () => {
    const r = await pbft(['up', '--dir', dir]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Try: npx pbft request put hello world --dir ${dir}`);
    await pidsOf(dir, 4);
    const again = await pbft(['up', '--dir', dir]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).not.toMatch(/Starting/);
    expect(again.stdout).toMatch(/All 4 replicas were already running; nothing to start/);
  });

  it('ps, ls and config report without asking the replicas', async () => {
    const ps = JSON.parse((await pbft(['ps', '--dir', dir, '--json'])).stdout) as { id: number; state: string; pid: number; port: number }[];
    expect(ps.map((x) => x.state)).toEqual(['running', 'running', 'running', 'running']);
    expect(ps.map((x) => x.port)).toEqual(ports);
    const ls = JSON.parse((await pbft(['ls', root, '--json'])).stdout) as { dir: string; state: string; running: number[] }[];
    expect(ls.find((x) => x.dir === dir)).toMatchObject({ state: 'up', running: [0, 1, 2, 3] });
    expect(ls.find((x) => x.dir === join(root, 'two'))).toMatchObject({ state: 'down' });
    const config = await pbft(['config', '--dir', dir, '--json']);
    const c = JSON.parse(config.stdout) as { n: number; quorum: number; replicas: { settings: { fsync: boolean }; key: { present: boolean; mode: string } }[] };
    expect(c).toMatchObject({ n: 4, quorum: 3 });
    expect(c.replicas[0]).toMatchObject({ settings: { fsync: true }, key: { present: true, mode: '0600' } });
    // never a secret key
    const { readFileSync } = await import('node:fs');
    const secret = readFileSync(join(dir, 'keys', 'replica-0.key'), 'utf8').trim();
    expect(config.stdout).not.toContain(secret);
    expect((await pbft(['config', '--dir', dir])).stdout).not.toContain(secret);
  });

  it('values from stdin and @FILE; a large value is shown cut; keys are escaped', async () => {
    const stdin = await pbftWithInput(['request', 'put', 'from-stdin', '-', '--dir', dir, '--json'], 'line 1\nline 2\n');
    expect(stdin.exitCode, stdin.stderr).toBe(0);
    expect(JSON.parse(stdin.stdout)).toMatchObject({ ok: true, value: 'line 1\nline 2\n', valueFrom: 'stdin' });
    const file = join(root, 'big.txt');
    writeFileSync(file, 'z'.repeat(60_000));
    const big = await pbft(['request', 'put', 'big', `@${file}`, '--dir', dir]);
    expect(big.exitCode, big.stderr).toBe(0);
    expect(big.stdout).toContain(`put big = "${'z'.repeat(60)}…" (60000 bytes)`);
    expect(big.stdout.length).toBeLessThan(1000);
    const get = await pbft(['request', 'get', 'big', '--dir', dir, '--json']);
    expect((JSON.parse(get.stdout) as { result: string }).result).toHaveLength(60_000);
    writeFileSync(file, 'z'.repeat(70_000));
    const tooBig = await pbft(['request', 'put', 'big', `@${file}`, '--dir', dir]);
    expect(tooBig.exitCode).toBe(EXIT.usage);
    const evil = await pbft(['request', 'put', 'evil\nkey\x1b[2J', 'v', '--dir', dir]);
    expect(evil.exitCode, evil.stderr).toBe(0);
    expect(evil.stdout).toContain('put "evil\\nkey\\u001b[2J" = "v"');
    expect(evil.stdout).not.toContain('\x1b');
  });

  it('--read-only --trace names the 2f+1 tentative replies it rests on', async () => {
    const r = await pbft(['request', 'get', 'from-stdin', '--read-only', '--trace', '--dir', dir]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/result +(2f\+1 matching tentative replies|f\+1 matching replies) from/);
    if (/quorum: replicas \d, \d, \d/.test(r.stdout)) expect(r.stdout).toContain('2f+1 matching tentative replies');
  });

  it('status is healthy (exit 0); a partition makes a request time out with an unknown outcome', async () => {
    await waitForStatus(dir, (rows) => rows.every((x) => x.lastExecuted === rows[0]!.lastExecuted));
    const healthy = await pbft(['status', '--dir', dir, '--json']);
    expect(healthy.exitCode).toBe(0);
    expect(JSON.parse(healthy.stdout)).toMatchObject({ health: 'healthy', exitCode: 0, belowQuorum: false });
    for (const id of ['2', '3']) expect((await pbft(['fault', id, 'partition', '--from', '0,1', '--dir', dir])).exitCode).toBe(0);
    try {
      const r = await pbft(['request', 'put', 'maybe', 'later', '--timeout', '2500', '--dir', dir, '--json']);
      expect(r.exitCode).toBe(EXIT.noQuorum);
      const e = (JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string; details: { outcome: string; connected: number[] } } }).error;
      expect(e.code).toBe('NO_QUORUM');
      expect(e.message).toMatch(/the outcome is unknown: the put may still be executed once the replicas agree/);
      expect(e.details).toMatchObject({ outcome: 'unknown', connected: [0, 1, 2, 3] });
      expect(e.hint).toMatch(/connected to 4 of 4 replicas, yet they did not agree in time/);
      expect(e.hint).not.toMatch(/is the cluster up/);
      const degraded = await pbft(['status', '--dir', dir]);
      expect(degraded.exitCode).toBe(EXIT.degraded);
      expect(degraded.stdout).toMatch(/warning: faults in force on replicas 2, 3/);
    } finally {
      for (const id of ['2', '3']) await pbft(['fault', id, 'heal', '--dir', dir]);
    }
  });

  it('two paused replicas: below quorum, exit 5, advice to resume them (not pbft up)', async () => {
    for (const id of ['2', '3']) expect((await pbft(['fault', id, 'pause', '--dir', dir])).exitCode).toBe(0);
    try {
      const r = await pbft(['status', '--dir', dir]);
      expect(r.exitCode).toBe(EXIT.noQuorum);
      expect(r.stdout).toMatch(/^2\/4 up and answering \(quorum 3; 2 paused\)/m);
      expect(r.stdout).toMatch(/warning: below quorum: 2 of 4 replicas answer and 3 are needed/);
      expect(r.stdout).toMatch(/Resume: npx pbft fault 2 resume --dir .*; npx pbft fault 3 resume --dir /);
      expect(r.stdout).not.toMatch(/pbft up/);
      const j = JSON.parse((await pbft(['status', '--dir', dir, '--json'])).stdout) as { health: string; paused: number[]; up: number; reachable: number };
      expect(j).toMatchObject({ health: 'no-quorum', paused: [2, 3], reachable: 2 });
    } finally {
      for (const id of ['2', '3']) await pbft(['fault', id, 'resume', '--dir', dir]);
    }
    await waitForStatus(dir, (rows) => rows.every((x) => x.lastExecuted !== null));
  });

  it("logs --process shows a replica's own output", async () => {
    const r = await pbft(['logs', '--process', '1', '--dir', dir]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/--- pbft up: starting replica 1 at /);
    expect(r.stdout).toMatch(/"event":"ready","replica":1/);
    const two = await pbft(['logs', '--process', '0,1', '-n', '1', '--dir', dir, '--json']);
    const lines = two.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { replica: number; line: string });
    expect(lines.map((l) => l.replica)).toEqual([0, 1]);
    expect((await pbft(['logs', '--process', '1', '--phase', 'commit', '--dir', dir])).exitCode).toBe(EXIT.usage);
  });

  it('stop, start and restart are up and down by their other names; a stopped replica degrades status', async () => {
    const before = await pidsOf(dir, 4);
    const stop = await pbft(['stop', '3', '--dir', dir]);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(pidAlive(before[3]!)).toBe(false);
    const s = await pbft(['status', '--dir', dir, '--json']);
    expect(s.exitCode).toBe(EXIT.degraded);
    expect(JSON.parse(s.stdout)).toMatchObject({ health: 'degraded', notRunning: [3] });
    expect((JSON.parse(s.stdout) as { advice: string[] }).advice.join(' ')).toMatch(/up 3 --dir /);
    const start = await pbft(['start', '3', '--dir', dir]);
    expect(start.exitCode, start.stderr).toBe(0);
    const restart = await pbft(['restart', '1', '--dir', dir, '--grace', '2000', '--json']);
    expect(restart.exitCode, restart.stderr).toBe(0);
    const out = JSON.parse(restart.stdout) as { replicas: { id: number; stop: { status: string; pid: number }; start: { status: string; pid: number } }[] };
    expect(out.replicas[0]).toMatchObject({ id: 1, stop: { status: 'stopped', pid: before[1] }, start: { status: 'ready' } });
    expect(pidAlive(before[1]!)).toBe(false);
    await pidsOf(dir, 4);
  });

  it('a replica started with --no-fault-injection refuses, and the message names that flag', async () => {
    const r = await pbft(['restart', '2', '--no-fault-injection', '--dir', dir]);
    expect(r.exitCode, r.stderr).toBe(0);
    await pidsOf(dir, 4);
    const f = await pbft(['fault', '2', 'pause', '--dir', dir]);
    expect(f.exitCode).toBe(EXIT.config);
    expect(f.stderr).toMatch(/started with pbft up --no-fault-injection/);
    expect(f.stderr).not.toMatch(/--no-faults/);
    const back = await pbft(['restart', '2', '--dir', dir]);
    expect(back.exitCode, back.stderr).toBe(0);
    await pidsOf(dir, 4);
  });

  it('shell completion is there', async () => {
    const home = join(root, 'home');
    const r = await pbft(['autocomplete', 'bash'], { env: { HOME: home, XDG_CACHE_HOME: join(home, '.cache') } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/pbft autocomplete script bash/);
  });

  it('destroy needs a confirmation, then stops everything and removes the directory', async () => {
    const pids = (await pidsOf(dir, 4)).filter((p): p is number => p !== null);
    const refused = await pbft(['destroy', '--dir', dir]);
    expect(refused.exitCode).toBe(EXIT.usage);
    expect(refused.stderr).toMatch(/needs a confirmation; nothing was removed/);
    expect(existsSync(join(dir, 'cluster.json'))).toBe(true);
    const r = await pbft(['destroy', '--dir', dir, '--yes', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ destroyed: true, removedDir: true });
    for (const pid of pids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(dir)).toBe(false);
    const again = await pbft(['destroy', '--dir', dir, '--yes']);
    expect(again.exitCode).toBe(EXIT.config);
  });
});
