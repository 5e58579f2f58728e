/**
 * verifyCluster on ledgers written here with the cluster's real keys (no replica processes: the
 * replicas are "stopped", so the state check is skipped and the ledgers are what is checked).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFaultyIds, formatVerifyReport, verifyCluster, type VerifyReport } from '../../src/audit/index.js';
import { palette } from '../../src/cluster/format.js';
import { makeRequest, requestDigest, sign, batchDigest } from '../../src/core/messages.js';
import type { CheckpointBody, CommitBody, Signed } from '../../src/core/types.js';
import { KeyedAuthenticator } from '../../src/crypto/index.js';
import { readClientSecret, readReplicaSecret, type LoadedCluster } from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';
import { AuditLedger, ledgerSegmentName, type LedgerRecord } from '../../src/runtime/ledger.js';
import { freePorts } from '../helpers/cluster.js';

let base: string;
let cluster: LoadedCluster;
let auths: KeyedAuthenticator[];
let client: KeyedAuthenticator;

beforeAll(async () => {
  base = mkdtempSync(path.join(os.tmpdir(), 'pbft-verify-'));
  const init = await initCluster({ dir: path.join(base, 'seed'), replicas: 4, ports: await freePorts(4) });
  cluster = init.cluster;
  auths = await Promise.all([0, 1, 2, 3].map(async (i) => new KeyedAuthenticator(cluster.scheme, await readReplicaSecret(cluster, i), cluster.keyring)));
  client = new KeyedAuthenticator(cluster.scheme, await readClientSecret(cluster, 'client0'), cluster.keyring);
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

function commit(seq: number, digest: string, replica: number, view = 0): Signed<CommitBody> {
  return sign<CommitBody>(auths[replica]!, { type: 'commit', view, seq, digest, replica });
}
function checkpointMsg(seq: number, digest: string, replica: number): Signed<CheckpointBody> {
  return sign<CheckpointBody>(auths[replica]!, { type: 'checkpoint', seq, digest, replica });
}
/** a real batch of one request at seq, its digest, and an exec record with a certificate from `signers` */
function execAt(seq: number, signers = [0, 1, 2], op = `{"op":"put","key":"k${seq}","value":"v"}`): Extract<LedgerRecord, { k: 'exec' }> {
  const req = makeRequest(client, 'client0', seq, op);
  const digest = batchDigest(client, [req]);
  return {
    k: 'exec',
    view: 0,
    seq,
    digest,
    requests: [{ client: 'client0', timestamp: seq, digest: requestDigest(client, req) }],
    cert: signers.map((r) => commit(seq, digest, r)),
    src: 'commit',
  };
}

/** A copy of the seed cluster whose replicas' ledgers hold `records[i]` (one frame each). */
let copies = 0;
async function clusterWith(records: LedgerRecord[][]): Promise<string> {
  const dir = path.join(base, `c${copies++}`);
  await initClusterCopy(dir);
  for (let i = 0; i < 4; i++) {
    const l = AuditLedger.open(path.join(dir, 'replicas', String(i), 'ledger'), { replica: i, clusterId: cluster.keyring.clusterId, fsync: false });
    for (const r of records[i] ?? []) await l.append([r]);
    l.close();
  }
  return dir;
}
async function initClusterCopy(dir: string): Promise<void> {
  const { cpSync } = await import('node:fs');
  cpSync(path.join(base, 'seed'), dir, { recursive: true });
}

const good = (n: number) => Array.from({ length: n }, (_, i) => execAt(i + 1));

