/**
 * The checkers must be able to fail: each test hand-builds what replicas and clients report
 * (with real signatures from the sim scheme) and shows the violation is caught, and that a
 * correct history passes.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { InvariantChecker, type InvariantName, type Violation } from '../../src/sim/checkers.js';
import { KeyedAuthenticator, keyringFor, SimScheme } from '../../src/crypto/index.js';
import { batchDigest, makeRequest, requestDigest, sign } from '../../src/core/messages.js';
import { canonicalJson } from '../../src/core/canonical.js';
import type { CheckpointBody, CommitBody, ExecutedRequest, Hex, ReplicaAction, ReplicaId, Signed, SignedRequest } from '../../src/core/types.js';

type Executed = Extract<ReplicaAction, { type: 'executed' }>;

const N = 4;
const F = 1;
const scheme = new SimScheme();
const secrets = Array.from({ length: N }, (_, i) => (i + 1).toString(16).padStart(64, '0'));
const pubs = secrets.map((s) => scheme.publicKey(s));
const clientSecrets: Record<string, string> = { c1: 'a1'.padStart(64, '0'), c2: 'a2'.padStart(64, '0') };
const clientPubs = Object.fromEntries(Object.entries(clientSecrets).map(([c, s]) => [c, scheme.publicKey(s)]));
const keyring = keyringFor(pubs, clientPubs, false);
const replicaAuth = (i: ReplicaId) => new KeyedAuthenticator(scheme, secrets[i]!, keyring);
const clientAuth = (c: string) => new KeyedAuthenticator(scheme, clientSecrets[c]!, keyring);
const verifier = new KeyedAuthenticator(scheme, null, keyring);

const put = (key: string, value: string) => canonicalJson({ op: 'put', key, value });
const get = (key: string) => canonicalJson({ op: 'get', key });
const res = (value: string | null) => canonicalJson({ ok: true, value });

interface Req {
  client: string;
  timestamp: number;
  op: string;
  result: string;
}

function request(r: Req): SignedRequest {
  return makeRequest(clientAuth(r.client), r.client, r.timestamp, r.op);
}

function commit(i: ReplicaId, view: number, seq: number, digest: Hex, signer: ReplicaId = i): Signed<CommitBody> {
  return sign<CommitBody>(replicaAuth(signer), { type: 'commit', view, seq, digest, replica: i });
}

/** An executed action for seq with these requests, certified by `certBy` (null = no certificate). */
function executed(seq: number, reqs: Req[], o: { view?: number; certBy?: ReplicaId[] | null; digest?: Hex } = {}): Executed {
  const view = o.view ?? 0;
  const batch = reqs.map(request);
  const digest = o.digest ?? batchDigest(verifier, batch);
  const requests: ExecutedRequest[] = reqs.map((r, i) => ({
    client: r.client,
    timestamp: r.timestamp,
    op: r.op,
    result: r.result,
    digest: requestDigest(verifier, batch[i]!),
  }));
  const certBy = o.certBy === undefined ? [0, 1, 2] : o.certBy;
  return { type: 'executed', view, seq, digest, requests, certificate: certBy === null ? null : certBy.map((i) => commit(i, view, seq, digest)) };
}

function checkpointProof(seq: number, digest: Hex, by: ReplicaId[]): Signed<CheckpointBody>[] {
  return by.map((i) => sign<CheckpointBody>(replicaAuth(i), { type: 'checkpoint', seq, digest, replica: i }));
}

const D1 = 'd1'.repeat(32);
const D2 = 'd2'.repeat(32);

const r1: Req = { client: 'c1', timestamp: 1, op: put('k', 'a'), result: res(null) };
const r2: Req = { client: 'c2', timestamp: 1, op: get('k'), result: res('a') };
const r3: Req = { client: 'c1', timestamp: 2, op: put('k', 'b'), result: res('a') };

function only(vs: Violation[], inv: InvariantName): Violation[] {
  return vs.filter((v) => v.invariant === inv);
}

let c: InvariantChecker;
beforeEach(() => {
  c = new InvariantChecker({ n: N, f: F, verifier, correct: [0, 1, 2, 3] });
});

