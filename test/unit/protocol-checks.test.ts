/**
 * The simulator's protocol checks must fail on bad inputs, not only pass on good ones: a real
 * NEW-VIEW from a view change passes; every single-point corruption of it fails.
 */
import { describe, expect, it } from 'vitest';
import { Harness } from './core-harness.js';
import { makePrePrepare, sign } from '../../src/core/messages.js';
import type { NewViewBody, Signed, SignedPrePrepare } from '../../src/core/types.js';
import { VoteLedger, newViewProblem } from '../../src/sim/protocol-checks.js';

const puts = (k: number) => Array.from({ length: k }, (_, i) => ({ op: 'put' as const, key: `k${i % 2}`, value: `v${i}` }));

/** A real NEW-VIEW for view 1 with a non-empty O: the primary crashes with seqs in flight. */
function realNewView(): { h: Harness; nv: Signed<NewViewBody> } {
  const h = new Harness(4);
  h.runOps('c0', puts(2));
  // seq 3 prepares at the backups but its commits are lost, then the primary dies
  h.filter = (_from, _to, msg) => (msg as { body?: { type?: string } }).body?.type === 'commit';
  h.submit('c0', { op: 'put', key: 'z', value: 'z' });
  h.run(() => h.durable.slice(1).every((d) => d.some((r) => r.kind === 'prepared' && r.cert.prePrepare.body.seq === 3)), 5000);
  h.crash(0);
  h.filter = (from, _to, msg) => from === 0 || (msg as { body?: { type?: string } }).body?.type === 'commit';
  h.run(() => h.actions.some((a) => a.action.type === 'multicast' && (a.action.msg.body as { type: string }).type === 'new-view'), 60_000);
  const a = h.actions.find((x) => x.action.type === 'multicast' && (x.action.msg.body as { type: string }).type === 'new-view')!;
  return { h, nv: (a.action as { msg: Signed<NewViewBody> }).msg };
}

describe('newViewProblem', () => {
  const { h, nv } = realNewView();
  const params = h.params;
  const auth1 = h.replicaAuth(1);
  const verifier = h.auth(null);
  const resign = (body: NewViewBody) => sign<NewViewBody>(auth1, body);
  const O = nv.body.prePrepares;

  it('accepts the real NEW-VIEW, whose O is not empty', () => {
    expect(O.length).toBeGreaterThan(0);
    expect(newViewProblem(verifier, params, nv)).toBeNull();
  });

  it('rejects O with one entry repeated and another left out', () => {
    const bad = O.length >= 2 ? [O[0]!, O[0]!, ...O.slice(2)] : [O[0]!, O[0]!];
    expect(newViewProblem(verifier, params, resign({ ...nv.body, prePrepares: bad }))).toMatch(/O/);
  });

  it('rejects O with an entry omitted, reordered, or for another view or digest', () => {
    expect(newViewProblem(verifier, params, resign({ ...nv.body, prePrepares: O.slice(1) }))).not.toBeNull();
    if (O.length >= 2) expect(newViewProblem(verifier, params, resign({ ...nv.body, prePrepares: [...O].reverse() }))).not.toBeNull();
    const last = O[O.length - 1]!;
    const otherView: SignedPrePrepare = makePrePrepare(auth1, 5, last.body.seq, 1, last.batch);
    expect(newViewProblem(verifier, params, resign({ ...nv.body, prePrepares: [...O.slice(0, -1), otherView] }))).not.toBeNull();
    const otherBatch: SignedPrePrepare = makePrePrepare(auth1, 1, last.body.seq, 1, []);
    if (last.batch.length > 0)
      expect(newViewProblem(verifier, params, resign({ ...nv.body, prePrepares: [...O.slice(0, -1), otherBatch] }))).toMatch(/V determines/);
  });

  it('rejects V with too few or repeated view-changes, and a NEW-VIEW signed by another replica', () => {
    const V = nv.body.viewChanges;
    expect(newViewProblem(verifier, params, resign({ ...nv.body, viewChanges: V.slice(0, 2) }))).toMatch(/quorum/);
    expect(newViewProblem(verifier, params, resign({ ...nv.body, viewChanges: [V[0]!, V[0]!, V[1]!] }))).not.toBeNull();
    expect(newViewProblem(verifier, params, sign<NewViewBody>(h.replicaAuth(2), nv.body))).toMatch(/signed/);
  });

  it('rejects a view-change whose prepared certificate lost its prepares', () => {
    const V = nv.body.viewChanges;
    const i = V.findIndex((vc) => vc.body.prepared.length > 0);
    expect(i).toBeGreaterThanOrEqual(0);
    const vc = V[i]!;
    const stripped = sign(h.replicaAuth(vc.body.replica), { ...vc.body, prepared: vc.body.prepared.map((c) => ({ ...c, prepares: c.prepares.slice(0, 1) })) });
    const V2 = V.map((x, j) => (j === i ? stripped : x));
    expect(newViewProblem(verifier, params, resign({ ...nv.body, viewChanges: V2 }))).toMatch(/prepares/);
  });
});

describe('VoteLedger', () => {
  const h = new Harness(4);
  const a = h.replicaAuth(2);
  const vote = (type: 'prepare' | 'commit', digest: string, seq = 1, view = 0) => sign(a, { type, view, seq, digest, replica: 2 });

  it('the same vote twice is fine; two digests for one (kind, view, seq) are equivocation', () => {
    const l = new VoteLedger();
    expect(l.observe(2, vote('prepare', 'aa'))).toBeNull();
    expect(l.observe(2, vote('prepare', 'aa'))).toBeNull();
    expect(l.observe(2, vote('commit', 'bb'))).toBeNull(); // another kind
    expect(l.observe(2, vote('prepare', 'bb', 2))).toBeNull(); // another seq
    expect(l.observe(2, vote('prepare', 'bb', 1, 1))).toBeNull(); // another view
    expect(l.observe(2, vote('prepare', 'bb'))).toMatch(/two prepares for \(view 0, seq 1\)/);
  });

  it('looks into the pre-prepares of a NEW-VIEW', () => {
    const l = new VoteLedger();
    const pp1 = makePrePrepare(a, 2, 5, 2, []);
    expect(l.observe(2, pp1)).toBeNull();
    expect(l.observe(2, makePrePrepare(a, 2, 5, 2, []))).toBeNull(); // the same pre-prepare again
    const nv = {
      body: { type: 'new-view', newView: 2, viewChanges: [], prePrepares: [{ ...pp1, body: { ...pp1.body, digest: 'cc'.repeat(32) } }], replica: 2 },
      sig: '',
    };
    expect(l.observe(2, nv)).toMatch(/inside its NEW-VIEW/);
  });
});
