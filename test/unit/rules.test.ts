/**
 * The rules that are easy to get wrong, each pinned by a test that cites it
 * (Castro & Liskov, TOCS 2002; /shared/protocol/pbft.md).
 */
import { describe, expect, it } from 'vitest';
import { maxFaulty, primaryOf, quorums } from '../../src/core/quorum.js';
import { computeO } from '../../src/core/view-change.js';
import { batchDigest, makePrePrepare, makeRequest, sign } from '../../src/core/messages.js';
import type { CheckpointBody, PreparedCert, PrepareBody, Signed, ViewChangeBody } from '../../src/core/types.js';
import { Harness } from './core-harness.js';

describe('quorum arithmetic', () => {
  it('"n = 3f+1 ... quorums of 2f+1; f+1 matching replies; 2f prepares"', () => {
    for (let f = 1; f <= 10; f++) {
      const q = quorums(3 * f + 1);
      expect(q.quorum).toBe(2 * f + 1);
      expect(q.weak).toBe(f + 1);
      expect(q.prepares).toBe(2 * f);
    }
  });
  it('"any two quorums intersect in at least one correct replica", and a quorum is always available, for every n = 4..31 and f <= (n-1)/3', () => {
    for (let n = 4; n <= 31; n++) {
      expect(maxFaulty(n)).toBe(Math.floor((n - 1) / 3));
      for (let f = 0; f <= maxFaulty(n); f++) {
        const q = quorums(n, f);
        expect(2 * q.quorum - n).toBeGreaterThanOrEqual(f + 1); // intersection holds a correct replica
        expect(q.quorum).toBeLessThanOrEqual(n - f); // the correct replicas alone form a quorum
      }
    }
    // 2f+1 would not do for n = 5: two quorums of 3 meet in one replica, maybe the faulty one
    expect(quorums(5).quorum).toBe(4);
  });
  it('rejects n < 3f+1', () => {
    expect(() => quorums(3, 1)).toThrow(/3f\+1/);
  });
  it('"the primary of view v is replica v mod n"', () => {
    expect(primaryOf(0, 4)).toBe(0);
    expect(primaryOf(5, 4)).toBe(1);
    expect(primaryOf(13, 7)).toBe(6);
  });
});

function fixtures() {
  const h = new Harness(4, { checkpointInterval: 4, logWindow: 8 });
  const r = (i: number) => h.replicaAuth(i);
  const client = h.auth((1000).toString(16).padStart(64, '0'));
  const reqA = makeRequest(client, 'c0', 1, '{"key":"a","op":"put","value":"A"}');
  const reqB = makeRequest(client, 'c0', 2, '{"key":"b","op":"put","value":"B"}');
  const cert = (view: number, seq: number, batch = [reqA]): PreparedCert => {
    const primary = view % 4;
    const pp = makePrePrepare(r(primary), view, seq, primary, batch);
    const prepares = [0, 1, 2, 3]
      .filter((i) => i !== primary)
      .slice(0, 2)
      .map((i) => sign<PrepareBody>(r(i), { type: 'prepare', view, seq, digest: pp.body.digest, replica: i }));
    return { prePrepare: pp, prepares };
  };
  const proof = (seq: number, digest: string): Signed<CheckpointBody>[] =>
    [0, 1, 2].map((i) => sign<CheckpointBody>(r(i), { type: 'checkpoint', seq, digest, replica: i }));
  const vc = (from: number, newView: number, stableSeq: number, prepared: PreparedCert[], digest = 'd'.repeat(64)) =>
    sign<ViewChangeBody>(r(from), {
      type: 'view-change',
      newView,
      stableSeq,
      checkpointProof: stableSeq ? proof(stableSeq, digest) : [],
      prepared,
      replica: from,
    });
  return { h, r, reqA, reqB, cert, vc, proof, client };
}

