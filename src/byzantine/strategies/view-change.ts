/** forged-view-change: lying in view changes, and as new primary in the NEW-VIEW. */
import { makePrePrepare, parseReplicaMessage, sign, verifyReplicaSig } from '../../core/messages.js';
import type {
  CheckpointBody,
  NewViewBody,
  PreparedCert,
  PrepareBody,
  ReplicaAction,
  ReplicaEvent,
  Signed,
  SignedPrePrepare,
  ViewChangeBody,
} from '../../core/types.js';
import { BoundedMap, isOwn, withMsg, type OutMessage, otherDigest, pick, randInt } from '../util.js';
import { BaseStrategy } from './base.js';

export type ViewChangeForgery =
  /** a certificate's pre-prepare digest replaced (its signature no longer matches, or the prepares do not) */
  | 'fabricated-digest'
  /** a prepare altered so its signature does not match */
  | 'bad-prepare-signature'
  /** a certificate with fewer than 2f prepares */
  | 'too-few-prepares'
  /** a certificate for a seq it never saw, with prepares it signed in others' names */
  | 'never-saw'
  /** a higher stable checkpoint than it has, with a proof that does not prove it */
  | 'forged-checkpoint'
  /** an older (valid) stable checkpoint than the one it has */
  | 'stale-checkpoint'
  /** prepared certificates left out (a lie nobody can detect: quorum intersection covers it) */
  | 'omit-certificates';

export type NewViewForgery = 'drop-entry' | 'null-entry' | 'extra-entry' | 'swap-batches';

/**
 * In view changes, sends VIEW-CHANGEs (signed by itself) with forged prepared certificates and
 * stale or forged checkpoints, and now and then an unprompted one for the next view (f faulty
 * replicas alone must never force a view change). As new primary, sends a NEW-VIEW whose O does
 * not match V (backups recompute O and must reject it).
 */
export class ForgedViewChange extends BaseStrategy {
  readonly name = 'forged-view-change' as const;
  /** checkpoint messages seen, by seq then signer (for stale proofs) */
  private readonly checkpoints = new BoundedMap<number, Map<number, Signed<CheckpointBody>>>(8);
  private readonly forgedNewViews = new BoundedMap<number, Signed<NewViewBody>>(8);
  private readonly forgedViewChanges = new BoundedMap<number, Signed<ViewChangeBody>>(8);
  private spuriousFor = -1;

  override onEvent(ev: ReplicaEvent): ReplicaEvent | null {
    if (ev.type === 'message' && (ev.msg as { body?: { type?: unknown } } | null)?.body?.type === 'checkpoint') {
      const p = parseReplicaMessage(ev.msg, this.limits);
      if (p.ok && verifyReplicaSig(this.ctx.auth, p.msg as Signed<CheckpointBody>)) this.recordCheckpoint(p.msg as Signed<CheckpointBody>);
    }
    return ev;
  }

  private recordCheckpoint(c: Signed<CheckpointBody>): void {
    let m = this.checkpoints.get(c.body.seq);
    if (!m) {
      m = new Map();
      this.checkpoints.set(c.body.seq, m);
    }
    if (m.size < this.n) m.set(c.body.replica, c);
  }