describe('verifyCluster', () => {
  it('passes on consistent ledgers, and says the stopped replicas were not state-checked', async () => {
    const recs = good(6);
    const cp: LedgerRecord = {
      k: 'checkpoint',
      seq: 4,
      digest: 'ab'.repeat(32),
      proof: [0, 1, 2].map((r) => checkpointMsg(4, 'ab'.repeat(32), r)),
      src: 'stable',
    };
    const dir = await clusterWith(
      [0, 1, 2, 3].map((i) => [...recs.slice(0, 4), { k: 'own-checkpoint', msg: checkpointMsg(4, 'ab'.repeat(32), i) }, cp, ...recs.slice(4)]),
    );
    const r = await verifyCluster({ dir });
    expect(r.checks.map((c) => [c.name, c.status])).toEqual([
      ['ledgers', 'pass'],
      ['agreement', 'pass'],
      ['certified', 'pass'],
      ['checkpoints', 'pass'],
      ['state', 'pass'],
    ]);
    expect(r).toMatchObject({ ok: true, outcome: 'ok', exitCode: 0, evidence: [], accused: [] });
    expect(r.replicas.every((x) => x.state.status === 'skip' && /state not checked/.test(x.state.summary))).toBe(true);
    expect(r.stats).toMatchObject({ sequenceNumbers: 6, executions: 24 });
  });

  it('names a replica whose certificate is forged (a bad signature) or short (2f COMMITs)', async () => {
    const recs = good(3);
    const forged = execAt(2);
    forged.cert![1] = { ...forged.cert![1]!, sig: forged.cert![0]!.sig }; // replica 1's vote with replica 0's signature
    const short = execAt(3, [0, 1]);
    const dir = await clusterWith([recs, recs, [recs[0]!, forged, recs[2]!], [recs[0]!, recs[1]!, short]]);
    const r = await verifyCluster({ dir });
    expect(r.outcome).toBe('violation');
    expect(r.exitCode).toBe(8);
    expect(r.accused).toEqual([2, 3]);
    const certified = r.checks.find((c) => c.name === 'certified')!;
    expect(certified.status).toBe('fail');
    expect(certified.problems.join('\n')).toMatch(/replica 2: seq 2 .*the COMMIT of replica 1 has a bad signature/);
    expect(certified.problems.join('\n')).toMatch(/replica 3: seq 3 .*2 COMMITs from distinct replicas, 3 needed/);
    expect(r.checks.find((c) => c.name === 'agreement')!.status).toBe('pass');
  });

  it('checks signatures on worker threads with the same verdicts (needs the build: npm test makes it)', async () => {
    const recs = good(8);
    const forged = execAt(2);
    forged.cert![1] = { ...forged.cert![1]!, sig: forged.cert![0]!.sig };
    const cp: LedgerRecord = {
      k: 'checkpoint',
      seq: 4,
      digest: 'ab'.repeat(32),
      proof: [0, 1, 3].map((r) => ({ ...checkpointMsg(4, 'ab'.repeat(32), r), ...(r === 3 ? { sig: '00'.repeat(64) } : {}) })),
      src: 'stable',
    };
    const dir = await clusterWith([recs, recs, [recs[0]!, forged, ...recs.slice(2), cp], recs]);
    const alone = await verifyCluster({ dir, workers: 0 });
    // the worker of the build (npm test builds first; a stale dist/ fails the comparison below)
    const signatureWorkerUrl = new URL('../../dist/audit/sig-worker.js', import.meta.url);
    const threads = await verifyCluster({ dir, workers: 2, parallelMinSignatures: 1, signatureWorkerUrl });
    expect(alone.stats.signatureWorkers).toBe(0);
    // both workers answered (a worker that fails leaves its share to the checks: still correct, but not this)
    expect(threads.stats.signatureWorkers).toBe(2);
    const same = (r: VerifyReport) => ({ ...r, stats: { ...r.stats, ms: 0, signatureWorkers: 0 } });
    expect(same(threads)).toEqual(same(alone));
    expect(alone.outcome).toBe('violation');
    expect(alone.accused).toEqual([2]);
    expect(alone.checks.find((c) => c.name === 'checkpoints')!.problems.join('\n')).toMatch(/the CHECKPOINT of replica 3 has a bad signature/);
  });

  it('counts the same signatures with workers as without: those the checks ask about (review: prefetch counted them all)', async () => {
    const recs = good(4);
    const wrongFirst = execAt(3);
    wrongFirst.cert![0] = commit(4, wrongFirst.digest, 0); // the checks stop at this COMMIT
    const dir = await clusterWith([
      recs,
      recs,
      [recs[0]!, recs[1]!, wrongFirst, recs[3]!, { k: 'own-checkpoint', msg: checkpointMsg(4, 'cd'.repeat(32), 0) }],
      recs,
    ]);
    const signatureWorkerUrl = new URL('../../dist/audit/sig-worker.js', import.meta.url);
    const alone = await verifyCluster({ dir, workers: 0 });
    const threads = await verifyCluster({ dir, workers: 2, parallelMinSignatures: 1, signatureWorkerUrl });
    expect(threads.stats.signatureWorkers).toBe(2);
    expect(threads.stats.signaturesVerified).toBe(alone.stats.signaturesVerified);
    expect({ ...threads, stats: null }).toEqual({ ...alone, stats: null });
  });

  it('names the replica that executed another batch at a seq a valid certificate commits', async () => {
    const recs = good(3);
    const other = execAt(2, [1, 2, 3], '{"op":"del","key":"k2"}');
    other.cert = null; // it has no certificate for what it did
    const dir = await clusterWith([recs, recs, recs, [recs[0]!, other, recs[2]!]]);
    const r = await verifyCluster({ dir });
    expect(r.outcome).toBe('violation');
    expect(r.accused).toEqual([3]);
    expect(r.evidence[0]).toMatchObject({ replica: 3, kind: 'conflicting-execution', seq: 2 });
    const agreement = r.checks.find((c) => c.name === 'agreement')!;
    expect(agreement.status).toBe('fail');
    expect(agreement.problems[0]).toMatch(/^seq 2: different batches executed: .* by 0,1,2 \(certified\); .* by 3$/);
  });

  it('finds replicas that signed COMMITs for two batches in one view (certificates for both: more than f faulty)', async () => {
    const recs = good(2);
    const other = execAt(2, [0, 1, 3], '{"op":"del","key":"k2"}'); // 0 and 1 sign both batches at view 0, seq 2
    const dir = await clusterWith([recs, recs, recs, [recs[0]!, other]]);
    const r = await verifyCluster({ dir });
    expect(r.outcome).toBe('violation');
    expect(r.accused).toEqual([0, 1]);
    expect(r.evidence.every((e) => e.kind === 'equivocation')).toBe(true);
    expect(r.checks.find((c) => c.name === 'agreement')!.problems.join('\n')).toMatch(/valid commit certificates for 2 different batches/);
  });

  it('names a replica whose signed checkpoint contradicts a stable checkpoint certificate', async () => {
    const d = 'ab'.repeat(32);
    const cp: LedgerRecord = { k: 'checkpoint', seq: 4, digest: d, proof: [0, 1, 2].map((x) => checkpointMsg(4, d, x)), src: 'stable' };
    const recs = good(4);
    const dir = await clusterWith([0, 1, 2, 3].map((i) => [...recs, { k: 'own-checkpoint', msg: checkpointMsg(4, i === 3 ? 'cd'.repeat(32) : d, i) }, cp]));
    const r = await verifyCluster({ dir });
    expect(r.accused).toEqual([3]);
    expect(r.evidence[0]).toMatchObject({ kind: 'checkpoint-contradiction', seq: 4 });
    expect(r.checks.find((c) => c.name === 'checkpoints')!.status).toBe('fail');
  });

  it('reports a damaged ledger and goes on checking the rest (still finding a violation elsewhere)', async () => {
    const recs = good(4);
    const short = execAt(4, [0]);
    const dir = await clusterWith([recs, recs, [...recs.slice(0, 3), short], recs]);
    const file = path.join(dir, 'replicas', '1', 'ledger', ledgerSegmentName(1));
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"view":0', '"view":9'); // seq 2's record: checksum fails
    writeFileSync(file, lines.join('\n'));
    const r = await verifyCluster({ dir });
    const ledgers = r.checks.find((c) => c.name === 'ledgers')!;
    expect(ledgers.status).toBe('incomplete');
    expect(ledgers.problems.join('\n')).toMatch(
      new RegExp(`replica 1: damaged ledger record at .*${ledgerSegmentName(1)}:2 \\(checksum mismatch\\); checked the rest`),
    );
    expect(ledgers.problems.join('\n')).toMatch(/replica 1: no record of seq 2 \(the damaged records may have held them\)/);
    expect(r.replicas[1]!.ledgerStatus).toBe('incomplete');
    expect(r.accused).toEqual([2]); // the short certificate is still found
    expect(r.outcome).toBe('violation');

    // damage alone: incomplete, exit 9
    const dir2 = await clusterWith([recs, recs, recs, recs]);
    const f2 = path.join(dir2, 'replicas', '0', 'ledger', ledgerSegmentName(1));
    writeFileSync(f2, `${readFileSync(f2, 'utf8')}garbage that is not a frame\n${readFileSync(f2, 'utf8').split('\n')[1]}\n`);
    const r2 = await verifyCluster({ dir: dir2 });
    expect(r2).toMatchObject({ ok: false, outcome: 'incomplete', exitCode: 9 });
  });

  it('reports a gap that no checkpoint explains, and accepts one a state transfer explains', async () => {
    const recs = good(8);
    const d = 'ab'.repeat(32);
    const installed: LedgerRecord = { k: 'checkpoint', seq: 6, digest: d, proof: [0, 1, 2].map((x) => checkpointMsg(6, d, x)), src: 'state-transfer' };
    const dir = await clusterWith([recs, recs, [...recs.slice(0, 2), installed, ...recs.slice(6)], [...recs.slice(0, 2), ...recs.slice(5)]]);
    const r = await verifyCluster({ dir });
    expect(r.replicas[2]!.ledgerStatus).toBe('pass');
    expect(r.replicas[3]!.ledgerStatus).toBe('fail');
    expect(r.replicas[3]!.ledger.gaps).toEqual([[3, 5]]);
    expect(r.checks.find((c) => c.name === 'ledgers')!.problems).toEqual(['replica 3: no record of seq 3-5']);
  });

  it('reports a ledger written for another cluster or replica', async () => {
    const recs = good(2);
    const dir = await clusterWith([recs, recs, recs, []]);
    const l = AuditLedger.open(path.join(dir, 'replicas', '3', 'ledger'), { replica: 2, clusterId: 'ef'.repeat(32), fsync: false });
    for (const x of recs) await l.append([x]);
    l.close();
    const r = await verifyCluster({ dir });
    expect(r.accused).toEqual([3]);
    expect(r.checks.find((c) => c.name === 'ledgers')!.problems.join('\n')).toMatch(/replica 3: .*written by replica 2.*\n.*written for another cluster/);
  });

  it('reports missing ledgers as incomplete, and never throws on garbage files', async () => {
    const dir = await clusterWith([good(1), good(1), good(1), good(1)]);
    rmSync(path.join(dir, 'replicas', '2', 'ledger'), { recursive: true });
    writeFileSync(path.join(dir, 'replicas', '1', 'ledger', ledgerSegmentName(2)), Buffer.from([0, 1, 2, 255, 10, 10, 0]));
    const r = await verifyCluster({ dir });
    expect(r.outcome).toBe('incomplete');
    expect(r.replicas[2]!.ledgerSummary).toMatch(/no ledger at/);
  });

  it('fails with a typed error for a directory without a cluster', async () => {
    await expect(verifyCluster({ dir: path.join(base, 'nothing-here') })).rejects.toMatchObject({ code: 'CONFIG_MISSING' });
  });
});

