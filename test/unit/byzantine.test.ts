/**
 * Each strategy transforms a real core's actions as its description says, with valid
 * signatures where it lies and only its own key; and an honest core rejects the lies.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ByzantineError,
  ByzantineLayer,
  ConflictingVotes,
  CorruptibleApp,
  createStrategy,
  Equivocate,
  ForgedViewChange,
  Garbage,
  GARBAGE_KINDS,
  parseStrategyName,
  STRATEGY_DESCRIPTIONS,
  STRATEGY_NAMES,
  wrongResult,
  type EquivocationVariant,
  type NewViewForgery,
  type StrategyContext,
  type ViewChangeForgery,
} from '../../src/byzantine/index.js';
import { KeyedAuthenticator, keyringFor, SimScheme } from '../../src/crypto/index.js';
import {
  batchDigest,
  limitsFor,
  makePrePrepare,
  makeReply,
  makeRequest,
  parseReplicaMessage,
  sign,
  verifyClientSig,
  verifyReplicaSig,
} from '../../src/core/messages.js';
import { canonicalJson } from '../../src/core/canonical.js';
import { computeO } from '../../src/core/view-change.js';
import { defaultParams, Replica, type BugName } from '../../src/core/replica.js';
import { KvStore } from '../../src/app/kv.js';
import type {
  Application,
  CommitBody,
  NewViewBody,
  PreparedCert,
  PrepareBody,
  ReplicaAction,
  ReplyBody,
  ReplicaId,
  ReplicaMessage,
  Signed,
  SignedPrePrepare,
  ViewChangeBody,
} from '../../src/core/types.js';

const N = 4;
const scheme = new SimScheme();
const secrets = Array.from({ length: N }, (_, i) => (i + 1).toString(16).padStart(64, '0'));
const pubs = secrets.map((s) => scheme.publicKey(s));
const clientSecrets: Record<string, string> = { c1: 'b1'.padStart(64, '0'), c2: 'b2'.padStart(64, '0'), c3: 'b3'.padStart(64, '0') };
const clientPubs = Object.fromEntries(Object.entries(clientSecrets).map(([c, s]) => [c, scheme.publicKey(s)]));
const keyring = keyringFor(pubs, clientPubs, false);
const auth = (i: ReplicaId) => new KeyedAuthenticator(scheme, secrets[i]!, keyring);
const clientAuth = (c: string) => new KeyedAuthenticator(scheme, clientSecrets[c]!, keyring);
const verifier = new KeyedAuthenticator(scheme, null, keyring);
const params = defaultParams(N, { checkpointInterval: 4, logWindow: 8, maxBatchSize: 4 });
const limits = limitsFor(params);

/** mulberry32: a tiny seeded PRNG for the strategies' rng */
function rngOf(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const ctx = (id: ReplicaId, seed = 1, app?: CorruptibleApp): StrategyContext => ({ id, params, auth: auth(id), rng: rngOf(seed), app });

const put = (key: string, value: string) => canonicalJson({ op: 'put', key, value });
const reqA = makeRequest(clientAuth('c1'), 'c1', 1, put('k', 'a'));
const reqB = makeRequest(clientAuth('c2'), 'c2', 1, put('k', 'b'));
const reqC = makeRequest(clientAuth('c3'), 'c3', 1, put('j', 'c'));

const prepare = (i: ReplicaId, view: number, seq: number, digest: string) => sign<PrepareBody>(auth(i), { type: 'prepare', view, seq, digest, replica: i });
const commit = (i: ReplicaId, view: number, seq: number, digest: string) => sign<CommitBody>(auth(i), { type: 'commit', view, seq, digest, replica: i });

/** a fresh honest core for replica `id` in view 0 */
function honest(id: ReplicaId, bugs: Partial<Record<BugName, boolean>> = {}): Replica {
  const r = new Replica({ id, params, auth: auth(id), app: new KvStore(), bugs });
  r.start();
  return r;
}
function rejects(r: Replica): number {
  return Object.values(r.status().dropped.reject).reduce((a, b) => a + (b ?? 0), 0);
}
function sends(actions: ReplicaAction[]): Extract<ReplicaAction, { type: 'send' | 'multicast' }>[] {
  return actions.filter((a): a is Extract<ReplicaAction, { type: 'send' | 'multicast' }> => a.type === 'send' || a.type === 'multicast');
}

describe('catalogue', () => {
  it('names and describes every strategy, and creates each by name', () => {
    expect(STRATEGY_NAMES).toHaveLength(10);
    for (const name of STRATEGY_NAMES) {
      expect(STRATEGY_DESCRIPTIONS[name].length).toBeGreaterThan(20);
      const app = new CorruptibleApp(new KvStore(), rngOf(1));
      expect(createStrategy(name, ctx(1, 1, app)).name).toBe(name);
    }
  });

  it('refuses unknown names with a typed error', () => {
    expect(() => parseStrategyName('nasty')).toThrow(ByzantineError);
    try {
      parseStrategyName('nasty');
    } catch (e) {
      expect((e as ByzantineError).code).toBe('unknown-strategy');
      expect((e as Error).message).toContain('silent, equivocate');
    }
    expect(parseStrategyName('replay')).toBe('replay');
    const layer = new ByzantineLayer(ctx(1), new CorruptibleApp(new KvStore(), rngOf(1)));
    expect(() => layer.set('nope' as never)).toThrow(ByzantineError);
    expect(() => createStrategy('corrupt-state', ctx(1))).toThrow(/needs the replica CorruptibleApp/);
  });
});

describe('ByzantineLayer', () => {
  it('passes everything through while honest, and switches strategies on and off at runtime', () => {
    const app = new CorruptibleApp(new KvStore(), rngOf(3));
    const layer = new ByzantineLayer(ctx(0, 3), app);
    const pp = makePrePrepare(auth(0), 0, 1, 0, [reqA]);
    const actions: ReplicaAction[] = [
      { type: 'multicast', msg: pp },
      { type: 'setTimer', name: 'status', afterMs: 10 },
    ];
    expect(layer.current).toBeNull();
    expect(layer.transform(actions)).toBe(actions);
    const ev = { type: 'timer' as const, name: 'status' as const };
    expect(layer.filterEvent(ev)).toBe(ev);
    layer.set('silent');
    expect(layer.current).toBe('silent');
    expect(layer.transform(actions)).toEqual([{ type: 'setTimer', name: 'status', afterMs: 10 }]);
    expect(layer.counters).toEqual({ 'dropped-multicast': 1 });
    layer.set('equivocate');
    expect(sends(layer.transform(actions))).toHaveLength(N - 1);
    layer.set(null);
    expect(layer.current).toBeNull();
    expect(layer.transform(actions)).toBe(actions);
  });
});

describe('silent', () => {
  it('emits no send, multicast or reply, and keeps everything else', () => {
    const s = createStrategy('silent', ctx(2));
    const reply = makeReply(auth(2), { view: 0, timestamp: 1, client: 'c1', replica: 2, result: 'r', tentative: false });
    const out = s.onActions([
      { type: 'multicast', msg: prepare(2, 0, 1, 'aa'.repeat(32)) },
      { type: 'send', to: 0, msg: commit(2, 0, 1, 'aa'.repeat(32)) },
      { type: 'reply', client: 'c1', msg: reply },
      { type: 'persist', record: { kind: 'view', view: 0, viewChanging: false } },
      { type: 'cancelTimer', name: 'view-change' },
    ]);
    expect(out.map((a) => a.type)).toEqual(['persist', 'cancelTimer']);
  });
});

describe('equivocate', () => {
  it('sends two different validly-signed pre-prepares for one (view, seq) to different backups', () => {
    const seen = new Set<EquivocationVariant>();
    for (let seed = 1; seed <= 200; seed++) {
      const s = new Equivocate(ctx(0, seed));
      s.onEvent({ type: 'request', msg: reqC }); // a request it could add
      const pp = makePrePrepare(auth(0), 0, 1, 0, [reqA, reqB]);
      const out = s.onActions([{ type: 'multicast', msg: pp }]);
      const sent = sends(out);
      expect(sent.map((a) => (a.type === 'send' ? a.to : -1)).sort()).toEqual([1, 2, 3]);
      const msgs = sent.map((a) => a.msg as SignedPrePrepare);
      const alt = msgs.find((m) => m !== pp)!;
      expect(alt).toBeDefined();
      expect(msgs.some((m) => m === pp)).toBe(true);
      expect(verifyReplicaSig(verifier, alt)).toBe(true);
      expect(alt.body).toMatchObject({ type: 'pre-prepare', view: 0, seq: 1, replica: 0 });
      const plan = Object.keys(s.counters)[0]!.replace('equivocations-', '') as EquivocationVariant;
      seen.add(plan);
      if (plan === 'mismatch') {
        expect(batchDigest(verifier, alt.batch)).not.toBe(alt.body.digest);
      } else {
        expect(batchDigest(verifier, alt.batch)).toBe(alt.body.digest);
        expect(alt.body.digest).not.toBe(pp.body.digest);
        expect(parseReplicaMessage(alt, limits).ok).toBe(true);
      }
      // a retransmission to one backup repeats what that backup got first
      const first = sent.find((a) => a.type === 'send' && a.to === 2)!.msg;
      const again = sends(s.onActions([{ type: 'send', to: 2, msg: pp }]));
      expect(again).toHaveLength(1);
      expect(again[0]!.msg).toBe(first);
    }
    expect([...seen].sort()).toEqual(['extra', 'mismatch', 'null', 'reorder', 'subset']);
  });

  it('leaves messages other than its own pre-prepares alone', () => {
    const s = createStrategy('equivocate', ctx(1));
    const actions: ReplicaAction[] = [{ type: 'multicast', msg: prepare(1, 0, 1, 'ab'.repeat(32)) }];
    expect(s.onActions(actions)).toEqual(actions);
  });

  it('its digest-mismatch pre-prepare is rejected by an honest backup, accepted by one that skips the digest check', () => {
    const pp = makePrePrepare(auth(0), 0, 1, 0, [reqA, reqB]);
    const lie: SignedPrePrepare = { ...sign(auth(0), { ...pp.body }), batch: [reqA] };
    const good = honest(1);
    const out = good.step({ type: 'message', from: 0, msg: lie });
    expect(good.status().dropped.reject['bad-digest']).toBe(1);
    expect(sends(out)).toHaveLength(0);
    const buggy = honest(1, { 'skip-pre-prepare-digest-check': true });
    const prepares = sends(buggy.step({ type: 'message', from: 0, msg: lie })).filter((a) => (a.msg.body as { type: string }).type === 'prepare');
    expect(prepares).toHaveLength(1);
    // and a validly-digested conflicting one is accepted (it is a real, signed proposal)
    const other = honest(2);
    other.step({ type: 'message', from: 0, msg: makePrePrepare(auth(0), 0, 1, 0, [reqB, reqA]) });
    expect(rejects(other)).toBe(0);
  });
});

describe('conflicting-votes', () => {
  it('re-signs its prepares and commits with wrong digests and commits what it never prepared', () => {
    let premature = 0;
    let unseen = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const s = new ConflictingVotes(ctx(1, seed));
      const d = 'cd'.repeat(32);
      const c = sends(s.onActions([{ type: 'send', to: 3, msg: commit(1, 0, 4, d) }]));
      expect(c).toHaveLength(1);
      expect(c[0]).toMatchObject({ type: 'send', to: 3, msg: { body: { type: 'commit', view: 0, seq: 4, replica: 1 } } });
      expect((c[0]!.msg as Signed<CommitBody>).body.digest).not.toBe(d);
      const out = sends(s.onActions([{ type: 'multicast', msg: prepare(1, 0, 5, d) }]));
      const votes = out.map((a) => a.msg as Signed<PrepareBody | CommitBody>);
      expect(votes[0]!.body).toMatchObject({ type: 'prepare', view: 0, seq: 5, replica: 1 });
      expect(votes[0]!.body.digest).not.toBe(d);
      for (const v of [...votes, c[0]!.msg as Signed<CommitBody>]) expect(verifyReplicaSig(verifier, v)).toBe(true);
      for (const v of votes.slice(1)) {
        expect(v.body.type).toBe('commit');
        if (v.body.seq === 5 && v.body.digest === d) premature++;
        if (v.body.seq > 5) unseen++;
      }
    }
    expect(premature).toBeGreaterThan(0);
    expect(unseen).toBeGreaterThan(0);
  });
});