/** the clients issue r1, r2, r3 and accept the results they get */
function clients(complete = true): void {
  c.onInvoke('c1', 1, r1.op, 0);
  c.onInvoke('c2', 1, r2.op, 1);
  if (complete) {
    c.onComplete('c1', 1, r1.result, 10);
    c.onComplete('c2', 1, r2.result, 11);
  }
  c.onInvoke('c1', 2, r3.op, 12);
  if (complete) c.onComplete('c1', 2, r3.result, 20);
}

/** every replica executes seq 1 = [r1, r2], seq 2 = [r3], checkpoint at 2 */
function correctRun(): void {
  clients(false);
  for (let i = 0; i < N; i++) {
    c.onExecuted(i, executed(1, [r1, r2]), 5);
    c.onExecuted(i, executed(2, [r3]), 15);
    c.onCheckpointStable(i, 2, D1, 16);
  }
  c.onComplete('c1', 1, r1.result, 10);
  c.onComplete('c2', 1, r2.result, 11);
  c.onComplete('c1', 2, r3.result, 20);
}

describe('InvariantChecker: a correct history passes', () => {
  it('has no violations, incrementally or at the end', () => {
    correctRun();
    expect(c.violations()).toEqual([]);
    expect(c.finish({ nowMs: 100, livenessDeadlineMs: 50 })).toEqual([]);
  });

  it('accepts a null batch, a replica that catches up by state transfer, and re-execution after a restart', () => {
    correctRun();
    c.onExecuted(0, executed(3, []), 30);
    c.onExecuted(1, executed(3, []), 30);
    // replica 1 crashes, restarts from its checkpoint at 2 and re-executes 3 from its durable log
    c.onRestart(1, 40);
    c.onExecuted(1, executed(3, [], { certBy: null }), 41);
    expect(c.violations()).toEqual([]);
    expect(c.finish({ nowMs: 100, livenessDeadlineMs: 50 })).toEqual([]);
  });

  it('accepts a state install followed by the next seq', () => {
    clients(false);
    for (const i of [0, 1, 2]) {
      c.onExecuted(i, executed(1, [r1, r2]), 5);
      c.onExecuted(i, executed(2, [r3]), 15);
      c.onCheckpointStable(i, 2, D1, 16);
    }
    c.onStateInstalled(3, { type: 'state-installed', seq: 2, digest: D1, proof: checkpointProof(2, D1, [0, 1, 2]) }, 30);
    c.onExecuted(3, executed(3, []), 31);
    c.onComplete('c1', 1, r1.result, 10);
    c.onComplete('c2', 1, r2.result, 11);
    c.onComplete('c1', 2, r3.result, 20);
    expect(c.finish({ nowMs: 100, livenessDeadlineMs: 50 })).toEqual([]);
  });

  it('ignores whatever Byzantine replicas report', () => {
    c = new InvariantChecker({ n: N, f: F, verifier, correct: [0, 1, 2] });
    clients();
    c.onExecuted(3, executed(7, [{ client: 'c1', timestamp: 9, op: 'x', result: 'y' }], { certBy: [3] }), 5);
    c.onCheckpointStable(3, 2, D2, 6);
    expect(c.finish({ nowMs: 0, livenessDeadlineMs: 50 }).filter((v) => v.invariant !== 'linearizability')).toEqual([]);
  });
});

