/**
 * The sans-I/O client core (Castro & Liskov 2002, §4.1 "The Client").
 *
 * "The client waits for f+1 replies with valid signatures from different replicas, and with
 * the same t and r, before accepting the result r." A read-only request (§5.1.3) goes to all
 * replicas and needs 2f+1 matching tentative replies; otherwise it is retried as read-write.
 * "If the client does not receive replies soon enough, it broadcasts the request to all
 * replicas" - with the timeout doubling on each retransmission.
 *
 * Caveat on the read-only path: the paper pairs it with tentative execution, where read-write
 * requests also wait for 2f+1 replies, so a read quorum meets every completed write. Here
 * read-write requests complete on f+1 replies, so a read-only get may miss a write that
 * completed just before it (linearizability is not guaranteed on that path). It is opt-in
 * (`readOnly: true`); the default ordered path is linearizable and is what the checkers verify.
 */
import { parseReply, verifyReply, makeRequest, withMacs, type Limits } from './messages.js';
import { primaryOf, quorums, type Quorums } from './quorum.js';
import type { Authenticator, ClientAction, ClientEvent, ClientId, ReplicaId, SignedRequest } from './types.js';

export interface ClientOptions {
  id: ClientId;
  n: number;
  f?: number;
  auth: Authenticator;
  /** first timestamp to use; must exceed every timestamp this client id used before */
  startTimestamp: number;
  initialView?: number;
  retransmitTimeoutMs: number;
  maxRetransmitTimeoutMs: number;
  maxOpBytes?: number;
}

interface Outstanding {
  req: SignedRequest;
  readOnly: boolean;
  /** replica -> result string, for this timestamp */
  replies: Map<ReplicaId, { result: string; view: number; tentative: boolean }>;
  timeoutMs: number;
  attempts: number;
}

export class ClientCore {
  readonly id: ClientId;
  private readonly q: Quorums;
  private readonly auth: Authenticator;
  private readonly limits: Limits;
  private nextTimestamp: number;
  private currentView: number;
  private outstanding: Outstanding | null = null;
  private readonly baseTimeoutMs: number;
  private readonly maxTimeoutMs: number;
  /** replies dropped, by reason (bad-mac, bad-signature, stale, malformed, wrong-sender) */
  readonly dropped: Record<string, number> = {};

  constructor(o: ClientOptions) {
    this.id = o.id;
    this.q = quorums(o.n, o.f);
    this.auth = o.auth;
    this.nextTimestamp = o.startTimestamp;
    this.currentView = o.initialView ?? 0;
    this.baseTimeoutMs = o.retransmitTimeoutMs;
    this.maxTimeoutMs = o.maxRetransmitTimeoutMs;
    this.limits = { n: o.n, maxBatchSize: 1, maxOpBytes: o.maxOpBytes ?? 1 << 20, maxEntries: 0, maxSnapshotBytes: 0 };
  }

  get view(): number {
    return this.currentView;
  }
  get busy(): boolean {
    return this.outstanding !== null;
  }
  get pendingTimestamp(): number | null {
    return this.outstanding?.req.body.timestamp ?? null;
  }

  /** Issue one operation. One request at a time per client (closed loop), as in the paper. */
  submit(op: string, opts: { readOnly?: boolean } = {}): ClientAction[] {
    if (this.outstanding) throw new Error(`client ${this.id} already has a request outstanding`);
    const readOnly = opts.readOnly ?? false;
    const req = makeRequest(this.auth, this.id, this.nextTimestamp++, op, readOnly);
    this.outstanding = { req, readOnly, replies: new Map(), timeoutMs: this.baseTimeoutMs, attempts: 1 };
    const msg = withMacs(this.auth, req);
    const first: ClientAction = readOnly ? { type: 'broadcast', msg } : { type: 'send', to: primaryOf(this.currentView, this.q.n), msg };
    return [
      { type: 'log', event: { phase: 'request', view: this.currentView, client: this.id, timestamp: req.body.timestamp } },
      first,
      { type: 'setTimer', name: 'retransmit', afterMs: this.baseTimeoutMs },
    ];
  }

