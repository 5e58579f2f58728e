/**
 * The seam between the replica runtime and the Byzantine strategy catalogue (src/byzantine),
 * which the simulator shares: the runtime only needs set / filterEvent / transform.
 */
import type { ProtocolParams, ReplicaAction, ReplicaEvent, ReplicaId, Authenticator } from '../core/types.js';
import type { CorruptibleApp } from '../byzantine/app.js';

export interface ByzantineHooks {
  /** the strategy in force, null when honest */
  readonly strategy: string | null;
  /** switch strategy (null = honest); throws on an unknown name */
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

/** Honest pass-through, used until the shared ByzantineLayer is wired in. */
export function makeByzantine(_ctx: ByzantineContext, _app: CorruptibleApp): ByzantineHooks {
  return {
    strategy: null,
    set(name) {
      if (name !== null) throw new Error(`Byzantine strategies are not available in this build (asked for ${JSON.stringify(name)})`);
    },
    filterEvent: (ev) => ev,
    transform: (a) => a,
  };
}
