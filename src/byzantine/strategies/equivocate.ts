/** equivocate and conflicting-votes: lying in the normal case. */
import { batchDigest, makePrePrepare, parseRequest, sign, verifyClientSig } from '../../core/messages.js';
import type {
  CommitBody,
  PrePrepareBody,
  PrepareBody,
  ReplicaAction,
  ReplicaEvent,
  ReplicaId,
  Signed,
  SignedPrePrepare,
  SignedRequest,
} from '../../core/types.js';
import { BoundedMap, isOwn, withMsg, type OutMessage, otherDigest, pick, randInt, Ring, shuffle, targets, typeOf } from '../util.js';
import { BaseStrategy } from './base.js';

export type EquivocationVariant = 'reorder' | 'subset' | 'null' | 'extra' | 'mismatch';

interface Plan {
  real: SignedPrePrepare;
  alt: SignedPrePrepare;
  altTo: Set<ReplicaId>;
  variant: EquivocationVariant;
}

/**
 * As primary, replaces each pre-prepare it multicasts with per-backup sends: some backups get
 * the real one, the others a conflicting pre-prepare for the same (view, seq), validly signed
 * by itself, with a different batch (reordered, a subset, the null batch, or with an extra real
 * request). Sometimes (variant `mismatch`) the conflicting one carries a batch that does not
 * match its signed digest: honest backups reject it; a core with the bug
 * `skip-pre-prepare-digest-check` would execute that batch under the real digest.
 * Retransmissions to one backup stay consistent with what it got first.
 */
export class Equivocate extends BaseStrategy {
  readonly name = 'equivocate' as const;
  /** valid client requests seen, to build conflicting batches from */
  private readonly pool = new Ring<SignedRequest>(64);
  private readonly plans = new BoundedMap<string, Plan>(256);

  override onEvent(ev: ReplicaEvent): ReplicaEvent | null {
    if (ev.type === 'request') this.remember(ev.msg);
    else if (ev.type === 'message') {
      const t = typeOf(ev.msg);
      if (t === 'request') this.remember(ev.msg);
      else if (t === 'pre-prepare') {
        const batch = (ev.msg as { batch?: unknown }).batch;
        if (Array.isArray(batch)) for (const r of batch.slice(0, 64)) this.remember(r);
      }
    }
    return ev;
  }