  /** Give up on the outstanding request (the driver's deadline passed). */
  abandon(): ClientAction[] {
    if (!this.outstanding) return [];
    this.outstanding = null;
    return [{ type: 'cancelTimer', name: 'retransmit' }];
  }

  step(ev: ClientEvent): ClientAction[] {
    if (ev.type === 'timer') return this.onRetransmitTimer();
    return this.onReply(ev.from, ev.msg);
  }

  private drop(reason: string): ClientAction[] {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    return [];
  }

  private onReply(from: ReplicaId, raw: unknown): ClientAction[] {
    const parsed = parseReply(raw, this.limits);
    if (!parsed.ok) return this.drop('malformed');
    const rep = parsed.msg;
    const o = this.outstanding;
    if (!o || rep.body.client !== this.id || rep.body.timestamp !== o.req.body.timestamp) return this.drop('stale');
    if (rep.body.replica !== from) return this.drop('wrong-sender');
    // a session MAC (verified with this client's key for that replica) or a signature
    const verdict = verifyReply(this.auth, rep);
    if (verdict !== 'ok') return this.drop(verdict);
    // A tentative reply only counts for a read-only request.
    if (rep.body.tentative && !o.readOnly) return this.drop('stale');
    o.replies.set(from, { result: rep.body.result, view: rep.body.view, tentative: rep.body.tentative });

    // Count matching results, separately for tentative and final replies.
    const tally = new Map<string, ReplicaId[]>();
    for (const [r, v] of o.replies) {
      const k = (v.tentative ? 't:' : 'f:') + v.result;
      const list = tally.get(k) ?? [];
      list.push(r);
      tally.set(k, list);
    }
    for (const [k, replicas] of tally) {
      const tentative = k.startsWith('t:');
      const needed = tentative ? this.q.quorum : this.q.weak;
      if (replicas.length >= needed) {
        replicas.sort((a, b) => a - b);
        // learn the view: the highest view among the replicas in the quorum (f+1 vouch for it)
        const views = replicas.map((r) => o.replies.get(r)!.view).sort((a, b) => b - a);
        const view = views[Math.min(this.q.f, views.length - 1)]!;
        if (view > this.currentView) this.currentView = view;
        this.outstanding = null;
        return [
          { type: 'cancelTimer', name: 'retransmit' },
          {
            type: 'done',
            outcome: { timestamp: o.req.body.timestamp, result: k.slice(2), replicas, view: this.currentView },
          },
        ];
      }
    }
    // A read-only request that cannot reach 2f+1 matching tentative replies any more is
    // retried as read-write.
    if (o.readOnly) {
      const tentativeCount = [...o.replies.values()].filter((v) => v.tentative).length;
      let best = 0;
      for (const [k, rs] of tally) if (k.startsWith('t:')) best = Math.max(best, rs.length);
      if (best + (this.q.n - tentativeCount) < this.q.quorum) return this.fallBackToReadWrite();
    }
    return [];
  }

  private fallBackToReadWrite(): ClientAction[] {
    const o = this.outstanding!;
    const req = makeRequest(this.auth, this.id, this.nextTimestamp++, o.req.body.op, false);
    this.outstanding = { req, readOnly: false, replies: new Map(), timeoutMs: this.baseTimeoutMs, attempts: o.attempts + 1 };
    return [
      { type: 'send', to: primaryOf(this.currentView, this.q.n), msg: withMacs(this.auth, req) },
      { type: 'setTimer', name: 'retransmit', afterMs: this.baseTimeoutMs },
    ];
  }

  private onRetransmitTimer(): ClientAction[] {
    const o = this.outstanding;
    if (!o) return [];
    if (o.readOnly) return this.fallBackToReadWrite();
    o.attempts++;
    o.timeoutMs = Math.min(o.timeoutMs * 2, this.maxTimeoutMs);
    return [
      {
        type: 'log',
        event: { phase: 'request', view: this.currentView, client: this.id, timestamp: o.req.body.timestamp, detail: `retransmit #${o.attempts - 1} to all` },
      },
      // a fresh MAC authenticator: session keys change when connections are re-made
      { type: 'broadcast', msg: withMacs(this.auth, o.req) },
      { type: 'setTimer', name: 'retransmit', afterMs: o.timeoutMs },
    ];
  }
}