describe('forged-view-change', () => {
  // replica 0 (primary of view 0) prepared seqs 1 and 2 with prepares from 1 and 2
  const pp1 = makePrePrepare(auth(0), 0, 1, 0, [reqA]);
  const pp2 = makePrePrepare(auth(0), 0, 2, 0, [reqB, reqC]);
  const cert = (pp: SignedPrePrepare): PreparedCert => ({
    prePrepare: pp,
    prepares: [prepare(1, 0, pp.body.seq, pp.body.digest), prepare(2, 0, pp.body.seq, pp.body.digest)],
  });
  const vc = (i: ReplicaId, prepared: PreparedCert[] = []) =>
    sign<ViewChangeBody>(auth(i), { type: 'view-change', newView: 1, stableSeq: 0, checkpointProof: [], prepared, replica: i });
  const vc0 = vc(0, [cert(pp1), cert(pp2)]);

  const invalid: ViewChangeForgery[] = ['fabricated-digest', 'bad-prepare-signature', 'too-few-prepares', 'never-saw', 'forged-checkpoint'];
  for (const w of invalid) {
    it(`a view-change with forgery "${w}" is signed by itself and rejected by an honest replica`, () => {
      for (let seed = 1; seed <= 10; seed++) {
        const s = new ForgedViewChange(ctx(0, seed));
        const { msg, what } = s.forgeViewChange(vc0, w);
        expect(what).toEqual([w]);
        expect(verifyReplicaSig(verifier, msg)).toBe(true);
        expect(parseReplicaMessage(msg, limits).ok).toBe(true);
        const r = honest(2);
        r.step({ type: 'message', from: 0, msg });
        expect(r.status().dropped.reject['bad-certificate']).toBe(1);
      }
    });
  }

  it('the unforged view-change and the undetectable lie (omitted certificates) are accepted', () => {
    for (const msg of [vc0, new ForgedViewChange(ctx(0)).forgeViewChange(vc0, 'omit-certificates').msg]) {
      const r = honest(2);
      r.step({ type: 'message', from: 0, msg });
      expect(rejects(r)).toBe(0);
    }
  });

  it('rewrites its own view-changes consistently (a retransmission repeats the same forgery)', () => {
    const s = createStrategy('forged-view-change', ctx(0, 7));
    const a = sends(s.onActions([{ type: 'multicast', msg: vc0 }]));
    const b = sends(s.onActions([{ type: 'send', to: 3, msg: vc0 }]));
    const forged = a.find((x) => x.msg !== vc0 && (x.msg.body as { type: string }).type === 'view-change' && (x.msg.body as ViewChangeBody).newView === 1)!.msg;
    expect(forged).not.toEqual(vc0);
    expect(b.some((x) => x.msg === forged && x.type === 'send' && x.to === 3)).toBe(true);
  });

  describe('as new primary', () => {
    // view 1's primary is replica 1; V = view-changes of 0, 1, 2 for view 1
    const V = [vc(1), vc0, vc(2)];
    const O = computeO(verifier, V);
    const honestNV = sign<NewViewBody>(auth(1), {
      type: 'new-view',
      newView: 1,
      viewChanges: V,
      prePrepares: [...O.entries].map(([seq, e]) => makePrePrepare(auth(1), 1, seq, 1, e.batch)),
      replica: 1,
    });
    /** replica 2, moved to view 1 by the view-changes, ready for the new-view */
    function waiting(): Replica {
      const r = honest(2);
      r.step({ type: 'message', from: 0, msg: vc0 });
      r.step({ type: 'message', from: 1, msg: vc(1) });
      expect(r.status()).toMatchObject({ view: 1, viewChanging: true });
      return r;
    }

    it('the honest new-view is accepted (control)', () => {
      expect(O.entries.size).toBe(2);
      const r = waiting();
      r.step({ type: 'message', from: 1, msg: honestNV });
      expect(r.status()).toMatchObject({ view: 1, viewChanging: false });
    });

    for (const w of ['drop-entry', 'null-entry', 'extra-entry', 'swap-batches'] as NewViewForgery[]) {
      it(`a new-view with O forged by "${w}" is rejected`, () => {
        const s = new ForgedViewChange(ctx(1, 5));
        const { msg, what } = s.forgeNewView(honestNV, w);
        expect(what).toBe(w);
        expect(verifyReplicaSig(verifier, msg)).toBe(true);
        const r = waiting();
        r.step({ type: 'message', from: 1, msg });
        expect(r.status().dropped.reject['bad-new-view']).toBe(1);
        expect(r.status().viewChanging).toBe(true);
      });
    }
  });
});