  /** a valid 2f+1 proof for a stable checkpoint below `below`, if one was seen */
  private staleProof(below: number): { seq: number; proof: Signed<CheckpointBody>[] } | null {
    let best: { seq: number; proof: Signed<CheckpointBody>[] } | null = null;
    for (const [seq, m] of this.checkpoints) {
      if (seq >= below || seq === 0 || (best && best.seq >= seq)) continue;
      const byDigest = new Map<string, Signed<CheckpointBody>[]>();
      for (const c of m.values()) byDigest.set(c.body.digest, [...(byDigest.get(c.body.digest) ?? []), c]);
      for (const l of byDigest.values()) if (l.length >= 2 * this.f + 1) best = { seq, proof: l.slice(0, 2 * this.f + 1) };
    }
    return best;
  }

  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    const out: ReplicaAction[] = [];
    for (const a of actions) {
      if (isOwn(a, this.ctx.id, 'checkpoint')) this.recordCheckpoint((a as OutMessage).msg as Signed<CheckpointBody>);
      if (isOwn(a, this.ctx.id, 'view-change')) {
        const vc = (a as OutMessage).msg as Signed<ViewChangeBody>;
        let forged = this.forgedViewChanges.get(vc.body.newView);
        if (!forged) {
          const { msg, what } = this.forgeViewChange(vc);
          forged = msg;
          this.forgedViewChanges.set(vc.body.newView, forged);
          out.push(this.note(`view-change for view ${vc.body.newView} forged: ${what.join(', ')}`));
        }
        out.push(withMsg(a as OutMessage, forged));
      } else if (isOwn(a, this.ctx.id, 'new-view')) {
        const nv = (a as OutMessage).msg as Signed<NewViewBody>;
        let forged = this.forgedNewViews.get(nv.body.newView);
        if (!forged) {
          const { msg, what } = this.forgeNewView(nv);
          forged = msg;
          this.forgedNewViews.set(nv.body.newView, forged);
          out.push(this.note(`new-view for view ${nv.body.newView} with an O that does not match V: ${what}`));
        }
        out.push(withMsg(a as OutMessage, forged));
      } else out.push(a);
    }
    // an unprompted view-change for the next view, once per view, now and then
    if (!this.vt.viewChanging && this.spuriousFor < this.vt.view + 1 && this.rand() < 0.02) {
      const newView = this.vt.view + 1;
      this.spuriousFor = newView;
      const vc = sign<ViewChangeBody>(this.ctx.auth, { type: 'view-change', newView, stableSeq: 0, checkpointProof: [], prepared: [], replica: this.ctx.id });
      out.push({ type: 'multicast', msg: vc });
      out.push(this.note(`unprompted view-change for view ${newView}`));
      this.count('spurious-view-changes');
    }
    return out;
  }

  /** Apply one or two forgeries to a view-change and re-sign it. */
  forgeViewChange(vc: Signed<ViewChangeBody>, force?: ViewChangeForgery): { msg: Signed<ViewChangeBody>; what: ViewChangeForgery[] } {
    const rng = this.ctx.rng;
    let body: ViewChangeBody = { ...vc.body, prepared: vc.body.prepared.slice() };
    const withPrepares = body.prepared.map((c, i) => [c, i] as const).filter(([c]) => c.prepares.length > 0);
    const options: ViewChangeForgery[] = ['never-saw', 'forged-checkpoint'];
    if (body.prepared.length > 0) options.push('fabricated-digest', 'too-few-prepares', 'omit-certificates');
    if (withPrepares.length > 0) options.push('bad-prepare-signature');
    if (this.staleProof(body.stableSeq)) options.push('stale-checkpoint');
    const what: ViewChangeForgery[] = force ? [force] : [pick(rng, options)];
    if (!force && rng() < 0.3) {
      const second = pick(rng, options);
      if (!what.includes(second)) what.push(second);
    }
    for (const w of what) body = this.apply(w, body);
    for (const w of what) this.count(`vc-${w}`);
    return { msg: sign(this.ctx.auth, body), what };
  }

  private apply(w: ViewChangeForgery, b: ViewChangeBody): ViewChangeBody {
    const rng = this.ctx.rng;
    const auth = this.ctx.auth;
    const prepared = b.prepared.slice();
    const at = prepared.length > 0 ? Math.floor(rng() * prepared.length) : -1;
    switch (w) {
      case 'fabricated-digest': {
        if (at < 0) return b;
        const c = prepared[at]!;
        const ppBody = { ...c.prePrepare.body, digest: otherDigest(rng, c.prePrepare.body.digest) };
        // re-signed only if it was its own pre-prepare (then the prepares no longer match)
        const sig = ppBody.replica === this.ctx.id ? sign(auth, ppBody).sig : c.prePrepare.sig;
        prepared[at] = { prePrepare: { body: ppBody, sig, batch: c.prePrepare.batch }, prepares: c.prepares };
        return { ...b, prepared };
      }
      case 'bad-prepare-signature': {
        const i = prepared.findIndex((c) => c.prepares.length > 0);
        if (i < 0) return b;
        const c = prepared[i]!;
        const j = Math.floor(rng() * c.prepares.length);
        const p = c.prepares[j]!;
        const prepares = c.prepares.slice();
        // same fields, another replica named: the signature (by the real signer) no longer matches
        const other = (p.body.replica + 1 + Math.floor(rng() * (this.n - 1))) % this.n;
        prepares[j] =
          rng() < 0.5 ? { body: { ...p.body, replica: other }, sig: p.sig } : { body: p.body, sig: otherDigest(rng, p.sig.slice(0, 64)) + p.sig.slice(64) };
        prepared[i] = { prePrepare: c.prePrepare, prepares };
        return { ...b, prepared };
      }
      case 'too-few-prepares': {
        if (at < 0) return b;
        const c = prepared[at]!;
        prepared[at] = { prePrepare: c.prePrepare, prepares: c.prepares.slice(0, Math.max(0, Math.min(c.prepares.length, 2 * this.f) - 1)) };
        return { ...b, prepared };
      }
      case 'never-saw': {
        const seqs = new Set(prepared.map((c) => c.prePrepare.body.seq));
        const window = this.ctx.params.logWindow;
        if (prepared.length >= window) return b;
        let seq = b.stableSeq + randInt(rng, 1, window);
        for (let tries = 0; seqs.has(seq) && tries < 4 * window; tries++) seq = b.stableSeq + randInt(rng, 1, window);
        if (seqs.has(seq)) return b;
        const view = Math.max(0, b.newView - 1);
        const pp: SignedPrePrepare = makePrePrepare(auth, view, seq, this.ctx.id, []);
        // 2f prepares in the names of other backups, signed with its own key: they cannot verify
        const names = [...Array(this.n).keys()].filter((r) => r !== this.primary(view) && r !== this.ctx.id).slice(0, 2 * this.f);
        const prepares = names.map((r) => sign<PrepareBody>(auth, { type: 'prepare', view, seq, digest: pp.body.digest, replica: r }));
        const cert: PreparedCert = { prePrepare: pp, prepares };
        const out = [...prepared, cert].sort((x, y) => x.prePrepare.body.seq - y.prePrepare.body.seq);
        return { ...b, prepared: out };
      }
      case 'forged-checkpoint': {
        const K = this.ctx.params.checkpointInterval;
        const stableSeq = b.stableSeq + K * randInt(rng, 1, 2);
        // the old proof (for another seq), or its own checkpoint alone, for a digest it made up
        const proof: Signed<CheckpointBody>[] =
          b.checkpointProof.length > 0 && rng() < 0.5
            ? b.checkpointProof
            : [sign<CheckpointBody>(auth, { type: 'checkpoint', seq: stableSeq, digest: otherDigest(rng), replica: this.ctx.id })];
        return { ...b, stableSeq, checkpointProof: proof, prepared: prepared.filter((c) => c.prePrepare.body.seq > stableSeq) };
      }
      case 'stale-checkpoint': {
        const s = this.staleProof(b.stableSeq);
        if (!s) return b;
        // older but valid; its certificates above the stable one still lie inside the window
        return {
          ...b,
          stableSeq: s.seq,
          checkpointProof: s.proof,
          prepared: prepared.filter((c) => c.prePrepare.body.seq <= s.seq + this.ctx.params.logWindow),
        };
      }
      case 'omit-certificates':
        return { ...b, prepared: [] };
    }
  }

  /** Make O disagree with V (dropping, nulling, adding or swapping entries) and re-sign. */
  forgeNewView(nv: Signed<NewViewBody>, force?: NewViewForgery): { msg: Signed<NewViewBody>; what: NewViewForgery } {
    const rng = this.ctx.rng;
    const auth = this.ctx.auth;
    const O = nv.body.prePrepares.slice();
    const view = nv.body.newView;
    const options: NewViewForgery[] = ['extra-entry'];
    if (O.length > 0) options.push('drop-entry');
    if (O.some((pp) => pp.batch.length > 0)) options.push('null-entry');
    const distinct = new Set(O.map((pp) => pp.body.digest));
    if (distinct.size >= 2) options.push('swap-batches');
    const what = force && options.includes(force) ? force : pick(rng, options);
    switch (what) {
      case 'drop-entry':
        O.splice(Math.floor(rng() * O.length), 1);
        break;
      case 'null-entry': {
        const idx = O.map((pp, i) => [pp, i] as const).filter(([pp]) => pp.batch.length > 0);
        const [pp, i] = pick(rng, idx);
        O[i] = makePrePrepare(auth, view, pp.body.seq, this.ctx.id, []);
        break;
      }
      case 'extra-entry': {
        let maxSeq = 0;
        for (const pp of O) maxSeq = Math.max(maxSeq, pp.body.seq);
        for (const vc of nv.body.viewChanges) maxSeq = Math.max(maxSeq, vc.body.stableSeq);
        O.push(makePrePrepare(auth, view, maxSeq + 1, this.ctx.id, []));
        break;
      }
      case 'swap-batches': {
        const i = O.findIndex((pp) => pp.body.digest !== O[0]!.body.digest);
        const a = O[0]!;
        const b = O[i]!;
        O[0] = makePrePrepare(auth, view, a.body.seq, this.ctx.id, b.batch);
        O[i] = makePrePrepare(auth, view, b.body.seq, this.ctx.id, a.batch);
        break;
      }
    }
    this.count(`nv-${what}`);
    return { msg: sign<NewViewBody>(auth, { ...nv.body, prePrepares: O }), what };
  }
}
