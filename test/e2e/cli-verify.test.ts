/**
 * `pbft verify` on a real 4-replica cluster (127.0.0.1, free ports, a temporary directory; every
 * replica stopped at the end): requests with checkpoints, then verify passes on the running
 * cluster and again after `down`; one ledger altered on disk is then reported, naming the replica.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyReport } from '../../src/audit/index.js';
import { encodeLedgerFrame, ledgerSegmentName, type LedgerRecord } from '../../src/runtime/ledger.js';
import { initCluster } from '../../src/runtime/init.js';
import { PbftClient } from '../../src/runtime/client.js';
import { loadCluster } from '../../src/runtime/config.js';
import { ensureBuilt, freePorts, kv } from '../helpers/cluster.js';
import { cleanupClusterDir, pbft } from './cli-helpers.js';

let root: string;
let dir: string;
let dir2: string;

beforeAll(async () => {
  await ensureBuilt();
  root = await mkdtemp(join(tmpdir(), 'pbft-verify-e2e-'));
  dir = join(root, 'c');
  dir2 = join(root, 'byz');
  await initCluster({ dir, replicas: 4, ports: await freePorts(4), protocol: { checkpointInterval: 4, logWindow: 8 } });
  await initCluster({ dir: dir2, replicas: 4, ports: await freePorts(4), protocol: { checkpointInterval: 4, logWindow: 8 } });
}, 180_000);

afterAll(async () => {
  await cleanupClusterDir(dir);
  await cleanupClusterDir(dir2);
  await rm(root, { recursive: true, force: true });
}, 60_000);

const parse = (stdout: string) => JSON.parse(stdout) as VerifyReport;

describe('pbft verify on a real cluster', () => {
  it('passes while it runs and after down; reports a tampered ledger and names its replica', async () => {
    expect((await pbft(['up', '--dir', dir])).exitCode).toBe(0);
    const client = await PbftClient.connect(await loadCluster(dir));
    try {
      for (let i = 0; i < 14; i++) await client.request(kv.put(`k${i}`, `v${i}`), { timeoutMs: 20_000 });
    } finally {
      client.close();
    }

    const running = await pbft(['verify', '--dir', dir, '--json']);
    expect(running.exitCode, running.stderr).toBe(0);
    const r1 = parse(running.stdout);
    expect(r1.ok).toBe(true);
    expect(r1.stats.sequenceNumbers).toBeGreaterThanOrEqual(14);
    expect(r1.replicas.every((x) => x.running && x.state.status === 'pass')).toBe(true);
    expect(r1.checks.find((c) => c.name === 'checkpoints')!.summary).toMatch(/^[1-9]\d* stable checkpoints/);

    const human = await pbft(['verify', '--dir', dir]);
    expect(human.exitCode).toBe(0);
    expect(human.stdout.split('\n').filter((l) => /^replica \d/.test(l))).toHaveLength(4);
    expect(human.stdout.split('\n').filter((l) => /^check \w+ +ok/.test(l))).toHaveLength(5);
    expect(human.stdout).toMatch(/^Verified: every check holds/m);

    expect((await pbft(['down', '--dir', dir])).exitCode).toBe(0);
    const stopped = await pbft(['verify', '--dir', dir, '--json']);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    const r2 = parse(stopped.stdout);
    expect(r2.replicas.every((x) => !x.running && x.state.status === 'skip')).toBe(true);
    expect(r2.stats.executions).toBe(r1.stats.executions);

    // Replica 2's ledger is rewritten to say it executed another batch at seq 3, with a valid
    // checksum: what a Byzantine replica (or someone with the disk) would do.
    const file = join(dir, 'replicas', '2', 'ledger', ledgerSegmentName(1));
    const lines = readFileSync(file, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes('"k":"exec"') && l.includes('"seq":3,'));
    expect(at).toBeGreaterThan(-1);
    const records = JSON.parse(lines[at]!.slice(9)) as LedgerRecord[];
    for (const r of records) if (r.k === 'exec' && r.seq === 3) r.digest = 'f'.repeat(64);
    lines[at] = encodeLedgerFrame(records).toString('utf8').trimEnd();
    // ...and one frame of replica 1's ledger is damaged
    const file1 = join(dir, 'replicas', '1', 'ledger', ledgerSegmentName(1));
    const lines1 = readFileSync(file1, 'utf8').split('\n');
    // a frame other than the one with seq 3 (replica 1 must still vouch for seq 3 below), and
    // not the last one (that would be a torn tail); frames hold many records, so pick by content:
    // the one after seq 3's if that is not the last, else the one before
    const seq3At1 = lines1.findIndex((l) => l.includes('"k":"exec"') && l.includes('"seq":3,'));
    let lastFrame = lines1.length - 1;
    while (lastFrame > 0 && lines1[lastFrame] === '') lastFrame--;
    const bad = seq3At1 + 1 < lastFrame ? seq3At1 + 1 : seq3At1 - 1;
    expect(seq3At1).toBeGreaterThan(-1);
    expect(bad).toBeGreaterThanOrEqual(0);
    expect(bad).toBeLessThan(lastFrame);
    lines1[bad] = lines1[bad]!.replace('"', "'");
    writeFileSync(file, lines.join('\n'));
    writeFileSync(file1, lines1.join('\n'));

    const tampered = await pbft(['verify', '--dir', dir, '--json']);
    expect(tampered.exitCode).toBe(8);
    const r3 = parse(tampered.stdout);
    expect(r3.outcome).toBe('violation');
    expect(r3.accused).toEqual([2]);
    expect(r3.checks.find((c) => c.name === 'agreement')!.problems.join('\n')).toMatch(
      /^seq 3: different batches executed: .* by 0,1,3 \(certified\); ffffffffffff by 2$/m,
    );
    expect(r3.checks.find((c) => c.name === 'ledgers')!.problems.join('\n')).toMatch(
      new RegExp(`replica 1: damaged ledger record at .*:${bad + 1} \\(checksum mismatch\\); checked the rest`),
    );
    const text = await pbft(['verify', '--dir', dir]);
    expect(text.exitCode).toBe(8);
    expect(text.stdout).toMatch(/Evidence against replica 2 \(their own records contradict a certificate\)/);
    expect(text.stdout).toMatch(/^Violation: /m);
  }, 180_000);

  it('with a replica made Byzantine (corrupt-state): a violation naming it; with --faulty, expected evidence and exit 0', async () => {
    expect((await pbft(['up', '--dir', dir2])).exitCode).toBe(0);
    // on activation it sets one of k0-k2 in its store (the store is empty); the keys written here
    // are others, so that stays, and its CHECKPOINT at 4 contradicts the stable one
    const fault = await pbft(['fault', '2', 'byzantine', 'corrupt-state', '--dir', dir2]);
    expect(fault.exitCode, fault.stderr).toBe(0);
    const client = await PbftClient.connect(await loadCluster(dir2));
    try {
      for (let i = 0; i < 14; i++) await client.request(kv.put(`x${i}`, `v${i}`), { timeoutMs: 20_000 });
    } finally {
      client.close();
    }

    const plain = await pbft(['verify', '--dir', dir2, '--json']);
    expect(plain.exitCode, plain.stderr).toBe(8);
    const r1 = parse(plain.stdout);
    expect(r1.accused).toEqual([2]);
    expect(r1.evidence).toContainEqual(expect.objectContaining({ replica: 2, kind: 'checkpoint-contradiction', seq: 4 }));
    expect(r1.faulty).toEqual([]);

    const declared = await pbft(['verify', '--dir', dir2, '--faulty', '2', '--json']);
    expect(declared.exitCode, declared.stdout).toBe(0);
    const r2 = parse(declared.stdout);
    expect(r2).toMatchObject({ ok: true, outcome: 'ok', faulty: [2], evidence: [], accused: [] });
    expect(r2.expectedEvidence).toContainEqual(expect.objectContaining({ replica: 2, kind: 'checkpoint-contradiction', seq: 4 }));
    expect(r2.expectedEvidence.every((e) => e.replica === 2)).toBe(true);
    expect(r2.checks.find((c) => c.name === 'checkpoints')!.expected.join('\n')).toMatch(/^replica 2: it signed state digest \w+ at checkpoint 4;/m);
    const text = await pbft(['verify', '--dir', dir2, '--faulty', '2']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^Declared faulty: replica 2\. Expected evidence against replica 2 /m);
    expect(text.stdout).toMatch(/^Verified: every check holds for the correct replicas, replica 2 treated as faulty/m);

    // an innocent replica declared faulty instead: still the violation against 2
    const wrong = await pbft(['verify', '--dir', dir2, '--faulty', '1', '--json']);
    expect(wrong.exitCode).toBe(8);
    expect(parse(wrong.stdout).accused).toEqual([2]);

    // more than f, or not a replica: usage errors
    const many = await pbft(['verify', '--dir', dir2, '--faulty', '1,2']);
    expect(many.exitCode).toBe(2);
    expect(many.stderr).toMatch(/--faulty: 2 replicas declared faulty \(1,2\), but this cluster of 4 tolerates at most f = 1/);
    const unknown = await pbft(['verify', '--dir', dir2, '--faulty', '7']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/--faulty: unknown replica 7: this cluster has replicas 0-3/);

    expect((await pbft(['down', '--dir', dir2])).exitCode).toBe(0);
  }, 180_000);
});