describe('verifyCluster with replicas declared faulty', () => {
  const statuses = (r: VerifyReport) => r.checks.map((c) => [c.name, c.status]);
  const allPass = [
    ['ledgers', 'pass'],
    ['agreement', 'pass'],
    ['certified', 'pass'],
    ['checkpoints', 'pass'],
    ['state', 'pass'],
  ];

  it('sets aside a forged certificate held by the faulty replica, and not when another replica is declared faulty', async () => {
    const recs = good(3);
    const forged = execAt(2);
    forged.cert![1] = { ...forged.cert![1]!, sig: forged.cert![0]!.sig };
    const dir = await clusterWith([recs, recs, [recs[0]!, forged, recs[2]!], recs]);

    const r = await verifyCluster({ dir, faulty: [2] });
    expect(statuses(r)).toEqual(allPass);
    expect(r).toMatchObject({ ok: true, outcome: 'ok', exitCode: 0, faulty: [2], evidence: [], accused: [] });
    expect(r.expectedEvidence).toEqual([expect.objectContaining({ replica: 2, kind: 'invalid-certificate', seq: 2 })]);
    const certified = r.checks.find((c) => c.name === 'certified')!;
    expect(certified.problems).toEqual([]);
    expect(certified.expected.join('\n')).toMatch(/replica 2: seq 2 .*the COMMIT of replica 1 has a bad signature/);
    expect(certified.summary).toMatch(/; 1 problem of faulty replica 2 set aside$/);
    expect(r.replicas.map((x) => x.faulty)).toEqual([false, false, true, false]);

    const text = formatVerifyReport(r, palette(false));
    expect(text).toMatch(/^replica 2 +down +ok +\(declared faulty\) ledger:/m);
    expect(text).toMatch(/^ {4}expected \(faulty\): replica 2: seq 2 /m);
    expect(text).toMatch(/^Declared faulty: replica 2\. Expected evidence against replica 2 \(not a violation/m);
    expect(text).toMatch(/^Verified: every check holds for the correct replicas, replica 2 treated as faulty \(3 sequence numbers/m);
    expect(text).not.toMatch(/^Evidence against/m);

    // the innocent replica 1 (whose vote was forged) declared faulty instead: still a violation against 2
    const wrong = await verifyCluster({ dir, faulty: [1] });
    expect(wrong).toMatchObject({ ok: false, outcome: 'violation', exitCode: 8, accused: [2], expectedEvidence: [] });
    expect(wrong.checks.find((c) => c.name === 'certified')!.status).toBe('fail');
  });

  it('accepts the faulty replica executing another batch (agreement among the correct ones), not a correct one doing it', async () => {
    const recs = good(3);
    const other = execAt(2, [1, 2, 3], '{"op":"del","key":"k2"}');
    other.cert = null;
    const dir = await clusterWith([recs, recs, recs, [recs[0]!, other, recs[2]!]]);
    const r = await verifyCluster({ dir, faulty: [3] });
    expect(statuses(r)).toEqual(allPass);
    expect(r.outcome).toBe('ok');
    expect(r.expectedEvidence).toEqual([expect.objectContaining({ replica: 3, kind: 'conflicting-execution', seq: 2 })]);
    const agreement = r.checks.find((c) => c.name === 'agreement')!;
    expect(agreement.summary).toMatch(/^no two correct replicas executed different batches/);
    expect(agreement.expected[0]).toMatch(/^seq 2: different batches executed: .* by 0,1,2 \(certified\); .* by 3$/);

    const wrong = await verifyCluster({ dir, faulty: [0] });
    expect(wrong.outcome).toBe('violation');
    expect(wrong.accused).toEqual([3]);
    expect(wrong.checks.find((c) => c.name === 'agreement')!.status).toBe('fail');

    // a correct replica that executed another batch than the others fails, whoever is declared faulty
    const split = await clusterWith([recs, recs, [recs[0]!, other, recs[2]!], [recs[0]!, other, recs[2]!]]);
    const s = await verifyCluster({ dir: split, faulty: [3] });
    expect(s.outcome).toBe('violation');
    expect(s.accused).toEqual([2]);
    expect(s.checks.find((c) => c.name === 'agreement')!.problems[0]).toMatch(/by 0,1 \(certified\); .* by 2,3$/);
    expect(s.checks.find((c) => c.name === 'certified')!.problems).toEqual([expect.stringMatching(/^seq 2: replica 2 executed /)]);
    expect(s.checks.find((c) => c.name === 'certified')!.expected).toEqual([expect.stringMatching(/^seq 2: replica 3 executed /)]);
  });

  it("sets aside the faulty replica's equivocation and contradicting checkpoint; two equivocators are more than f whatever is declared", async () => {
    // replica 3 signed checkpoint 4 for d (in the certificate it holds) and for another digest (its own)
    const d = 'ab'.repeat(32);
    const recs = good(4);
    const cpOf = (signers: number[]): LedgerRecord => ({
      k: 'checkpoint',
      seq: 4,
      digest: d,
      proof: signers.map((x) => checkpointMsg(4, d, x)),
      src: 'stable',
    });
    const dir = await clusterWith(
      [0, 1, 2, 3].map((i) => [
        ...recs,
        { k: 'own-checkpoint', msg: checkpointMsg(4, i === 3 ? 'cd'.repeat(32) : d, i) },
        cpOf(i === 3 ? [0, 1, 3] : [0, 1, 2]),
      ]),
    );
    const plain = await verifyCluster({ dir });
    expect(plain.accused).toEqual([3]);
    expect(plain.evidence.map((e) => e.kind).sort()).toEqual(['checkpoint-contradiction', 'equivocation']);
    expect(plain.checks.find((c) => c.name === 'checkpoints')!.status).toBe('fail');

    const r = await verifyCluster({ dir, faulty: [3] });
    expect(statuses(r)).toEqual(allPass);
    expect(r).toMatchObject({ outcome: 'ok', evidence: [], accused: [] });
    expect(r.expectedEvidence.map((e) => [e.replica, e.kind]).sort()).toEqual([
      [3, 'checkpoint-contradiction'],
      [3, 'equivocation'],
    ]);
    expect((await verifyCluster({ dir, faulty: [1] })).outcome).toBe('violation');

    // 0 and 1 both signed two batches at view 0, seq 2: declaring one of them faulty is not enough
    const r2 = await clusterWith([good(2), good(2), good(2), [good(2)[0]!, execAt(2, [0, 1, 3], '{"op":"del","key":"k2"}')]]);
    const two = await verifyCluster({ dir: r2, faulty: [0] });
    expect(two.outcome).toBe('violation');
    expect(two.accused).toEqual([1]);
    expect(two.expectedEvidence.map((e) => [e.replica, e.kind])).toEqual([[0, 'equivocation']]);
    expect(two.checks.find((c) => c.name === 'agreement')!.problems.join('\n')).toMatch(/valid commit certificates for 2 different batches/);
  });

  it("sets aside a gap in the faulty replica's ledger", async () => {
    const recs = good(8);
    const dir = await clusterWith([recs, recs, recs, [...recs.slice(0, 2), ...recs.slice(5)]]);
    const r = await verifyCluster({ dir, faulty: [3] });
    expect(r.outcome).toBe('ok');
    expect(r.checks.find((c) => c.name === 'ledgers')!.expected).toEqual(['replica 3: no record of seq 3-5']);
    expect(r.replicas[3]!.ledgerStatus).toBe('fail');
    expect((await verifyCluster({ dir, faulty: [2] })).checks.find((c) => c.name === 'ledgers')!.status).toBe('fail');
  });

  it('takes at most f replica ids of the cluster, and says so', async () => {
    const dir = await clusterWith([good(1), good(1), good(1), good(1)]);
    await expect(verifyCluster({ dir, faulty: [1, 3] })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringMatching(/^2 replicas declared faulty \(1,3\), but this cluster of 4 tolerates at most f = 1/),
    });
    await expect(verifyCluster({ dir, faulty: [4] })).rejects.toMatchObject({
      code: 'UNKNOWN_REPLICA',
      message: 'faulty replica 4: this cluster has replicas 0-3',
    });
    await expect(verifyCluster({ dir, faulty: [-1] })).rejects.toMatchObject({ code: 'UNKNOWN_REPLICA' });
    await expect(verifyCluster({ dir, faulty: [1.5] })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    expect(checkFaultyIds([2, 2], 4, 1)).toEqual([2]);
    expect(checkFaultyIds([3, 0], 7, 2)).toEqual([0, 3]);
    const none = await verifyCluster({ dir, faulty: [] });
    expect(none).toMatchObject({ outcome: 'ok', faulty: [] });
    expect(formatVerifyReport(none, palette(false))).not.toMatch(/faulty/);
  });
});
