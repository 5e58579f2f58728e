/**
 * bench/pingpong.mjs (the price of one message between two processes): a short run measures
 * both transports and reports each side's CPU; its echo process is gone afterwards. Figures are
 * not asserted (benchmarks measure, tests do not time), only that they are there and positive.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const script = path.resolve(__dirname, '../../bench/pingpong.mjs');

describe('bench/pingpong.mjs', () => {
  it('measures ws and raw TCP round trips on loopback and reports CPU per message', () => {
    const r = spawnSync(process.execPath, [script, '--round-trips', '300', '--rounds', '2', '--size', '64', '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ roundTrips: 300, rounds: 2, size: 64 });
    for (const t of ['ws', 'tcp']) {
      const m = out[t] as Record<string, number>;
      for (const k of ['wallUs', 'pingCpuUs', 'echoCpuUs', 'cpuUsPerMessage']) expect(m[k], `${t}.${k}`).toBeGreaterThan(0);
      expect(m.cpuUsPerMessage).toBeCloseTo((m.pingCpuUs + m.echoCpuUs) / 2, 0);
    }
  });

  it('refuses a message too small to tell from its CPU probe', () => {
    const r = spawnSync(process.execPath, [script, '--size', '4'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--size "4": expected an integer >= 8/);
  });
});