describe('replay', () => {
  it('re-sends old messages it received and sent, and old replies', () => {
    const s = createStrategy('replay', ctx(3, 11));
    const received = [prepare(1, 0, 1, 'aa'.repeat(32)), commit(2, 0, 1, 'aa'.repeat(32))];
    for (const m of received) s.onEvent!({ type: 'message', from: m.body.replica, msg: m });
    const own = prepare(3, 0, 1, 'aa'.repeat(32));
    const reply = makeReply(auth(3), { view: 0, timestamp: 1, client: 'c1', replica: 3, result: 'r', tentative: false });
    const reply2 = makeReply(auth(3), { view: 0, timestamp: 2, client: 'c1', replica: 3, result: 'r', tentative: false });
    s.onActions([
      { type: 'multicast', msg: own },
      { type: 'reply', client: 'c1', msg: reply },
      { type: 'reply', client: 'c1', msg: reply2 },
    ]);
    const replayed = new Set<unknown>();
    let replies = 0;
    for (let i = 0; i < 200; i++) {
      for (const a of s.onActions([{ type: 'setTimer', name: 'status', afterMs: 1 }])) {
        if (a.type === 'send' || a.type === 'multicast') replayed.add(a.msg);
        if (a.type === 'reply') {
          expect([reply, reply2]).toContain(a.msg);
          replies++;
        }
      }
    }
    expect(replayed).toEqual(new Set([...received, own]));
    expect(replies).toBeGreaterThan(0);
    expect(s.counters['replayed-own']).toBeGreaterThan(0);
    expect(s.counters['replayed-others']).toBeGreaterThan(0);
  });
});

