/**
 * Issue 10, everyday use: hints that run as printed, typo suggestions, the closed error-code
 * table, keys and values on a terminal, values from stdin and files, the outcome of a timed-out
 * request, status health, init's directory, size and port checks, and demo --step.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, EXIT, EXIT_MEANINGS, PbftError, exitCodeFor, exitCodeTables } from '../../src/errors.js';
import { cmd, dirArg, pbftProgram, shellQuote } from '../../src/cluster/hints.js';
import { suggestCommand } from '../../src/cluster/suggest.js';
import { quoteText, showKey, showValue } from '../../src/cluster/format.js';
import { describeOutcome, explainTimeout, maxValueBytes, resolveValue, type RequestOutcome } from '../../src/cluster/request.js';
import { replyRule } from '../../src/cluster/trace.js';
import { formatStatusSummary, summarizeStatus, type ReplicaRow } from '../../src/cluster/status.js';
import { checkClusterDir, clusterSize, createCluster, pickFreePorts, siblingClusterPorts, sizeWarnings } from '../../src/cluster/init.js';
import { planUp } from '../../src/cluster/lifecycle.js';
import { waitForEnter } from '../../src/cluster/demo.js';
import { packageRoot } from '../../src/cluster/processes.js';
import { initCluster } from '../../src/runtime/init.js';
import type { LoadedCluster } from '../../src/runtime/config.js';

let root: string;
let cluster: LoadedCluster;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pbft-everyday-'));
  cluster = (await initCluster({ dir: join(root, 'c'), replicas: 4, ports: [41001, 41002, 41003, 41004] })).cluster;
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('hints run as printed', () => {
  const pkg = packageRoot();

  it('the program: pbft when PATH has this one, npx pbft in the checkout, node <bin> elsewhere', () => {
    const binDir = join(root, 'bin-ours');
    mkdirSync(binDir, { recursive: true });
    symlinkSync(join(pkg, 'bin', 'run.js'), join(binDir, 'pbft'));
    expect(pbftProgram({ env: { PATH: binDir }, cwd: root })).toBe('pbft');

    const otherDir = join(root, 'bin-other');
    mkdirSync(otherDir, { recursive: true });
    writeFileSync(join(otherDir, 'pbft'), '#!/bin/sh\n', { mode: 0o755 });
    // another pbft first on PATH: ours is not what a shell would run
    expect(pbftProgram({ env: { PATH: `${otherDir}:${binDir}` }, cwd: pkg })).toBe('npx pbft');
    expect(pbftProgram({ env: { PATH: '' }, cwd: pkg })).toBe('npx pbft');
    expect(pbftProgram({ env: { PATH: '' }, cwd: join(pkg, 'src') })).toBe('npx pbft');
    expect(pbftProgram({ env: { PATH: '' }, cwd: '/' })).toBe(`node ${join(pkg, 'bin', 'run.js').slice(1)}`);
    // started by npx: npx's PATH does not count
    expect(pbftProgram({ env: { PATH: binDir, npm_command: 'exec' }, cwd: pkg })).toBe('npx pbft');
  });

  it('--dir is kept unless the next command finds the cluster by itself', () => {
    expect(dirArg(undefined)).toBe('');
    expect(dirArg('./pbft-cluster', { env: {}, cwd: '/w' })).toBe('');
    expect(dirArg('/w/pbft-cluster', { env: {}, cwd: '/w' })).toBe('');
    expect(dirArg('/w/big', { env: {}, cwd: '/w' })).toBe(' --dir ./big');
    expect(dirArg('/tmp/x y', { env: {}, cwd: '/w' })).toBe(" --dir '/tmp/x y'");
    expect(dirArg('/tmp/c', { env: { PBFT_DIR: '/tmp/c' }, cwd: '/w' })).toBe('');
    expect(dirArg('./pbft-cluster', { env: { PBFT_DIR: '/tmp/c' }, cwd: '/w' })).toBe(' --dir ./pbft-cluster');
    expect(cmd('up 2', '/somewhere/else')).toMatch(/pbft up 2 --dir \/somewhere\/else$|run\.js up 2 --dir \/somewhere\/else$/);
  });

  it('shell quoting', () => {
    expect(shellQuote('abc/d-e.f')).toBe('abc/d-e.f');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe("''");
  });
});

describe('typos', () => {
  const ids = ['bench', 'demo', 'down', 'fault', 'fault:list', 'init', 'logs', 'request', 'sim', 'status', 'up'];
  it('suggests the command with the rest of the line', () => {
    expect(suggestCommand('requst:put:a:b', ids)).toMatchObject({ command: 'request', line: 'request put a b' });
    expect(suggestCommand('stauts', ids)).toMatchObject({ command: 'status', line: 'status' });
    expect(suggestCommand('falt:list', ids)).toMatchObject({ command: 'fault list', line: 'fault list' });
    expect(suggestCommand('frobnicate', ids)).toMatchObject({ command: null, line: null });
    // "-v" is not close to "up": two letters are not enough to guess from
    expect(suggestCommand('-v', ids).command).toBeNull();
  });
});

describe('error codes: one closed table', () => {
  it('every code has an exit class; unknown codes are internal', () => {
    for (const [code, [cls]] of Object.entries(ERROR_CODES)) expect(exitCodeFor(code), code).toBe(EXIT[cls]);
    expect(exitCodeFor('SOMETHING_ELSE')).toBe(EXIT.internal);
    expect(exitCodeFor(undefined)).toBe(EXIT.internal);
    expect(Object.keys(EXIT_MEANINGS).sort()).toEqual(Object.keys(EXIT).sort());
  });

  it('the README prints the tables generated from the code', () => {
    const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
    const m = /<!-- exit-codes:begin[^>]*-->\n([\s\S]*?)\n<!-- exit-codes:end -->/.exec(readme);
    expect(m, 'the exit-code tables in README.md').not.toBeNull();
    expect(m![1]).toBe(exitCodeTables());
    for (const code of Object.keys(ERROR_CODES)) expect(m![1]).toContain(`\`${code}\``);
  });

  it('errors carry details to --json', () => {
    const e = new PbftError('NO_QUORUM', 'x', { details: { outcome: 'unknown' } });
    expect(e.toJSON()).toEqual({ code: 'NO_QUORUM', message: 'x', details: { outcome: 'unknown' } });
  });
});

describe('keys and values on a terminal', () => {
  it('quotes and escapes what could break lines or reach the terminal as escape codes', () => {
    expect(showKey('greeting')).toBe('greeting');
    expect(showKey('a b')).toBe('"a b"');
    expect(showKey('evil\nkey\x1b[31m')).toBe('"evil\\nkey\\u001b[31m"');
    expect(quoteText('\u009b2J\u202e\u2028')).toBe('"\\u009b2J\\u202e\\u2028"');
    expect(quoteText('\x7f')).toBe('"\\u007f"');
  });

  it('cuts long values, with their length', () => {
    expect(showValue('short')).toBe('"short"');
    const big = 'x'.repeat(65536);
    const shown = showValue(big);
    expect(shown).toBe(`"${'x'.repeat(60)}…" (65536 bytes)`);
    expect(showValue('é'.repeat(200))).toMatch(/…" \(400 bytes\)$/);
  });

  it('describeOutcome uses both', () => {
    const base = { ok: true, raw: '', replicas: [0, 1], view: 0, latencyMs: 1, client: 'c', timestamp: 1, sentAtMs: 0, doneAtMs: 1 };
    const line = describeOutcome({ ...base, op: { op: 'put', key: 'k\n', value: 'v'.repeat(1000) }, result: null } as RequestOutcome);
    expect(line).toBe(`put "k\\n" = "${'v'.repeat(60)}…" (1000 bytes)  (previous value: none)`);
    expect(line).not.toContain('\n');
  });
});

describe('values from standard input and files', () => {
  it('takes the word, - (stdin) or @FILE, unless literal', async () => {
    expect(await resolveValue('hello', { maxBytes: 100 })).toMatchObject({ value: 'hello', from: 'argument', bytes: 5 });
    expect(await resolveValue('-', { maxBytes: 100, stdin: Readable.from([Buffer.from('a\n'), Buffer.from('b')]) })).toMatchObject({
      value: 'a\nb',
      from: 'stdin',
      bytes: 3,
    });
    const f = join(root, 'value.txt');
    writeFileSync(f, 'from a file\n');
    expect(await resolveValue('@value.txt', { maxBytes: 100, cwd: root })).toMatchObject({ value: 'from a file\n', from: 'file', file: f });
    expect(await resolveValue('@value.txt', { maxBytes: 100, literal: true })).toMatchObject({ value: '@value.txt', from: 'argument' });
    expect(await resolveValue('-', { maxBytes: 100, literal: true })).toMatchObject({ value: '-', from: 'argument' });
  });

  it('refuses too large, missing, binary and directory values', async () => {
    const f = join(root, 'big.txt');
    writeFileSync(f, 'x'.repeat(101));
    await expect(resolveValue(`@${f}`, { maxBytes: 100 })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/is 101 bytes; one request carries at most 100/),
    });
    await expect(resolveValue('-', { maxBytes: 3, stdin: Readable.from([Buffer.from('abcd')]) })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(resolveValue('x'.repeat(5), { maxBytes: 4 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await expect(resolveValue('@nope', { maxBytes: 100, cwd: root })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/cannot read the value file nope/),
    });
    await expect(resolveValue(`@${root}`, { maxBytes: 100 })).rejects.toMatchObject({ message: expect.stringMatching(/not a regular file/) });
    await expect(resolveValue('-', { maxBytes: 100, stdin: Readable.from([Buffer.from([0xff, 0xfe])]) })).rejects.toMatchObject({
      message: expect.stringMatching(/not UTF-8/),
    });
    await expect(resolveValue('@', { maxBytes: 100 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('the room for a value is maxOpBytes less the encoding', () => {
    const room = maxValueBytes(cluster, 'k');
    expect(room).toBeLessThan(cluster.config.protocol.maxOpBytes);
    expect(room).toBeGreaterThan(cluster.config.protocol.maxOpBytes - 100);
  });
});

describe('a request that timed out', () => {
  const e = new PbftError(
    'NO_QUORUM',
    'no quorum: no replica answered within 10 ms, 2 matching replies needed (connected to 4 of 4 replicas: 0,1,2,3); the outcome is unknown: it may still be executed later',
    {
      details: { outcome: 'unknown', answered: [], connected: [0, 1, 2, 3] },
    },
  );

  it('says its outcome is unknown, and does not ask whether the cluster is up when it is reachable', () => {
    const x = explainTimeout(cluster, { op: 'put', key: 'k', value: 'v' }, e, [0, 1, 2, 3]);
    expect(x.code).toBe('NO_QUORUM');
    expect(x.message).toMatch(/the outcome is unknown: the put may still be executed once the replicas agree/);
    expect(x.message).toMatch(/request get k/);
    expect(x.hint).toMatch(/connected to 4 of 4 replicas, yet they did not agree in time: a partition/);
    expect(x.hint).not.toMatch(/is the cluster up/);
    expect(x.details).toMatchObject({ outcome: 'unknown', connected: [0, 1, 2, 3] });
  });

  it('asks whether the cluster is up when too few replicas are reachable; a get changes nothing', () => {
    const x = explainTimeout(cluster, { op: 'get', key: 'k' }, e, [0]);
    expect(x.hint).toMatch(/only 1 of 4 replicas \(3 make a quorum\); is the cluster up/);
    expect(x.message).toMatch(/a get changes nothing/);
    expect(x.details).toMatchObject({ outcome: 'none' });
  });
});

describe('read-only wording', () => {
  it('2f+1 tentative replies on the read-only path, f+1 otherwise or after falling back', () => {
    expect(replyRule({ replicas: [0, 1] })).toBe('f+1 matching replies');
    expect(replyRule({ readOnly: true, quorum: 3, replicas: [0, 1, 2] })).toBe('2f+1 matching tentative replies');
    expect(replyRule({ readOnly: true, quorum: 3, replicas: [0, 1] })).toBe('f+1 matching replies');
  });
});

describe('status health', () => {
  const row = (id: number, o: Partial<ReplicaRow> = {}): ReplicaRow => ({
    id,
    host: '127.0.0.1',
    port: 41001 + id,
    up: true,
    pid: 100 + id,
    reachable: true,
    view: 0,
    primary: 0,
    viewChanging: false,
    lastExecuted: 5,
    stableCheckpoint: 0,
    stateDigest: 'ab',
    connectedPeers: [],
    dropped: {},
    faults: [],
    process: 'running',
    ...o,
  });
  const paused = (id: number) => row(id, { reachable: false, process: 'paused', view: null, lastExecuted: null, stateDigest: null });
  const down = (id: number) => row(id, { reachable: false, up: false, pid: null, process: 'down', view: null, lastExecuted: null, stateDigest: null });

  it('healthy: everyone answers, no faults', () => {
    const s = summarizeStatus(cluster, [row(0), row(1), row(2), row(3)]);
    expect(s).toMatchObject({ health: 'healthy', exitCode: 0, belowQuorum: false, warnings: [], advice: [] });
  });

  it('two of four paused: below quorum, exit 5, and the advice is to resume them (not pbft up)', () => {
    const rows = [row(0), row(1), paused(2), paused(3)];
    const s = summarizeStatus(cluster, rows);
    expect(s).toMatchObject({ health: 'no-quorum', exitCode: EXIT.noQuorum, belowQuorum: true, paused: [2, 3], up: 4, reachable: 2 });
    const text = formatStatusSummary(s, rows);
    expect(text).toMatch(/^2\/4 up and answering \(quorum 3; 2 paused\)/);
    expect(text).toMatch(/warning: below quorum: 2 of 4 replicas answer and 3 are needed/);
    expect(text).toMatch(/fault 2 resume.*fault 3 resume/);
    expect(text).not.toMatch(/pbft up/);
  });

  it('one down: degraded (exit 7), start it; faults in force: degraded, clear them', () => {
    const s = summarizeStatus(cluster, [row(0), row(1), row(2), down(3)]);
    expect(s).toMatchObject({ health: 'degraded', exitCode: EXIT.degraded, notRunning: [3] });
    expect(s.advice.join(' ')).toMatch(/up 3 --dir /);
    const f = summarizeStatus(cluster, [row(0), row(1), row(2, { faults: ['isolate'] }), row(3)]);
    expect(f).toMatchObject({ health: 'degraded', faulty: [2] });
    expect(f.advice.join(' ')).toMatch(/fault 2 clear/);
  });

  it('all down: exit 4; running but silent: advice to read its output', () => {
    expect(summarizeStatus(cluster, [down(0), down(1), down(2), down(3)])).toMatchObject({ health: 'down', exitCode: EXIT.down });
    const s = summarizeStatus(cluster, [row(0), row(1), row(2), row(3, { reachable: false })]);
    expect(s).toMatchObject({ health: 'degraded', silent: [3] });
    expect(s.advice.join(' ')).toMatch(/logs --process 3/);
  });
});

describe('init: directory, sizes, ports', () => {
  it('refuses /proc, /sys, /dev and links into them, files and read-only places, up front', () => {
    expect(() => checkClusterDir('/proc/x')).toThrow(/\/proc belongs to the kernel/);
    expect(() => checkClusterDir('/sys/fs/x')).toThrow(expect.objectContaining({ code: 'BAD_DIRECTORY' }));
    expect(() => checkClusterDir('/dev/x')).toThrow(/\/dev belongs to the kernel/);
    const link = join(root, 'to-proc');
    symlinkSync('/proc/self', link);
    expect(() => checkClusterDir(join(link, 'x'))).toThrow(/belongs to the kernel/);
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    expect(() => checkClusterDir(join(file, 'x'))).toThrow(/is not a directory/);
    expect(() => checkClusterDir(join(root, 'new', 'deep'))).not.toThrow();
  });

  it('warns about sizes that tolerate no fault or waste replicas', () => {
    expect(sizeWarnings(4, 1)).toEqual([]);
    expect(sizeWarnings(7, 2)).toEqual([]);
    expect(sizeWarnings(1, 0)[0]).toMatch(/1 replica tolerates no faulty replica \(f = 0\)/);
    expect(sizeWarnings(2, 0)[0]).toMatch(/needs 4 to tolerate one Byzantine fault/);
    expect(sizeWarnings(5, 1)[0]).toMatch(/5 replicas tolerate f = 1 fault, as 4 do.*--replicas 4 \(or 7 for f = 2\)/);
    expect(sizeWarnings(7, 1)[0]).toMatch(/could tolerate f = 2/);
    expect(clusterSize({ faults: 2 })).toEqual({ n: 7, f: 2 });
    expect(clusterSize({})).toEqual({ n: 4, f: 1 });
  });

  it('picks consecutive free ports outside the ephemeral range, away from other clusters', async () => {
    const ports = await pickFreePorts(4);
    expect(ports).not.toBeNull();
    expect(ports!.map((p) => p - ports![0]!)).toEqual([0, 1, 2, 3]);
    // a taken port is never picked: take the whole first choice of a fixed random source
    const srv: Server = createServer();
    const first = (await pickFreePorts(2, { random: () => 0.5 }))!;
    await new Promise<void>((res) => srv.listen(first[1], '127.0.0.1', () => res()));
    try {
      let calls = 0;
      const next = await pickFreePorts(2, { random: () => (calls++ === 0 ? 0.5 : 0.25) });
      expect(next).not.toContain(first[1]);
    } finally {
      await new Promise<void>((res) => srv.close(() => res()));
    }
    expect(siblingClusterPorts(join(root, 'other'))).toEqual(new Set([41001, 41002, 41003, 41004]));
    const avoid = await pickFreePorts(2, { random: () => 0.5, avoid: new Set(first), attempts: 1 });
    expect(avoid).toBeNull();
  });

  it('createCluster: free ports by default, a base port when given, warnings for odd sizes', async () => {
    const a = await createCluster({ dir: join(root, 'a'), replicas: 5 });
    expect(a.ports).toBe('free');
    expect(a.config.replicas.map((r) => r.port)).not.toContain(7000);
    expect(a.warnings).toHaveLength(1);
    const b = await createCluster({ dir: join(root, 'b'), basePort: 7100 });
    expect(b.ports).toBe('base-port');
    expect(b.config.replicas.map((r) => r.port)).toEqual([7100, 7101, 7102, 7103]);
    expect(b.warnings).toEqual([]);
    await expect(createCluster({ dir: '/proc/nope' })).rejects.toMatchObject({ code: 'BAD_DIRECTORY' });
  });
});

describe('up and demo --step', () => {
  it('planUp: nothing to start when all run; all to start when none do', async () => {
    expect(await planUp(cluster)).toEqual({ toStart: [0, 1, 2, 3], alreadyRunning: [] });
    expect(await planUp(cluster, [1, 3])).toEqual({ toStart: [1, 3], alreadyRunning: [] });
  });

  it('waitForEnter resolves on a line, and rejects when aborted', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const p = waitForEnter(input, output, 'press Enter ');
    input.write('\n');
    await p;
    expect(output.read()?.toString()).toBe('press Enter ');
    const ac = new AbortController();
    const q = waitForEnter(input, new PassThrough(), '', ac.signal);
    ac.abort(new PbftError('INTERRUPTED', 'interrupted'));
    await expect(q).rejects.toMatchObject({ code: 'INTERRUPTED' });
  });
});
