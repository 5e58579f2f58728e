/** PBFT replica core: WORK IN PROGRESS (API fixed; implementation landing next). */
import type { Application, Authenticator, PersistRecord, ProtocolParams, ReplicaAction, ReplicaEvent, ReplicaId, ReplicaStatus } from './types.js';
import { maxFaulty } from './quorum.js';

/** Deliberately broken behaviours, for proving the checkers can fail. Never in production. */
export type BugName = 'commit-on-2f' | 'new-view-lowest-view' | 'skip-pre-prepare-digest-check' | 'execute-out-of-order';

export interface ReplicaOptions {
  id: ReplicaId;
  params: ProtocolParams;
  auth: Authenticator;
  app: Application;
  /** durable records from a previous life, in the order they were persisted */
  persisted?: PersistRecord[];
  bugs?: Partial<Record<BugName, boolean>>;
}

export function defaultParams(n: number, overrides: Partial<ProtocolParams> = {}): ProtocolParams {
  return {
    n,
    f: maxFaulty(n),
    checkpointInterval: 16,
    logWindow: 64,
    maxBatchSize: 32,
    maxInFlight: 8,
    viewChangeTimeoutMs: 1000,
    maxViewChangeTimeoutMs: 16000,
    statusIntervalMs: 250,
    maxOpBytes: 64 * 1024,
    ...overrides,
  };
}

export class Replica {
  constructor(readonly opts: ReplicaOptions) {}
  start(): ReplicaAction[] { throw new Error('not implemented yet'); }
  step(_ev: ReplicaEvent): ReplicaAction[] { throw new Error('not implemented yet'); }
  status(): ReplicaStatus { throw new Error('not implemented yet'); }
}

export function compactRecords(records: PersistRecord[]): PersistRecord[] { return records; }