  private remember(raw: unknown): void {
    const p = parseRequest(raw, this.limits);
    if (!p.ok || p.msg.body.readOnly || this.pool.all().some((r) => r.sig === p.msg.sig)) return;
    if (!verifyClientSig(this.ctx.auth, p.msg)) return;
    this.pool.push(p.msg);
  }

  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    const out: ReplicaAction[] = [];
    for (const a of actions) {
      if (!isOwn(a, this.ctx.id, 'pre-prepare')) {
        out.push(a);
        continue;
      }
      const out1 = a as OutMessage;
      const pp = out1.msg as SignedPrePrepare;
      for (const r of pp.batch) this.remember(r);
      const key = `${pp.body.view}:${pp.body.seq}`;
      let plan = this.plans.get(key);
      if (!plan || plan.real.body.digest !== pp.body.digest) {
        plan = this.makePlan(pp);
        this.plans.set(key, plan);
        this.count(`equivocations-${plan.variant}`);
        out.push(
          this.note(
            `(${pp.body.view}, ${pp.body.seq}): real digest ${pp.body.digest.slice(0, 12)} to [${this.others()
              .filter((r) => !plan!.altTo.has(r))
              .join(
                ',',
              )}], ${plan.variant} pre-prepare (digest ${plan.alt.body.digest.slice(0, 12)}, ${plan.alt.batch.length} request(s)) to [${[...plan.altTo].join(',')}]`,
            {
              seq: pp.body.seq,
              digest: pp.body.digest,
            },
          ),
        );
      }
      for (const to of targets(out1, this.n, this.ctx.id)) out.push({ type: 'send', to, msg: plan.altTo.has(to) ? plan.alt : plan.real });
    }
    return out;
  }

  /** Choose who gets the conflicting pre-prepare (both groups non-empty) and build it. */
  makePlan(pp: SignedPrePrepare): Plan {
    const rng = this.ctx.rng;
    const backups = this.others();
    const k = randInt(rng, 1, Math.max(1, backups.length - 1));
    const altTo = new Set(shuffle(rng, backups).slice(0, k));
    const batch = pp.batch;
    const alternatives: [EquivocationVariant, SignedRequest[]][] = [];
    if (batch.length >= 2) {
      alternatives.push(['reorder', batch.slice().reverse()]);
      const drop = Math.floor(rng() * batch.length);
      alternatives.push(['subset', batch.filter((_, i) => i !== drop)]);
    }
    if (batch.length >= 1) alternatives.push(['null', []]);
    if (batch.length < this.ctx.params.maxBatchSize) {
      const fresh = this.pool.all().filter((r) => !batch.some((b) => b.sig === r.sig));
      if (fresh.length > 0) alternatives.push(['extra', [...batch, pick(rng, fresh)]]);
    }
    const { view, seq } = pp.body;
    const id = this.ctx.id;
    if (alternatives.length > 0 && rng() >= 0.25) {
      const [variant, altBatch] = pick(rng, alternatives);
      return { real: pp, alt: makePrePrepare(this.ctx.auth, view, seq, id, altBatch), altTo, variant };
    }
    // mismatch: a signed digest that does not match the attached batch
    let alt: SignedPrePrepare;
    if (alternatives.length > 0) {
      const [, altBatch] = pick(rng, alternatives);
      if (rng() < 0.7) {
        // the real digest (what the others prepare), another batch: only a core that skips the
        // digest check would accept it, and it would execute altBatch under the real digest
        alt = { ...sign<PrePrepareBody>(this.ctx.auth, { ...pp.body }), batch: altBatch };
      } else {
        alt = { ...sign<PrePrepareBody>(this.ctx.auth, { ...pp.body, digest: batchDigest(this.ctx.auth, altBatch) }), batch };
      }
    } else {
      alt = { ...sign<PrePrepareBody>(this.ctx.auth, { ...pp.body, digest: otherDigest(rng, pp.body.digest) }), batch };
    }
    return { real: pp, alt, altTo, variant: 'mismatch' };
  }
}

/**
 * Its prepares and commits carry wrong digests (re-signed with its own key); it also sends
 * commits for things it never prepared: as soon as it prepares, a commit for the real digest,
 * and now and then commits for sequence numbers it has not seen.
 */
export class ConflictingVotes extends BaseStrategy {
  readonly name = 'conflicting-votes' as const;
  private nullDigest: string | null = null;

  private wrongDigest(d: string): string {
    this.nullDigest ??= batchDigest(this.ctx.auth, []);
    return this.nullDigest !== d && this.rand() < 0.3 ? this.nullDigest : otherDigest(this.ctx.rng, d);
  }

  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    const out: ReplicaAction[] = [];
    let altered = 0;
    let premature = 0;
    for (const a of actions) {
      const isPrepare = isOwn(a, this.ctx.id, 'prepare');
      if (!isPrepare && !isOwn(a, this.ctx.id, 'commit')) {
        out.push(a);
        continue;
      }
      const vote = a as OutMessage;
      const body = (vote.msg as Signed<PrepareBody | CommitBody>).body;
      out.push(withMsg(vote, sign(this.ctx.auth, { ...body, digest: this.wrongDigest(body.digest) })));
      altered++;
      if (isPrepare) {
        if (this.rand() < 0.5) {
          out.push({
            type: 'multicast',
            msg: sign<CommitBody>(this.ctx.auth, { type: 'commit', view: body.view, seq: body.seq, digest: body.digest, replica: this.ctx.id }),
          });
          premature++;
        }
        if (this.rand() < 0.3) {
          const seq = body.seq + randInt(this.ctx.rng, 1, 3);
          out.push({
            type: 'multicast',
            msg: sign<CommitBody>(this.ctx.auth, { type: 'commit', view: body.view, seq, digest: otherDigest(this.ctx.rng), replica: this.ctx.id }),
          });
          premature++;
        }
      }
    }
    if (altered + premature > 0) {
      this.count('wrong-digest-votes', altered);
      this.count('unprepared-commits', premature);
      out.push(this.note(`${altered} vote(s) with wrong digests, ${premature} commit(s) for things never prepared`));
    }
    return out;
  }
}
