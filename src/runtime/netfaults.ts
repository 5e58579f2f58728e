/**
 * Injected network faults on one replica (issue 4), applied by the replica itself to the
 * protocol messages it sends and receives: isolate (everything dropped, client traffic too),
 * partition from a set of peers, delay with jitter, random drop rate. `heal` lifts them all.
 */
import type { ReplicaId } from '../core/types.js';
import type { NetFaultState } from './admin.js';
import type { AdminCommand } from './wire.js';

export type NetDecision = { drop: true; reason: 'isolated' | 'partitioned' | 'dropped' } | { drop: false; delayMs: number };

export class NetFaults {
  isolated = false;
  partitioned = new Set<ReplicaId>();
  delayMs = 0;
  jitterMs = 0;
  dropRate = 0;

  constructor(private readonly random: () => number = Math.random) {}

  get healthy(): boolean {
    return !this.isolated && this.partitioned.size === 0 && this.delayMs === 0 && this.jitterMs === 0 && this.dropRate === 0;
  }

  apply(cmd: Extract<AdminCommand, { kind: 'net' }>): void {
    switch (cmd.action) {
      case 'isolate':
        this.isolated = true;
        break;
      case 'partition':
        for (const p of cmd.peers ?? []) this.partitioned.add(p);
        break;
      case 'delay':
        this.delayMs = cmd.ms ?? 0;
        this.jitterMs = cmd.jitterMs ?? 0;
        break;
      case 'drop':
        this.dropRate = cmd.rate ?? 0;
        break;
      case 'heal':
        if (cmd.peers?.length) for (const p of cmd.peers) this.partitioned.delete(p);
        else this.clear();
        break;
    }
  }

  clear(): void {
    this.isolated = false;
    this.partitioned.clear();
    this.delayMs = 0;
    this.jitterMs = 0;
    this.dropRate = 0;
  }

  /** For a replica message to or from `peer`. */
  decide(peer: ReplicaId): NetDecision {
    if (this.isolated) return { drop: true, reason: 'isolated' };
    if (this.partitioned.has(peer)) return { drop: true, reason: 'partitioned' };
    return this.common();
  }

  /** For client traffic: only isolation, drop rate and delay apply. */
  decideClient(): NetDecision {
    if (this.isolated) return { drop: true, reason: 'isolated' };
    return this.common();
  }

  private common(): NetDecision {
    if (this.dropRate > 0 && this.random() < this.dropRate) return { drop: true, reason: 'dropped' };
    if (this.delayMs === 0 && this.jitterMs === 0) return { drop: false, delayMs: 0 };
    const j = this.jitterMs ? (this.random() * 2 - 1) * this.jitterMs : 0;
    return { drop: false, delayMs: Math.max(0, Math.round(this.delayMs + j)) };
  }

  state(): NetFaultState {
    return {
      isolated: this.isolated,
      partitionedFrom: [...this.partitioned].sort((a, b) => a - b),
      delayMs: this.delayMs,
      jitterMs: this.jitterMs,
      dropRate: this.dropRate,
    };
  }

  describe(): string[] {
    const out: string[] = [];
    if (this.isolated) out.push('isolate');
    if (this.partitioned.size) out.push(`partition from ${[...this.partitioned].sort((a, b) => a - b).join(',')}`);
    if (this.delayMs || this.jitterMs) out.push(`delay ${this.delayMs}ms${this.jitterMs ? ` ±${this.jitterMs}ms` : ''}`);
    if (this.dropRate) out.push(`drop ${this.dropRate}`);
    return out;
  }
}
