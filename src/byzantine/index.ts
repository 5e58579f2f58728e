/**
 * The Byzantine strategy catalogue, shared by the simulator and the real runtime.
 *
 * A driver holds one `ByzantineLayer` per replica, around an honest core and a `CorruptibleApp`:
 *
 *   const app = new CorruptibleApp(new KvStore(), rng);
 *   const layer = new ByzantineLayer({ id, params, auth, rng }, app);
 *   const replica = new Replica({ id, params, auth, app, ... });
 *   // for each event:  const ev2 = layer.filterEvent(ev); if (ev2) perform(layer.transform(replica.step(ev2)));
 *   // at start:        perform(layer.transform(replica.start()));
 *   layer.set('equivocate');   // switch on at any time (pbft fault R byzantine equivocate)
 *   layer.set(null);           // honest again (pbft fault R clear)
 *
 * With no strategy set, the layer passes events and actions through untouched.
 */
import type { ReplicaAction, ReplicaEvent } from '../core/types.js';
import type { CorruptibleApp } from './app.js';
import { Equivocate, ConflictingVotes } from './strategies/equivocate.js';
import { Fuzz } from './strategies/fuzz.js';
import { BadMacs } from './strategies/bad-macs.js';
import { Garbage } from './strategies/garbage.js';
import { CorruptState, Replay, Silent, WrongReply } from './strategies/simple.js';
import { ForgedViewChange } from './strategies/view-change.js';
import { ByzantineError, isStrategyName, type ByzantineStrategy, type StrategyContext, type StrategyName } from './types.js';

export { CorruptibleApp, type Corruptible } from './app.js';
export {
  STRATEGY_NAMES,
  STRATEGY_DESCRIPTIONS,
  ByzantineError,
  isStrategyName,
  parseStrategyName,
  type ByzantineErrorCode,
  type ByzantineStrategy,
  type Colluder,
  type StrategyContext,
  type StrategyName,
} from './types.js';
export { Silent, WrongReply, CorruptState, Replay, wrongResult } from './strategies/simple.js';
export { Equivocate, ConflictingVotes, type EquivocationVariant } from './strategies/equivocate.js';
export { ForgedViewChange, type ViewChangeForgery, type NewViewForgery } from './strategies/view-change.js';
export { Garbage, GARBAGE_KINDS, type GarbageKind } from './strategies/garbage.js';
export { BadMacs, isBadMacsVictim } from './strategies/bad-macs.js';
export {
  Fuzz,
  FuzzPool,
  Bag,
  editSet,
  FUZZ_GENERATORS,
  FUZZ_POOL_KEY,
  FUZZ_POOL_LIMITS,
  type FuzzGenerator,
  type Outgoing,
  type SeqClass,
  type SetEdit,
} from './strategies/fuzz.js';

/**
 * A fresh strategy instance. `corrupt-state` needs `ctx.app` (ByzantineError 'needs-app'
 * otherwise) and corrupts only when activated: call `activate()` (ByzantineLayer.set does).
 */
export function createStrategy(name: StrategyName, ctx: StrategyContext): ByzantineStrategy {
  switch (name) {
    case 'silent':
      return new Silent(ctx);
    case 'equivocate':
      return new Equivocate(ctx);
    case 'conflicting-votes':
      return new ConflictingVotes(ctx);
    case 'forged-view-change':
      return new ForgedViewChange(ctx);
    case 'replay':
      return new Replay(ctx);
    case 'wrong-reply':
      return new WrongReply(ctx);
    case 'corrupt-state':
      return new CorruptState(ctx);
    case 'garbage':
      return new Garbage(ctx);
    case 'fuzz':
      return new Fuzz(ctx);
    case 'bad-macs':
      return new BadMacs(ctx);
    default:
      throw new ByzantineError('unknown-strategy', `unknown Byzantine strategy ${JSON.stringify(name)}`);
  }
}

/** What a driver holds per replica: the app wrapper and the current strategy (null = honest). */
export class ByzantineLayer {
  private strategy: ByzantineStrategy | null = null;

  constructor(
    private readonly ctx: StrategyContext,
    readonly app: CorruptibleApp,
  ) {}

  get current(): StrategyName | null {
    return this.strategy?.name ?? null;
  }

  /** what the current strategy did so far, by kind ({} when honest) */
  get counters(): Readonly<Record<string, number>> {
    return this.strategy?.counters ?? {};
  }

  /**
   * Switch to a strategy (a fresh instance, activated at once) or back to honest (null).
   * Throws ByzantineError('unknown-strategy') for a name not in STRATEGY_NAMES. Clearing does
   * not undo a corrupted state: the honest core repairs it at its next checkpoint.
   */
  set(name: StrategyName | null): void {
    if (name !== null && !isStrategyName(name)) throw new ByzantineError('unknown-strategy', `unknown Byzantine strategy ${JSON.stringify(name)}`);
    this.strategy = name === null ? null : createStrategy(name, { ...this.ctx, app: this.app });
    this.strategy?.activate?.();
  }

  /** inbound: the event the core should see, or null to drop it */
  filterEvent(ev: ReplicaEvent): ReplicaEvent | null {
    const s = this.strategy;
    return s?.onEvent ? s.onEvent(ev) : ev;
  }

  /** outbound: the actions the driver should carry out instead of the core's */
  transform(actions: ReplicaAction[]): ReplicaAction[] {
    return this.strategy ? this.strategy.onActions(actions) : actions;
  }
}
