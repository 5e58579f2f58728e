/** garbage: malformed and unverifiable messages alongside normal behaviour. */
import { makePrePrepare, makeRequest, sign } from '../../core/messages.js';
import type {
  CheckpointBody,
  CommitBody,
  PrepareBody,
  ReplicaAction,
  ReplicaId,
  ReplicaMessage,
  RequestBody,
  SignedReply,
  SignedRequest,
} from '../../core/types.js';
import { isOwn, otherDigest, pick, randInt, randomHex, signerOf, typeOf } from '../util.js';
import { BaseStrategy } from './base.js';

export type GarbageKind =
  | 'not-an-object'
  | 'no-body'
  | 'unknown-type'
  | 'missing-field'
  | 'extra-field'
  | 'wrong-types'
  | 'huge-number'
  | 'negative-number'
  | 'fraction'
  | 'bad-hex'
  | 'non-member'
  | 'bad-signature'
  | 'impersonation'
  | 'oversized-batch'
  | 'oversized-op'
  | 'deep-nesting'
  | 'forged-request';

export const GARBAGE_KINDS: readonly GarbageKind[] = [
  'not-an-object',
  'no-body',
  'unknown-type',
  'missing-field',
  'extra-field',
  'wrong-types',
  'huge-number',
  'negative-number',
  'fraction',
  'bad-hex',
  'non-member',
  'bad-signature',
  'impersonation',
  'oversized-batch',
  'oversized-op',
  'deep-nesting',
  'forged-request',
];

/**
 * Alongside its honest core's messages, sends malformed ones now and then: wrong types, missing
 * or extra fields, huge, negative and fractional numbers, bad hex, non-member ids, bad
 * signatures, votes in another replica's name, oversized batches and ops, deep nesting, and
 * pre-prepares carrying a request whose client signature is forged. Also malformed replies to
 * clients. Every one of them must be dropped and counted; none may crash a core or a client.
 * All values are plain JSON (no NaN, Infinity, BigInt or cycles), so a real transport ships them.
 */
