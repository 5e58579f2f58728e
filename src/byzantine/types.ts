/**
 * The Byzantine strategy catalogue: shared types. A strategy wraps an HONEST core: it filters
 * the events the core sees and transforms the actions the core returns (drop, alter and re-sign
 * with the replica's own key, add messages). It never holds another replica's key, so in the
 * simulator (where the `sim` scheme models unforgeable signatures) it can lie only as a real
 * Byzantine replica could.
 */
import type { Authenticator, ProtocolParams, ReplicaAction, ReplicaEvent, ReplicaId } from '../core/types.js';
import type { CorruptibleApp } from './app.js';

export type StrategyName =
  | 'silent'
  | 'equivocate'
  | 'conflicting-votes'
  | 'forged-view-change'
  | 'replay'
  | 'wrong-reply'
  | 'corrupt-state'
  | 'garbage'
  | 'fuzz'
  | 'bad-macs';

export const STRATEGY_NAMES: readonly StrategyName[] = [
  'silent',
  'equivocate',
  'conflicting-votes',
  'forged-view-change',
  'replay',
  'wrong-reply',
  'corrupt-state',
  'garbage',
  'fuzz',
  'bad-macs',
];

export const STRATEGY_DESCRIPTIONS: Record<StrategyName, string> = {
  silent: 'sends nothing: drops every message and reply (keeps listening, so it resumes at once when cleared)',
  equivocate:
    'as primary, sends conflicting validly-signed pre-prepares for one (view, seq) to different backups, some with a digest that does not match the batch',
  'conflicting-votes': 'its prepares and commits carry wrong digests (re-signed), and it sends commits for things it never prepared',
  'forged-view-change': 'view-changes with forged prepared certificates and stale or forged checkpoints; as new primary, a new-view whose O does not match V',
  replay: 'records messages and replies it saw or sent and re-sends old ones at random later',
  'wrong-reply': 'replies to clients with wrong results, correctly signed by itself',
  'corrupt-state': 'its application state silently diverges (on activation, then now and then); the honest core must repair it by state transfer',
  garbage: 'alongside normal behaviour, sends malformed messages: wrong types, missing fields, huge numbers, bad signatures, non-member ids, forged requests',
  'bad-macs':
    "sends replies with bad MACs to some clients, and corrupts other replicas' entries of the MAC authenticators in the pre-prepares it proposes and the requests it forwards",
  fuzz: 'a seeded structure-aware fuzzer (after ByzzFuzz): pools real messages and certificates, builds well-formed messages of every type from them at the window edges and far future, with sets edited (repeated, omitted, reordered, stale entries), mutates its own messages a little and equivocates along partitions; colludes with the other Byzantine replicas of a simulated run',
};

export function isStrategyName(s: unknown): s is StrategyName {
  return typeof s === 'string' && (STRATEGY_NAMES as readonly string[]).includes(s);
}

export type ByzantineErrorCode = 'unknown-strategy' | 'needs-app';

export class ByzantineError extends Error {
  constructor(
    readonly code: ByzantineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ByzantineError';
  }
}

/** Parse a strategy name from outside (CLI, control channel); throws ByzantineError('unknown-strategy'). */
export function parseStrategyName(s: unknown): StrategyName {
  if (isStrategyName(s)) return s;
  throw new ByzantineError('unknown-strategy', `unknown Byzantine strategy ${JSON.stringify(s)?.slice(0, 60)}; known: ${STRATEGY_NAMES.join(', ')}`);
}

/** Another Byzantine replica of the same run, with its key: colluding strategies may sign as it. */
export interface Colluder {
  id: ReplicaId;
  auth: Authenticator;
}

export interface StrategyContext {
  id: ReplicaId;
  params: ProtocolParams;
  /** this replica's own key (and verification of others) */
  auth: Authenticator;
  /** seeded, [0, 1) */
  rng: () => number;
  /** the replica's application wrapper; needed by `corrupt-state` (ByzantineLayer supplies it) */
  app?: CorruptibleApp;
  /**
   * Collusion (the simulator supplies it; real replicas have none): the OTHER Byzantine replicas
   * of this run and their keys. Up to f replicas may be faulty together, and faulty replicas
   * may share keys, so signing as a colluder is a power a real adversary has.
   */
  colluders?: readonly Colluder[];
  /**
   * One blackboard shared by the strategies of all Byzantine replicas of a run (the same Map
   * object in every context); each strategy keeps its entry under its own key (`fuzz/pool`).
   */
  shared?: Map<string, unknown>;
}

export interface ByzantineStrategy {
  readonly name: StrategyName;
  /** inbound filter (null = drop) */
  onEvent?(ev: ReplicaEvent): ReplicaEvent | null;
  /** outbound transform: drop, alter + re-sign, add messages. Never mutates its input. */
  onActions(actions: ReplicaAction[]): ReplicaAction[];
  /** called once when the strategy is switched on (ByzantineLayer.set does it) */
  activate?(): void;
  /** what it did, by kind (for status, logs and tests) */
  readonly counters: Readonly<Record<string, number>>;
}
