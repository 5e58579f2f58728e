/** silent, wrong-reply, corrupt-state and replay. */
import { canonicalJson } from '../../core/canonical.js';
import { makeReply, sign } from '../../core/messages.js';
import type { ReplicaAction, ReplicaEvent, ReplicaMessage, ReplyBody, SignedReply } from '../../core/types.js';
import type { CorruptibleApp } from '../app.js';
import { ByzantineError, type StrategyContext } from '../types.js';
import { pick, randInt, randomHex, Ring, signerOf, typeOf } from '../util.js';
import { BaseStrategy } from './base.js';

/** Sends nothing. Still listens (its core stays current, so clearing it resumes at once). */
export class Silent extends BaseStrategy {
  readonly name = 'silent' as const;
  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    const out: ReplicaAction[] = [];
    for (const a of actions) {
      if (a.type === 'send' || a.type === 'multicast' || a.type === 'reply') this.count(`dropped-${a.type}`);
      else out.push(a);
    }
    return out;
  }
}

/** A result that differs from `result`, shaped like it when it is a KV result. */
export function wrongResult(result: string, rng: () => number): string {
  const tag = randomHex(rng, 3);
  try {
    const v = JSON.parse(result) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && 'value' in v) {
      const cur = (v as { value: unknown }).value;
      const alt = cur === null || rng() < 0.5 ? `byzantine-${tag}` : null;
      const s = canonicalJson({ ...(v as object), value: alt });
      if (s !== result) return s;
    }
  } catch {
    /* not JSON: fall through */
  }
  const s = canonicalJson({ ok: true, value: `byzantine-${tag}` });
  return s !== result ? s : `${result} (byzantine)`;
}

/** Replies to clients with wrong results, correctly signed by itself. */
export class WrongReply extends BaseStrategy {
  readonly name = 'wrong-reply' as const;
  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    const out: ReplicaAction[] = [];
    let changed = 0;
    for (const a of actions) {
      if (a.type === 'reply' && a.msg.body.replica === this.ctx.id) {
        const body: ReplyBody = { ...a.msg.body, result: wrongResult(a.msg.body.result, this.ctx.rng) };
        // MAC'd under its session with the client when it has one, as an honest reply would be
        out.push({ type: 'reply', client: a.client, msg: a.msg.mac !== undefined ? makeReply(this.ctx.auth, body) : sign(this.ctx.auth, body) });
        changed++;
      } else out.push(a);
    }
    if (changed > 0) {
      this.count('wrong-replies', changed);
      out.push(this.note(`${changed} reply(ies) with a wrong result`));
    }
    return out;
  }
}

/**
 * Lets its application state silently diverge: once on activation, then with probability
 * 1/(2K) per executed batch. Its messages are honest; its honest core must notice at the next
 * checkpoint (its digest differs from the stable one) and repair itself by state transfer.
 */
export class CorruptState extends BaseStrategy {
  readonly name = 'corrupt-state' as const;
  private readonly app: CorruptibleApp;
  constructor(ctx: StrategyContext) {
    super(ctx);
    if (!ctx.app) throw new ByzantineError('needs-app', 'corrupt-state needs the replica CorruptibleApp (use ByzantineLayer, or pass ctx.app)');
    this.app = ctx.app;
  }
  activate(): void {
    this.corrupt('on activation');
  }
  private corrupt(why: string): void {
    const c = this.app.corruptNow();
    this.count('corruptions');
    this.queueNote(`state corrupted ${why}${c.key !== undefined ? `: key ${JSON.stringify(c.key)} := ${JSON.stringify(c.value)}` : ''}`);
  }
  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    const p = 1 / (2 * this.ctx.params.checkpointInterval);
    for (const a of actions) if (a.type === 'executed' && this.rand() < p) this.corrupt(`after executing seq ${a.seq}`);
    return actions;
  }
}

/**
 * Records messages it received or sent (and its replies) and re-sends old ones at random:
 * its own old messages (validly signed, stale views/seqs) and others' (relayed under its name).
 */
export class Replay extends BaseStrategy {
  readonly name = 'replay' as const;
  private readonly seen = new Ring<ReplicaMessage>(256);
  private readonly replies = new Ring<SignedReply>(64);

  override onEvent(ev: ReplicaEvent): ReplicaEvent | null {
    if (ev.type === 'message' && typeof ev.msg === 'object' && ev.msg !== null) {
      const t = typeOf(ev.msg);
      // state snapshots can be large: not worth keeping
      if (t !== undefined && t !== 'state') this.seen.push(ev.msg as ReplicaMessage);
    }
    return ev;
  }

  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    const out = actions.slice();
    const older = this.seen.size;
    for (const a of actions) {
      if ((a.type === 'send' || a.type === 'multicast') && typeOf(a.msg) !== 'state') this.seen.push(a.msg);
      else if (a.type === 'reply') this.replies.push(a.msg);
    }
    // replay only what was recorded before this output (so it really is old)
    if (older > 0 && this.rand() < 0.3) {
      const k = randInt(this.ctx.rng, 1, 3);
      const all = this.seen.all();
      const kinds: string[] = [];
      for (let i = 0; i < k; i++) {
        const m = all[Math.floor(this.rand() * older)]!;
        if (this.rand() < 0.5) out.push({ type: 'multicast', msg: m });
        else out.push({ type: 'send', to: pick(this.ctx.rng, this.others()), msg: m });
        const own = signerOf(m) === this.ctx.id;
        this.count(own ? 'replayed-own' : 'replayed-others');
        kinds.push(`${typeOf(m)}${own ? '' : ` of r${signerOf(m) ?? '?'}`}`);
      }
      out.push(this.note(`replayed ${kinds.join(', ')}`));
    }
    if (this.replies.size > 1 && this.rand() < 0.1) {
      const r = this.replies.pick(this.ctx.rng)!;
      out.push({ type: 'reply', client: r.body.client, msg: r });
      this.count('replayed-replies');
    }
    return out;
  }
}