export class Garbage extends BaseStrategy {
  readonly name = 'garbage' as const;
  private seq = 1;
  private clients: string[] = [];

  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    const out = actions.slice();
    let outbound = false;
    let reply: Extract<ReplicaAction, { type: 'reply' }> | undefined;
    for (const a of actions) {
      if (a.type === 'send' || a.type === 'multicast') {
        outbound = true;
        const s = (a.msg as { body: { seq?: unknown } }).body.seq;
        if (typeof s === 'number' && Number.isSafeInteger(s) && s > this.seq && signerOf(a.msg) === this.ctx.id) this.seq = s;
        if (isOwn(a, this.ctx.id, 'pre-prepare')) for (const r of (a.msg as unknown as { batch: SignedRequest[] }).batch) this.rememberClient(r.body.client);
      } else if (a.type === 'reply') {
        reply = a;
        this.rememberClient(a.client);
      }
    }
    if (outbound && this.rand() < 0.3) {
      const k = randInt(this.ctx.rng, 1, 2);
      const kinds: GarbageKind[] = [];
      for (let i = 0; i < k; i++) {
        const kind = pick(this.ctx.rng, GARBAGE_KINDS);
        const msg = this.make(kind) as ReplicaMessage;
        if (this.rand() < 0.5) out.push({ type: 'multicast', msg });
        else out.push({ type: 'send', to: pick(this.ctx.rng, this.others()), msg });
        kinds.push(kind);
        this.count(kind);
      }
      out.push(this.note(`sent garbage: ${kinds.join(', ')}`));
    }
    if (reply && this.rand() < 0.2) {
      out.push({ type: 'reply', client: reply.client, msg: this.badReply(reply.msg) as SignedReply });
      this.count('bad-reply');
    }
    return out;
  }

  private rememberClient(c: string): void {
    if (!this.clients.includes(c)) {
      this.clients.push(c);
      if (this.clients.length > 16) this.clients.shift();
    }
  }

  private sig(): string {
    return randomHex(this.ctx.rng, 64);
  }

  /** One garbage message of the given kind. */
  make(kind: GarbageKind): unknown {
    const rng = this.ctx.rng;
    const auth = this.ctx.auth;
    const id = this.ctx.id;
    const view = this.vt.view;
    const seq = this.seq;
    const digest = otherDigest(rng);
    const vote = (t: 'prepare' | 'commit'): PrepareBody | CommitBody => ({ type: t, view, seq, digest, replica: id });
    switch (kind) {
      case 'not-an-object':
        return pick(rng, ['garbage', 42, null, [], true, [1, 2, 3], '']);
      case 'no-body':
        return { sig: this.sig() };
      case 'unknown-type':
        return sign(auth, { type: pick(rng, ['bogus', 'PREPARE', 'reply', '', 'pre_prepare']), view, seq, replica: id });
      case 'missing-field': {
        const b: Record<string, unknown> = { ...vote(pick(rng, ['prepare', 'commit'] as const)) };
        delete b[pick(rng, ['view', 'seq', 'digest', 'replica'])];
        return sign(auth, b);
      }
      case 'extra-field':
        return rng() < 0.5 ? { ...sign(auth, vote('prepare')), evil: true } : sign(auth, { ...vote('commit'), admin: 'yes' });
      case 'wrong-types':
        return { body: { type: 'prepare', view: String(view), seq: null, digest: 42, replica: String(id) }, sig: pick(rng, [7, null, {}, ['a']]) };
      case 'huge-number':
        return sign(auth, { ...vote('commit'), [pick(rng, ['view', 'seq'])]: pick(rng, [1e300, 2 ** 53, 2 ** 64, Number.MAX_VALUE]) });
      case 'negative-number':
        return sign(auth, { ...vote('prepare'), [pick(rng, ['view', 'seq'])]: -randInt(rng, 1, 1000) });
      case 'fraction':
        return sign(auth, { ...vote('prepare'), [pick(rng, ['view', 'seq'])]: seq + 0.5 });
      case 'bad-hex':
        return sign<CheckpointBody>(auth, {
          type: 'checkpoint',
          seq,
          digest: pick(rng, [digest.toUpperCase(), 'xyz', `${digest}0`, '', digest.slice(2)]),
          replica: id,
        });
      case 'non-member':
        return sign(auth, { ...vote('prepare'), replica: pick(rng, [this.n, this.n + randInt(rng, 1, 1000), 2 ** 31]) });
      case 'bad-signature':
        return { body: vote(pick(rng, ['prepare', 'commit'] as const)), sig: this.sig() };
      case 'impersonation': {
        // signed with its own key, in another member's name: the signature cannot verify
        const other: ReplicaId = pick(rng, this.others());
        return sign(auth, { ...vote('commit'), replica: other });
      }
      case 'oversized-batch': {
        const req = { body: { type: 'request', client: 'x', timestamp: 1, op: '', readOnly: false } satisfies RequestBody, sig: randomHex(rng, 32) };
        const batch = Array.from({ length: this.ctx.params.maxBatchSize + 1 }, () => req);
        return { ...makePrePrepare(auth, view, seq, id, []), batch };
      }
      case 'oversized-op': {
        const size = this.ctx.params.maxOpBytes + 1;
        return makeRequest(auth, pick(rng, this.clients.length > 0 ? this.clients : ['c0']), randInt(rng, 1, 1e6), 'x'.repeat(size));
      }
      case 'deep-nesting': {
        let v: unknown = 'bottom';
        for (let i = 0; i < 64; i++) v = { body: v };
        return { body: { type: 'prepare', view: v, seq, digest, replica: id }, sig: this.sig() };
      }
      case 'forged-request': {
        // a well-formed pre-prepare, validly signed by itself, carrying a request whose client
        // signature is made up (honest backups must reject it; not-primary if it is a backup)
        const client = pick(rng, this.clients.length > 0 ? this.clients : ['c0']);
        const body: RequestBody = {
          type: 'request',
          client,
          timestamp: randInt(rng, 1, 2 ** 40),
          op: JSON.stringify({ op: 'put', key: 'k0', value: 'forged' }),
          readOnly: false,
        };
        const forged: SignedRequest = { body, sig: randomHex(rng, 32) };
        return makePrePrepare(auth, view, seq + 1, id, [forged]);
      }
    }
  }

  private badReply(r: SignedReply): unknown {
    const rng = this.ctx.rng;
    switch (Math.floor(rng() * 4)) {
      case 0: {
        const { result: _dropped, ...body } = r.body;
        return { body, sig: r.sig };
      }
      case 1:
        return { body: { ...r.body, result: 'forged' }, sig: r.sig };
      case 2:
        return { body: { ...r.body, timestamp: -1 }, sig: r.sig };
      default:
        return typeOf(r) === 'reply' ? 'not a reply' : null;
    }
  }
}