describe('NEW-VIEW O computation (§4.4)', () => {
  it('"a new pre-prepare for the d of the certificate with the highest view"', () => {
    const { h, reqA, reqB, cert, vc } = fixtures();
    const low = cert(0, 1, [reqA]);
    const high = cert(1, 1, [reqB]);
    const O = computeO(h.replicaAuth(0), [vc(0, 2, 0, [low]), vc(1, 2, 0, [high]), vc(2, 2, 0, [])]);
    expect(O.entries.get(1)!.digest).toBe(high.prePrepare.body.digest);
    expect(O.entries.get(1)!.fromView).toBe(1);
    // the deliberately broken variant picks the lowest view: the simulator must catch it
    const bad = computeO(h.replicaAuth(0), [vc(0, 2, 0, [low]), vc(1, 2, 0, [high]), vc(2, 2, 0, [])], { lowestViewBug: true });
    expect(bad.entries.get(1)!.digest).toBe(low.prePrepare.body.digest);
  });

  it('"otherwise a pre-prepare for the null request": gaps in (min-s, max-s] are filled', () => {
    const { h, cert, vc } = fixtures();
    const O = computeO(h.replicaAuth(0), [vc(0, 1, 0, [cert(0, 3)]), vc(1, 1, 0, []), vc(2, 1, 0, [])]);
    expect([...O.entries.keys()]).toEqual([1, 2, 3]);
    expect(O.entries.get(1)!.batch).toEqual([]);
    expect(O.entries.get(1)!.digest).toBe(batchDigest(h.replicaAuth(0), []));
    expect(O.entries.get(3)!.batch.length).toBe(1);
  });

  it('"min-s = the highest s among the checkpoints in V"; certificates at or below it are dropped', () => {
    const { h, cert, vc } = fixtures();
    const O = computeO(h.replicaAuth(0), [vc(0, 1, 0, [cert(0, 3), cert(0, 5)]), vc(1, 1, 4, []), vc(2, 1, 0, [])]);
    expect(O.minS).toBe(4);
    expect(O.maxS).toBe(5);
    expect([...O.entries.keys()]).toEqual([5]);
    expect(O.checkpoint!.seq).toBe(4);
  });

  it('a backup rejects a NEW-VIEW whose O differs from what it computes', () => {
    const { h, r, cert, vc, reqB } = fixtures();
    const V = [vc(1, 1, 0, [cert(0, 1)]), vc(2, 1, 0, []), vc(3, 1, 0, [])];
    // the new primary (1) claims seq 1 holds reqB instead of the prepared request
    const forgedO = [makePrePrepare(r(1), 1, 1, 1, [reqB])];
    const nv = sign(r(1), { type: 'new-view' as const, newView: 1, viewChanges: V, prePrepares: forgedO, replica: 1 });
    const backup = h.replicas[2]!;
    backup.step({ type: 'message', from: 1, msg: nv });
    expect(backup.status().dropped.reject['bad-new-view']).toBe(1);
    expect(backup.status().view).toBe(0);
    // the honest O is accepted
    const O = computeO(r(1), V);
    const honest = sign(r(1), {
      type: 'new-view' as const,
      newView: 1,
      viewChanges: V,
      prePrepares: [...O.entries].map(([s, e]) => makePrePrepare(r(1), 1, s, 1, e.batch)),
      replica: 1,
    });
    backup.step({ type: 'message', from: 1, msg: honest });
    expect(backup.status().view).toBe(1);
    expect(backup.status().viewChanging).toBe(false);
  });

  it('a view-change with a forged prepared certificate is rejected as evidence', () => {
    const { h, cert, vc, r } = fixtures();
    const c = cert(0, 1);
    c.prepares[1] = sign<PrepareBody>(r(3), { ...c.prepares[1]!.body }); // signed by 3, claims to be 2
    const backup = h.replicas[2]!;
    backup.step({ type: 'message', from: 3, msg: vc(3, 1, 0, [c]) });
    expect(backup.status().dropped.reject['bad-certificate']).toBe(1);
    const short = cert(0, 1);
    short.prepares.pop();
    backup.step({ type: 'message', from: 1, msg: vc(1, 1, 0, [short]) });
    expect(backup.status().dropped.reject['bad-certificate']).toBe(2);
  });
});

describe('watermarks and checkpoints (§4.3)', () => {
  it('"h < s <= H": a pre-prepare outside the window is ignored', () => {
    const { h, r, reqA } = fixtures();
    const backup = h.replicas[1]!;
    expect(backup.status().highWatermark).toBe(8);
    backup.step({ type: 'message', from: 0, msg: makePrePrepare(r(0), 0, 9, 0, [reqA]) });
    expect(backup.status().dropped.ignore['out-of-window']).toBe(1);
    backup.step({ type: 'message', from: 0, msg: makePrePrepare(r(0), 0, 0, 0, [reqA]) });
    expect(backup.status().dropped.ignore['out-of-window']).toBe(2);
    const out = backup.step({ type: 'message', from: 0, msg: makePrePrepare(r(0), 0, 8, 0, [reqA]) });
    expect(out.some((a) => a.type === 'multicast' && a.msg.body.type === 'prepare')).toBe(true);
  });

  it('"it has not accepted a pre-prepare for (v, s) with a different digest"', () => {
    const { h, r, reqA, reqB } = fixtures();
    const backup = h.replicas[1]!;
    backup.step({ type: 'message', from: 0, msg: makePrePrepare(r(0), 0, 1, 0, [reqA]) });
    backup.step({ type: 'message', from: 0, msg: makePrePrepare(r(0), 0, 1, 0, [reqB]) });
    expect(backup.status().dropped.reject.conflict).toBe(1);
  });

  it('"d matches": a pre-prepare whose digest is not its batch\'s is rejected', () => {
    const { h, r, reqA, reqB } = fixtures();
    const pp = makePrePrepare(r(0), 0, 1, 0, [reqA]);
    const lying = { ...pp, batch: [reqB] };
    h.replicas[1]!.step({ type: 'message', from: 0, msg: lying });
    expect(h.replicas[1]!.status().dropped.reject['bad-digest']).toBe(1);
  });

  it('"2f+1 matching checkpoint messages make it stable": 2f do not', () => {
    const { r } = fixtures();
    const fresh = new Harness(4, { checkpointInterval: 4, logWindow: 8 });
    const target = fresh.replicas[3]!;
    const digest = 'e'.repeat(64);
    const cp = (i: number) => sign<CheckpointBody>(r(i), { type: 'checkpoint', seq: 4, digest, replica: i });
    target.step({ type: 'message', from: 0, msg: cp(0) });
    target.step({ type: 'message', from: 1, msg: cp(1) });
    // 2f = 2 matching: nothing proven, no state fetch on the next status tick
    let out = target.step({ type: 'timer', name: 'status' });
    expect(out.some((a) => a.type === 'send' && a.msg.body.type === 'fetch-state')).toBe(false);
    target.step({ type: 'message', from: 2, msg: cp(2) });
    // 2f+1: proven above what it executed; no progress since the last tick -> fetch state
    out = target.step({ type: 'timer', name: 'status' });
    out = out.concat(target.step({ type: 'timer', name: 'status' }));
    expect(out.some((a) => a.type === 'send' && a.msg.body.type === 'fetch-state')).toBe(true);
  });
});
