/**
 * bad-macs: a replica that lies about MACs (README, "Authentication"). It sends replies with bad
 * MACs to some clients (half of them, by a hash of the client id: isBadMacsVictim), and corrupts entries of the MAC
 * authenticators of the requests in the pre-prepares it proposes and the requests it forwards
 * (a random subset of the other replicas' entries: flipped, nulled or taken from another
 * request). The primary's signature covers the batch digest, which covers request bodies only,
 * so such a pre-prepare stays validly signed: the others must fall back to the client's
 * signature (or to 2f matching prepares), and clients must drop the bad replies.
 */
import { createHash } from 'node:crypto';
import type { ReplicaAction, SignedPrePrepare, SignedReply, SignedRequest } from '../../core/types.js';
import { randomHex } from '../util.js';
import { BaseStrategy } from './base.js';

/** Does a bad-macs replica send this client bad reply MACs? Half the clients: by a hash of the id. */
export function isBadMacsVictim(client: string): boolean {
  return (createHash('sha256').update(client).digest()[0]! & 1) === 0;
}

export class BadMacs extends BaseStrategy {
  readonly name = 'bad-macs' as const;
  /** per client: does it get bad reply MACs from us */
  private readonly victims = new Map<string, boolean>();

  private victim(client: string): boolean {
    let v = this.victims.get(client);
    if (v === undefined) {
      if (this.victims.size > 4096) this.victims.clear();
      v = isBadMacsVictim(client);
      this.victims.set(client, v);
    }
    return v;
  }

  private corruptRequest(r: SignedRequest): SignedRequest {
    if (!r.mac) return r;
    const mac = r.mac.map((m, i) => {
      if (i === this.ctx.id || this.ctx.rng() < 0.5) return m;
      const k = this.ctx.rng();
      return k < 0.4 ? randomHex(this.ctx.rng, 16) : k < 0.7 ? null : (r.mac![(i + 1) % r.mac!.length] ?? null);
    });
    return { ...r, mac };
  }

  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    const out: ReplicaAction[] = [];
    let replies = 0;
    let vectors = 0;
    for (const a of actions) {
      if (a.type === 'reply' && a.msg.mac !== undefined && this.victim(a.client)) {
        const m = a.msg.mac;
        const bad: SignedReply = { body: a.msg.body, mac: (m[0] === 'f' ? '0' : 'f') + m.slice(1) };
        out.push({ ...a, msg: bad });
        replies++;
        continue;
      }
      if ((a.type === 'multicast' || a.type === 'send') && a.msg.body.type === 'pre-prepare') {
        const pp = a.msg as SignedPrePrepare;
        if (pp.body.replica === this.ctx.id && pp.batch.some((r) => r.mac)) {
          out.push({ ...a, msg: { ...pp, batch: pp.batch.map((r) => this.corruptRequest(r)) } });
          vectors++;
          continue;
        }
      }
      if (a.type === 'send' && a.msg.body.type === 'request' && (a.msg as SignedRequest).mac) {
        out.push({ ...a, msg: this.corruptRequest(a.msg as SignedRequest) });
        vectors++;
        continue;
      }
      out.push(a);
    }
    if (replies > 0) this.count('bad-reply-macs', replies);
    if (vectors > 0) this.count('corrupted-mac-vectors', vectors);
    if (replies + vectors > 0) out.push(this.note(`${replies} reply(ies) with a bad MAC, ${vectors} message(s) with corrupted MAC authenticators`));
    return out;
  }
}
