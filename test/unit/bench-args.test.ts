/**
 * The bench/ scripts' flags (bench/args.mjs): --help prints the usage and runs nothing; a
 * mistyped flag or a bad value is an error with exit code 2, not a run of many minutes with the
 * defaults (which `node bench/ab.mjs --help` used to start). bench/ab.mjs is the script spawned
 * here: it imports no build output, so this needs no `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const script = path.resolve(__dirname, '../../bench/ab.mjs');
const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 20_000 });

describe('bench/ab.mjs flags', () => {
  it('--help prints the usage and exits 0 without running anything', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('usage: node bench/ab.mjs');
    expect(r.stderr).not.toMatch(/round 1/);
  });

  it.each([
    [['--rouns', '3'], /Unknown option '--rouns'/],
    [['--rounds', 'x'], /--rounds "x": expected an integer >= 1/],
    [['--rounds', '0'], /--rounds "0": expected an integer >= 1/],
    [['--clients', '1,a'], /--clients "1,a": expected comma-separated integers >= 1/],
    [['--fsync', 'maybe'], /--fsync "maybe": expected comma-separated values of on, off/],
    [['--warmup=-1'], /--warmup "-1": expected a number of seconds >= 0/],
    [['--warmup', '-1'], /argument is ambiguous/],
    [['--json'], /argument missing/],
    [['stray'], /Unexpected argument 'stray'/],
  ])('%j is an error (exit 2) that names the problem and shows the usage', (args, message) => {
    const r = run(...(args as string[]));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('usage: node bench/ab.mjs');
  });
});
