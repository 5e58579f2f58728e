import { limitsFor, type Limits } from '../../core/messages.js';
import { primaryOf } from '../../core/quorum.js';
import type { PhaseEvent, ReplicaAction, ReplicaEvent, ReplicaId } from '../../core/types.js';
import type { ByzantineStrategy, StrategyContext, StrategyName } from '../types.js';
import { faultLog, ViewTracker } from '../util.js';

/** Common plumbing: counters, view tracking, fault log lines queued for the next output. */
export abstract class BaseStrategy implements ByzantineStrategy {
  abstract readonly name: StrategyName;
  readonly counters: Record<string, number> = {};
  protected readonly vt = new ViewTracker();
  protected readonly limits: Limits;
  private queued: ReplicaAction[] = [];

  constructor(protected readonly ctx: StrategyContext) {
    this.limits = limitsFor(ctx.params);
  }

  onEvent(ev: ReplicaEvent): ReplicaEvent | null {
    return ev;
  }

  onActions(actions: ReplicaAction[]): ReplicaAction[] {
    this.vt.observe(actions, this.ctx.id);
    const out = this.transform(actions);
    if (this.queued.length === 0) return out;
    const q = this.queued;
    this.queued = [];
    return [...q, ...out];
  }

  protected abstract transform(actions: ReplicaAction[]): ReplicaAction[];

  protected count(what: string, by = 1): void {
    this.counters[what] = (this.counters[what] ?? 0) + by;
  }

  /** a fault log line for the trace/merged log ('log' action, phase 'fault') */
  protected note(detail: string, extra: Partial<PhaseEvent> = {}): ReplicaAction {
    return faultLog(this.name, this.vt.view, detail, extra);
  }

  /** queue a fault log line to go out with the next output (e.g. from activate) */
  protected queueNote(detail: string, extra: Partial<PhaseEvent> = {}): void {
    this.queued.push(this.note(detail, extra));
  }

  protected get n(): number {
    return this.ctx.params.n;
  }
  protected get f(): number {
    return this.ctx.params.f;
  }
  protected primary(view: number): ReplicaId {
    return primaryOf(view, this.ctx.params.n);
  }
  protected others(): ReplicaId[] {
    const out: ReplicaId[] = [];
    for (let r = 0; r < this.n; r++) if (r !== this.ctx.id) out.push(r);
    return out;
  }
  protected rand(): number {
    return this.ctx.rng();
  }
}
