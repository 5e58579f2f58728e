/**
 * Injected network faults on one replica (issues 4 and 9), applied by the replica itself to what
 * it sends and receives. Two kinds of link: to the other replicas (protocol messages) and to
 * clients (requests in, replies out).
 * - isolate: everything dropped, both kinds;
 * - partition: cut from a set of peers, and/or from every client (`clients`);
 * - delay (with jitter) and drop (a random fraction): on both kinds, or one (`link`);
 * - heal: lift them all, or (with peers / clients) only that partition.
 */
import type { ReplicaId } from '../core/types.js';
import type { NetFaultState } from './admin.js';
import type { AdminCommand, NetLink } from './wire.js';

export type NetDecision = { drop: true; reason: 'isolated' | 'partitioned' | 'dropped' } | { drop: false; delayMs: number };

interface LinkFault {
  delayMs: number;
  jitterMs: number;
  dropRate: number;
}

const healthyLink = (): LinkFault => ({ delayMs: 0, jitterMs: 0, dropRate: 0 });
const linkHealthy = (l: LinkFault) => l.delayMs === 0 && l.jitterMs === 0 && l.dropRate === 0;

export class NetFaults {
  isolated = false;
  partitioned = new Set<ReplicaId>();
  /** cut from every client: requests dropped on arrival, replies never sent */
  clientsCut = false;
  readonly replicaLink: LinkFault = healthyLink();
  readonly clientLink: LinkFault = healthyLink();

  constructor(private readonly random: () => number = Math.random) {}

  get healthy(): boolean {
    return !this.isolated && this.partitioned.size === 0 && !this.clientsCut && linkHealthy(this.replicaLink) && linkHealthy(this.clientLink);
  }

  private links(link: NetLink | undefined): LinkFault[] {
    return link === 'replicas' ? [this.replicaLink] : link === 'clients' ? [this.clientLink] : [this.replicaLink, this.clientLink];
  }

  apply(cmd: Extract<AdminCommand, { kind: 'net' }>): void {
    switch (cmd.action) {
      case 'isolate':
        this.isolated = true;
        break;
      case 'partition':
        for (const p of cmd.peers ?? []) this.partitioned.add(p);
        if (cmd.clients) this.clientsCut = true;
        break;
      case 'delay':
        for (const l of this.links(cmd.link)) {
          l.delayMs = cmd.ms ?? 0;
          l.jitterMs = cmd.jitterMs ?? 0;
        }
        break;
      case 'drop':
        for (const l of this.links(cmd.link)) l.dropRate = cmd.rate ?? 0;
        break;
      case 'heal':
        if (cmd.peers?.length || cmd.clients) {
          for (const p of cmd.peers ?? []) this.partitioned.delete(p);
          if (cmd.clients) this.clientsCut = false;
        } else this.clear();
        break;
    }
  }

  clear(): void {
    this.isolated = false;
    this.partitioned.clear();
    this.clientsCut = false;
    Object.assign(this.replicaLink, healthyLink());
    Object.assign(this.clientLink, healthyLink());
  }

  /** For a replica message to or from `peer`. */
  decide(peer: ReplicaId): NetDecision {
    if (this.isolated) return { drop: true, reason: 'isolated' };
    if (this.partitioned.has(peer)) return { drop: true, reason: 'partitioned' };
    return this.common(this.replicaLink);
  }

  /** For client traffic: a request arriving, or a reply leaving. */
  decideClient(): NetDecision {
    if (this.isolated) return { drop: true, reason: 'isolated' };
    if (this.clientsCut) return { drop: true, reason: 'partitioned' };
    return this.common(this.clientLink);
  }

  private common(l: LinkFault): NetDecision {
    if (l.dropRate > 0 && this.random() < l.dropRate) return { drop: true, reason: 'dropped' };
    if (l.delayMs === 0 && l.jitterMs === 0) return { drop: false, delayMs: 0 };
    const j = l.jitterMs ? (this.random() * 2 - 1) * l.jitterMs : 0;
    return { drop: false, delayMs: Math.max(0, Math.round(l.delayMs + j)) };
  }

  state(): NetFaultState {
    return {
      isolated: this.isolated,
      partitionedFrom: [...this.partitioned].sort((a, b) => a - b),
      delayMs: this.replicaLink.delayMs,
      jitterMs: this.replicaLink.jitterMs,
      dropRate: this.replicaLink.dropRate,
      clients: { partitioned: this.clientsCut, ...this.clientLink },
    };
  }

  describe(): string[] {
    const out: string[] = [];
    if (this.isolated) out.push('isolate');
    if (this.partitioned.size) out.push(`partition from ${[...this.partitioned].sort((a, b) => a - b).join(',')}`);
    if (this.clientsCut) out.push('partition from clients');
    const r = this.replicaLink;
    const c = this.clientLink;
    const same = r.delayMs === c.delayMs && r.jitterMs === c.jitterMs && r.dropRate === c.dropRate;
    const describeLink = (l: LinkFault, on: string) => {
      if (l.delayMs || l.jitterMs) out.push(`delay ${l.delayMs}ms${l.jitterMs ? ` ±${l.jitterMs}ms` : ''}${on}`);
      if (l.dropRate) out.push(`drop ${l.dropRate}${on}`);
    };
    if (same) describeLink(r, '');
    else {
      describeLink(r, ' (replica links)');
      describeLink(c, ' (client links)');
    }
    return out;
  }
}