describe('InvariantChecker: qcertified', () => {
  it('catches a certificate of 2f commits', () => {
    clients();
    c.onExecuted(0, executed(1, [r1, r2], { certBy: [0, 1] }), 5);
    const v = only(c.violations(), 'qcertified');
    expect(v).toHaveLength(1);
    expect(v[0]!.message).toMatch(/only 2 distinct replica\(s\) \[0, 1\]; QCertified needs 2f\+1 = 3/);
    expect(v[0]).toMatchObject({ replica: 0, seq: 1 });
  });

  it('catches a forged commit signature (signed with another key than its replica field says)', () => {
    clients();
    const a = executed(1, [r1, r2]);
    a.certificate![2] = commit(2, 0, 1, a.digest, 3); // replica 3 signs in replica 2's name
    c.onExecuted(0, a, 5);
    expect(only(c.violations(), 'qcertified')[0]!.message).toMatch(/commit #2 from r2 has a signature that does not verify/);
  });

  it('catches commits for another digest, and repeated signers', () => {
    clients();
    const a = executed(1, [r1, r2]);
    a.certificate![1] = commit(1, 0, 1, D2);
    c.onExecuted(0, a, 5);
    const b = executed(1, [r1, r2]);
    b.certificate = [commit(0, 0, 1, b.digest), commit(1, 0, 1, b.digest), commit(1, 0, 1, b.digest)];
    c.onExecuted(1, b, 5);
    const v = only(c.violations(), 'qcertified');
    expect(v).toHaveLength(2);
    expect(v[0]!.message).toContain('is for (view 0, seq 1, digest d2d2');
    expect(v[1]!.message).toContain('only 2 distinct replica(s)');
  });

  it('catches a null certificate in a first life, and one after a restart that nothing certified', () => {
    clients();
    c.onExecuted(0, executed(1, [r1, r2], { certBy: null }), 5);
    expect(only(c.violations(), 'qcertified')[0]!.message).toMatch(/no certificate in its first life/);
    c.onExecuted(1, executed(1, [r1, r2]), 5);
    c.onRestart(1, 6);
    c.onExecuted(1, executed(1, [r1, r2], { certBy: null }), 7); // fine: it certified seq 1 before
    c.onRestart(1, 8);
    c.onExecuted(1, executed(1, [r1, r2], { certBy: null }), 9);
    c.onExecuted(1, executed(2, [r3], { certBy: null }), 9); // never certified by anyone
    expect(only(c.violations(), 'qcertified')).toHaveLength(1);
    const end = only(c.finish({ nowMs: 0, livenessDeadlineMs: 100 }), 'qcertified');
    expect(end).toHaveLength(2);
    expect(end[1]!.message).toMatch(/replica 1 re-executed seq 2 .* no correct replica .* valid certificate/);
  });

  it('accepts a null certificate after restart once another correct replica certifies the seq', () => {
    clients();
    c.onRestart(2, 1);
    c.onExecuted(2, executed(1, [r1, r2], { certBy: null }), 2);
    c.onExecuted(0, executed(1, [r1, r2]), 3);
    expect(only(c.finish({ nowMs: 0, livenessDeadlineMs: 100 }), 'qcertified')).toEqual([]);
  });
});

describe('InvariantChecker: agreement', () => {
  it('catches diverging digests at one seq', () => {
    clients();
    c.onExecuted(0, executed(1, [r1, r2]), 5);
    c.onExecuted(1, executed(1, [r2, r1]), 6);
    const v = only(c.violations(), 'agreement');
    expect(v).toHaveLength(1);
    expect(v[0]!.message).toMatch(/seq 1: replica 0 executed digest \w+… \(view 0\) \[c1#1 .*\] but replica 1 executed digest/);
  });

  it('catches different requests under one digest (a core that skips the pre-prepare digest check)', () => {
    clients();
    const a = executed(1, [r1, r2]);
    c.onExecuted(0, a, 5);
    c.onExecuted(1, executed(1, [r1], { digest: a.digest }), 6);
    expect(only(c.violations(), 'agreement')[0]!.message).toMatch(/same digest .* but different requests/);
  });

  it('catches different results for the same requests (diverged state)', () => {
    clients();
    c.onExecuted(0, executed(1, [r1, r2]), 5);
    c.onExecuted(1, executed(1, [r1, { ...r2, result: res('zzz') }]), 6);
    expect(only(c.violations(), 'agreement')[0]!.message).toMatch(/different results for c2#1/);
  });
});

describe('InvariantChecker: total order', () => {
  it('catches a gap and an out-of-order execution', () => {
    clients();
    c.onExecuted(0, executed(2, [r3]), 5);
    expect(only(c.violations(), 'total-order')[0]!.message).toMatch(/executed seq 2 right after seq 0: seqs 1\.\.1 skipped/);
    c.onExecuted(0, executed(1, [r1, r2]), 6);
    expect(only(c.violations(), 'total-order')[1]!.message).toMatch(/executed seq 1 after seq 2: out of order/);
  });

  it('catches a restarted replica that skips ahead of its stable checkpoint', () => {
    clients();
    c.onExecuted(0, executed(1, [r1, r2]), 5);
    c.onRestart(0, 6);
    c.onExecuted(0, executed(2, [r3]), 7);
    expect(only(c.violations(), 'total-order')[0]!.message).toMatch(/replica 0 restarted and first executed seq 2, but its last stable checkpoint is 0/);
  });

  it('a restart resumes at the newest full checkpoint in its records: never at a light one, even one reported stable', () => {
    // (found in review: the checker let any checkpoint seq pass as an unreported full one, so a
    // replica that took a light checkpoint for its state and skipped the replay went unseen)
    correctRun(); // stable 2 (full) everywhere
    for (let i = 0; i < N; i++) {
      c.onExecuted(i, executed(3, []), 30);
      c.onExecuted(i, executed(4, []), 31);
      c.onCheckpointStable(i, 4, D2, 32, false); // light
    }
    c.onRestart(1, 40, { fullCheckpoint: 2 });
    c.onExecuted(1, executed(5, [], { certBy: null }), 41);
    expect(only(c.violations(), 'total-order')[0]!.message).toMatch(/replica 1 restarted and first executed seq 5, but its last stable checkpoint is 2/);
    // a full checkpoint written in the step it crashed in (its stable action never seen) is where it resumes
    c.onRestart(2, 42, { fullCheckpoint: 4 });
    c.onExecuted(2, executed(5, [], { certBy: null }), 43);
    expect(only(c.violations(), 'total-order')).toHaveLength(1);
  });

  it('catches histories that are not prefixes of each other', () => {
    clients();
    c.onExecuted(0, executed(1, [r1, r2]), 5);
    c.onExecuted(1, executed(1, [r1, r2], { digest: D2 }), 5);
    const v = c.finish({ nowMs: 0, livenessDeadlineMs: 100 });
    // agreement caught it at once; the prefix check does not repeat the same seq
    expect(only(v, 'agreement')).toHaveLength(1);
    expect(only(v, 'total-order')).toHaveLength(0);
  });
});

describe('InvariantChecker: checkpoints', () => {
  it('catches stable checkpoints with different digests at one seq', () => {
    c.onCheckpointStable(0, 2, D1, 5);
    c.onCheckpointStable(1, 2, D2, 6);
    const v = only(c.violations(), 'checkpoint-agreement');
    expect(v).toHaveLength(1);
    expect(v[0]!.message).toMatch(/seq 2: replica 1's stable checkpoint has state digest d2d2\w*…, but replica 0's stable checkpoint has d1d1/);
  });

  it('catches installed state whose proof is short, forged or for another digest', () => {
    c.onStateInstalled(3, { type: 'state-installed', seq: 2, digest: D1, proof: checkpointProof(2, D1, [0, 1]) }, 5);
    const forged = checkpointProof(2, D1, [0, 1]);
    forged.push(sign<CheckpointBody>(replicaAuth(3), { type: 'checkpoint', seq: 2, digest: D1, replica: 2 }));
    c.onStateInstalled(2, { type: 'state-installed', seq: 2, digest: D1, proof: forged }, 6);
    c.onStateInstalled(1, { type: 'state-installed', seq: 2, digest: D1, proof: checkpointProof(2, D2, [0, 1, 2]) }, 7);
    const v = only(c.violations(), 'checkpoint-agreement');
    expect(v.map((x) => x.replica)).toEqual([3, 2, 1]);
    expect(v[0]!.message).toMatch(/only 2 distinct replica/);
    expect(v[1]!.message).toMatch(/from r2 has a signature that does not verify/);
    expect(v[2]!.message).toMatch(/is for \(seq 2, digest d2d2/);
  });
});

describe('InvariantChecker: validity', () => {
  it('catches a request no client issued, and one whose op was changed', () => {
    c.onInvoke('c1', 1, r1.op, 0);
    c.onExecuted(0, executed(1, [{ ...r1, op: put('k', 'evil') }]), 5);
    c.onExecuted(0, executed(2, [r2]), 6);
    const v = only(c.violations(), 'validity');
    expect(v[0]!.message).toMatch(/with op .*evil.* but the client issued/);
    expect(v[1]!.message).toMatch(/executed c2#1 .* at seq 2, which no client issued/);
  });

  it('catches a duplicate execution in one replica, and one request at two seqs', () => {
    clients();
    c.onExecuted(0, executed(1, [r1]), 5);
    c.onExecuted(0, executed(2, [r1]), 6);
    const v = only(c.violations(), 'validity');
    expect(v.some((x) => /executed c1#1 .* twice in one life: at seq 1 and again at seq 2/.test(x.message))).toBe(true);
    expect(v.some((x) => /c1#1 .* executed at seq 1 by replica 0 and at seq 2 by replica 0/.test(x.message))).toBe(true);
  });

  it('allows re-execution of the same requests after a restart (a new life)', () => {
    clients();
    c.onExecuted(0, executed(1, [r1, r2]), 5);
    c.onRestart(0, 6);
    c.onExecuted(0, executed(1, [r1, r2], { certBy: null }), 7);
    expect(c.violations()).toEqual([]);
  });

  it('accepts the read-only fallback (the client re-issues a get as timestamp t+1)', () => {
    c.onInvoke('c2', 5, get('k'), 0);
    const again: Req = { client: 'c2', timestamp: 6, op: get('k'), result: res(null) };
    c.onExecuted(0, executed(1, [again]), 5);
    c.onComplete('c2', 6, res(null), 9);
    expect(c.finish({ nowMs: 100, livenessDeadlineMs: 50 })).toEqual([]);
  });
});

describe('InvariantChecker: linearizability and liveness', () => {
  it('catches a non-linearizable client history (a stale read)', () => {
    c.onInvoke('c1', 1, put('k', 'a'), 0);
    c.onComplete('c1', 1, res(null), 10);
    c.onInvoke('c2', 1, get('k'), 20);
    c.onComplete('c2', 1, res(null), 30);
    const v = only(c.finish({ nowMs: 100, livenessDeadlineMs: 50 }), 'linearizability');
    expect(v).toHaveLength(1);
    expect(v[0]!.message).toMatch(/not linearizable: key "k"/);
    expect(v[0]!.message).toContain('c2#1 get("k") -> null [20ms, 30ms]');
  });

  it('catches a client that accepted a result no correct replica produced', () => {
    clients(false);
    c.onExecuted(0, executed(1, [r1, r2]), 5);
    c.onComplete('c1', 1, res('forged'), 10);
    expect(only(c.violations(), 'linearizability')[0]!.message).toMatch(/client c1 accepted .*forged.* but correct replica 0 executed it at seq 1 with result/);
  });

  it('catches a request still incomplete at the deadline, and one that completed late', () => {
    c.onInvoke('c1', 1, r1.op, 0);
    c.onInvoke('c2', 1, r2.op, 0);
    c.onComplete('c2', 1, res(null), 70);
    c.onInvoke('c2', 2, r2.op, 80); // invoked after the deadline: not covered
    expect(c.finish({ nowMs: 40, livenessDeadlineMs: 50 })).toEqual([]); // deadline not reached yet
    const c2 = new InvariantChecker({ n: N, f: F, verifier, correct: [0, 1, 2, 3] });
    c2.onInvoke('c1', 1, r1.op, 0);
    c2.onInvoke('c2', 1, r2.op, 0);
    c2.onComplete('c2', 1, res(null), 70);
    c2.onInvoke('c2', 2, r2.op, 80);
    const v = only(c2.finish({ nowMs: 100, livenessDeadlineMs: 50 }), 'liveness');
    expect(v.map((x) => x.message)).toEqual([
      'request c1#1 "{\\"key\\":\\"k\\",\\"op\\":\\"put\\",\\"value\\":\\"a\\"}" invoked at 0ms never completed; the deadline was 50ms',
      'request c2#1 "{\\"key\\":\\"k\\",\\"op\\":\\"get\\"}" invoked at 0ms completed only at 70ms; the deadline was 50ms',
    ]);
  });

  it('keeps at most maxViolations and counts the rest', () => {
    const small = new InvariantChecker({ n: N, f: F, verifier, correct: [0], maxViolations: 2 });
    for (let s = 1; s <= 5; s++) small.onExecuted(0, executed(s * 2, [], { certBy: [0] }), s);
    expect(small.violations()).toHaveLength(2);
    expect(small.suppressed).toBeGreaterThan(0);
  });
});
