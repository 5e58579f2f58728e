/**
 * `pbft chaos` on a real 4-replica cluster, through the built CLI, as a user runs it: the short
 * chaos run of CI. The cluster is made stopped, so chaos starts it (and stops it at the end).
 * Seed 10 with these options plays ten faults of six kinds, among them a Byzantine equivocating
 * replica, crashes, a pause, client-link faults and a 2-2 partition while another replica is
 * crashed (three replicas down or cut off at once, more than f): requests must then wait, and
 * every check must still pass, the audit (pbft verify) with the equivocator declared faulty. The
 * schedule is the seed's; the timing is the machine's, so nothing here depends on timing.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaosReport } from '../../src/chaos/run.js';
import { replicaProcessState } from '../../src/cluster/processes.js';
import { initCluster } from '../../src/runtime/init.js';
import { ROOT, ensureBuilt, freePorts } from '../helpers/cluster.js';

const BIN = path.join(ROOT, 'bin', 'run.js');
const FAST = { checkpointInterval: 4, logWindow: 8, viewChangeTimeoutMs: 400, maxViewChangeTimeoutMs: 3200 };

function cli(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('pbft chaos on a real 4-replica cluster', () => {
  let dir: string;
  beforeAll(async () => {
    await ensureBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-chaos-'));
    await initCluster({ dir, replicas: 4, ports: await freePorts(4), protocol: FAST });
  }, 60_000);
  afterAll(async () => {
    // whatever happened, no replica process is left behind
    for (const id of [0, 1, 2, 3]) {
      const st = await replicaProcessState(dir, id).catch(() => null);
      if (st?.running && st.pid !== null)
        for (const target of [-st.pid, st.pid])
          try {
            process.kill(target, 'SIGKILL');
          } catch {
            /* gone */
          }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a bad nemesis list before touching the cluster', async () => {
    const r = await cli(['chaos', '--dir', dir, '--nemesis', 'crash,explode', '--json'], 30_000);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT', message: expect.stringMatching(/unknown nemesis "explode"/) } });
    const r2 = await cli(['chaos', '--dir', dir, '--overlap', '5'], 30_000);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/--overlap 5 is more than the 4 replicas/);
  });

  it('runs 20 s of load under ten faults, heals, converges, and every check passes', async () => {
    const r = await cli(
      [
        'chaos',
        '--dir',
        dir,
        '--duration',
        '20',
        '--clients',
        '3',
        '--period-ms',
        '2000',
        '--overlap',
        '2',
        '--seed',
        '10',
        '--timeout',
        '3000',
        '--converge-timeout',
        '60',
        '--json',
      ],
      170_000,
    );
    if (r.code !== 0) console.error(r.stderr.slice(-4000));
    const report = JSON.parse(r.stdout) as ChaosReport;
    expect(report.checks.linearizable.status).toBe('pass');
    expect(report.checks.lostWrites.status).toBe('pass');
    expect(report.checks.sameState.status).toBe('pass');
    // the audit, with the Byzantine equivocator declared faulty: its records alone may speak against it
    expect(report.byzantine).toEqual([1]);
    expect(report.checks.verify.status).toBe('pass');
    expect(report.checks.verify.message).toMatch(
      /^5 checks hold, [1-9]\d* certificates and [1-9]\d* signatures verified; (no evidence against Byzantine replica r1 in the records|evidence against Byzantine replica r1 \(expected\): .+)$/,
    );
    expect(report.convergence.ok).toBe(true);
    expect(report).toMatchObject({ ok: true, verdict: 'pass', anomalies: 0, seed: 10, n: 4, f: 1, startedCluster: true });
    expect(r.code).toBe(0);

    // the seed's schedule: ten faults, a Byzantine one among them, three replicas down at once
    expect(report.faults.planned).toBe(10);
    expect(report.faults.maxDownAtOnce).toBe(3);
    expect(report.faults.played.some((p) => p.kind === 'byzantine' && p.appliedMs !== null)).toBe(true);
    expect(report.faults.played.some((p) => p.kind === 'crash' && p.appliedMs !== null && p.healedMs !== null)).toBe(true);
    expect(report.faults.applied).toBeGreaterThanOrEqual(8);
    expect(report.ops.ok).toBeGreaterThan(20);
    expect(report.checks.lostWrites.detail!.ackedWrites).toBeGreaterThan(5);

    // the files, in the cluster directory
    expect(path.dirname(report.files.report).startsWith(path.join(dir, 'chaos'))).toBe(true);
    const onDisk = JSON.parse(readFileSync(report.files.report, 'utf8')) as ChaosReport;
    expect(onDisk.verdict).toBe('pass');
    const history = JSON.parse(readFileSync(report.files.history, 'utf8')) as { seed: number; history: { type: string }[]; schedule: unknown[] };
    expect(history.seed).toBe(10);
    expect(history.history).toHaveLength(report.ops.invoked);
    expect(history.history.every((e) => ['ok', 'info', 'fail'].includes(e.type))).toBe(true);
    expect(history.schedule).toHaveLength(10);
    const svg = readFileSync(report.files.timeline, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('byzantine r1');

    // chaos started the cluster, so it stopped it
    for (const id of [0, 1, 2, 3]) expect((await replicaProcessState(dir, id)).running).toBe(false);
    expect(existsSync(path.join(dir, 'cluster.json'))).toBe(true);
    console.log(
      `chaos e2e: ${report.ops.invoked} operations (${report.ops.ok} ok, ${report.ops.info} indeterminate, ${report.ops.fail} failed), ${report.faults.applied} faults, ${report.anomalies} anomalies, ${(report.wallMs / 1000).toFixed(1)} s; verify: ${report.checks.verify.message}`,
    );
  }, 180_000);
});