describe('wrong-reply', () => {
  it('replies with a different result, correctly signed by itself', () => {
    const s = createStrategy('wrong-reply', ctx(2, 4));
    const result = canonicalJson({ ok: true, value: 'a' });
    const reply = makeReply(auth(2), { view: 0, timestamp: 3, client: 'c1', replica: 2, result, tentative: false });
    const out = s.onActions([{ type: 'reply', client: 'c1', msg: reply }]);
    const r = out.find((a) => a.type === 'reply') as Extract<ReplicaAction, { type: 'reply' }>;
    expect(r.client).toBe('c1');
    expect(r.msg.body.result).not.toBe(result);
    expect({ ...r.msg.body, result }).toEqual(reply.body);
    expect(verifyReplicaSig(verifier, r.msg as Signed<ReplyBody>)).toBe(true);
  });

  it('wrongResult always differs from the right one', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.constantFrom('{"ok":true,"value":null}', '{"ok":true,"value":"x"}', '{"ok":false,"error":"e"}')),
        fc.integer(),
        (res, seed) => {
          expect(wrongResult(res, rngOf(seed))).not.toBe(res);
        },
      ),
    );
  });
});

/** An application whose whole state is one string, without a corrupt() hook; `marks`: with copy-on-write marks. */
function stringApp(marks = false): Application {
  let state = 'x';
  const app: Application = {
    execute: (op) => {
      state += op;
      return 'ok';
    },
    isReadOnly: () => false,
    query: () => '',
    snapshot: () => state,
    restore: (s) => {
      state = s;
    },
    digest: () => state,
    snapshotDigest: (s) => s,
  };
  if (!marks) return app;
  const kept = new Map<number, string>();
  let next = 0;
  return {
    ...app,
    mark: () => {
      kept.set(++next, state);
      return next;
    },
    snapshotAt: (m) => kept.get(m)!,
    release: () => undefined,
  };
}

