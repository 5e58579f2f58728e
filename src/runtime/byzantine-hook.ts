/**
 * The seam between the replica runtime and the Byzantine strategy catalogue (src/byzantine),
 * which the simulator shares: the runtime only needs set / filterEvent / transform.
 */
import type { Authenticator, ProtocolParams, ReplicaAction, ReplicaEvent, ReplicaId } from '../core/types.js';
import { ByzantineLayer, parseStrategyName, type CorruptibleApp } from '../byzantine/index.js';

export interface ByzantineHooks {
  /** the strategy in force, null when honest */
  readonly strategy: string | null;
  /** what the strategy did so far, by kind */
  readonly counters: Readonly<Record<string, number>>;
  /** switch strategy (null = honest); throws on an unknown name, listing the known ones */
  set(name: string | null): void;
  /** inbound filter: null drops the event */
  filterEvent(ev: ReplicaEvent): ReplicaEvent | null;
  /** outbound transform of one core output */
  transform(actions: ReplicaAction[]): ReplicaAction[];
}

export interface ByzantineContext {
  id: ReplicaId;
  params: ProtocolParams;
  auth: Authenticator;
  rng: () => number;
}

/** The shared ByzantineLayer: honest until set() names a strategy. */
export function makeByzantine(ctx: ByzantineContext, app: CorruptibleApp): ByzantineHooks {
  return byzantineHooks(new ByzantineLayer(ctx, app));
}

/** The hooks of a given layer (the simulator keeps one layer per replica across restarts). */
export function byzantineHooks(layer: ByzantineLayer): ByzantineHooks {
  return {
    get strategy() {
      return layer.current;
    },
    get counters() {
      return layer.counters;
    },
    set: (name) => layer.set(name === null ? null : parseStrategyName(name)),
    filterEvent: (ev) => layer.filterEvent(ev),
    transform: (actions) => layer.transform(actions),
  };
}