describe('corrupt-state', () => {
  it('silently diverges the KV state when activated; installing an honest snapshot repairs it', () => {
    const kv = new KvStore();
    kv.execute(put('k0', 'v'), 'c1');
    const app = new CorruptibleApp(kv, rngOf(9));
    const honestSnap = app.snapshot();
    const honestDigest = app.digest();
    const layer = new ByzantineLayer(ctx(1, 9), app);
    layer.set('corrupt-state');
    expect(app.corruptions).toBe(1);
    expect(app.digest()).not.toBe(honestDigest);
    expect(app.snapshot()).not.toBe(honestSnap);
    // it logs what it did with the next output, and passes the core's actions through
    const out = layer.transform([{ type: 'setTimer', name: 'status', afterMs: 5 }]);
    expect(out.some((a) => a.type === 'log' && a.event.phase === 'fault')).toBe(true);
    app.restore(honestSnap);
    expect(app.digest()).toBe(honestDigest);
  });

  it('corrupts again now and then as it executes', () => {
    const app = new CorruptibleApp(new KvStore(), rngOf(2));
    const s = createStrategy('corrupt-state', ctx(1, 2, app));
    s.activate!();
    const executed: ReplicaAction = { type: 'executed', view: 0, seq: 1, digest: 'ab'.repeat(32), requests: [], certificate: null };
    for (let i = 0; i < 200; i++) s.onActions([executed]);
    expect(app.corruptions).toBeGreaterThan(2);
  });

  it('diverges an application without a corrupt() hook through its snapshot, which still round-trips', () => {
    const app = new CorruptibleApp(stringApp(), rngOf(1));
    const before = app.snapshot();
    app.corruptNow();
    const corrupted = app.snapshot();
    expect(corrupted).not.toBe(before);
    app.restore(before);
    expect(app.snapshot()).toBe(before);
    app.restore(corrupted);
    expect(app.snapshot()).toBe(corrupted);
  });

  it('passes copy-on-write marks through: snapshotAt(mark) is what snapshot() was at the mark, corruption included', () => {
    const kv = new KvStore();
    const app = new CorruptibleApp(kv, rngOf(5));
    expect(typeof app.mark).toBe('function');
    kv.execute(put('k0', 'a'), 'c1');
    const m1 = app.mark!();
    const at1 = app.snapshot();
    app.corruptNow();
    const m2 = app.mark!();
    const at2 = app.snapshot();
    kv.execute(put('k1', 'b'), 'c1');
    expect(app.snapshotAt!(m1)).toBe(at1);
    expect(app.snapshotAt!(m2)).toBe(at2);
    app.release!(m2);
    expect(() => app.snapshotAt!(m1)).toThrow(/not kept/);
    // an application without marks: the wrapper has none either (the core then snapshots eagerly)
    const plain = new CorruptibleApp({ ...kv, snapshot: () => '', restore: () => undefined } as unknown as Application, rngOf(1));
    expect(plain.mark).toBeUndefined();
    // a generic (salted) corruption is remembered per mark
    const salted = new CorruptibleApp(stringApp(true), rngOf(3));
    const clean = salted.mark!();
    salted.corruptNow();
    const dirty = salted.mark!();
    expect(salted.snapshotAt!(clean)).toBe('x');
    expect(salted.snapshotAt!(dirty)).toBe(salted.snapshot());
    expect(salted.snapshotAt!(dirty)).not.toBe('x');
  });
});

describe('garbage', () => {
  /** garbage must not verify: malformed, or a bad signature, or a forged client request inside */
  function harmless(m: unknown): boolean {
    const p = parseReplicaMessage(m, limits);
    if (!p.ok) return true;
    const msg = p.msg as ReplicaMessage;
    if (msg.body.type === 'request') return !verifyClientSig(verifier, msg as never);
    if (!verifyReplicaSig(verifier, msg as Signed<{ replica: number }>)) return true;
    return msg.body.type === 'pre-prepare' && (msg as SignedPrePrepare).batch.some((r) => !verifyClientSig(verifier, r));
  }

  it('every kind of garbage fails validation or verification, is plain JSON, and an honest core drops it without crashing', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const g = new Garbage(ctx(0, seed));
      for (const kind of GARBAGE_KINDS) {
        const m = g.make(kind);
        expect(harmless(m), `${kind}: ${JSON.stringify(m).slice(0, 200)}`).toBe(true);
        expect(JSON.parse(JSON.stringify(m))).toEqual(m);
        const r = honest(1);
        const before = rejects(r);
        const unauthenticated = r.status().auth.requestsUnauthenticated;
        let out: ReplicaAction[] = [];
        expect(() => (out = r.step({ type: 'message', from: 0, msg: m }))).not.toThrow();
        if (kind === 'forged-request') {
          // a pre-prepare whose request it cannot authenticate: held (2f prepares would vouch
          // for it: README, Authentication), not prepared, not rejected
          expect(r.status().auth.requestsUnauthenticated, kind).toBe(unauthenticated + 1);
          expect(out.some((a) => a.type === 'multicast' && a.msg.body.type === 'prepare')).toBe(false);
        } else expect(rejects(r), kind).toBe(before + 1);
      }
    }
  });

  it('adds garbage alongside the normal messages, never instead of them', () => {
    const s = createStrategy('garbage', ctx(0, 5));
    const pp = makePrePrepare(auth(0), 0, 1, 0, [reqA]);
    let extra = 0;
    for (let i = 0; i < 100; i++) {
      const out = sends(s.onActions([{ type: 'multicast', msg: pp }]));
      expect(out[0]!.msg).toBe(pp);
      for (const a of out.slice(1)) {
        expect(harmless(a.msg)).toBe(true);
        extra++;
      }
    }
    expect(extra).toBeGreaterThan(10);
  });
});
