/**
 * The admin/control channel on a replica's port (hello role 'admin').
 *
 * - `status` needs no authentication: it is read-only.
 * - Operator commands (fault injection, issue 4) are signed with the operator key
 *   (keys/operator.key) over {type:'admin', cluster, replica, nonce, timestampMs, command}. A replica
 *   refuses a command that is unsigned, signed by another key, meant for another replica or
 *   cluster, outside the time window, or replayed (it remembers the nonces of the window).
 */
import { randomBytes } from 'node:crypto';
import { canonicalBytes } from '../core/canonical.js';
import type { ReplicaId, ReplicaStatus } from '../core/types.js';
import { PbftError, abortError } from '../errors.js';
import { readOperatorSecret, replicaEntry, type LoadedCluster } from './config.js';
import { Link } from './link.js';
import { NONCE_RE, SIG_RE, parseAdminCommand, type AdminCommand, type AdminCommandBody, type SignedAdminCommand } from './wire.js';

export type { AdminCommand, SignedAdminCommand, NetAction } from './wire.js';

export interface NetFaultState {
  isolated: boolean;
  partitionedFrom: ReplicaId[];
  /** delay, jitter and drop rate on the links to the other replicas */
  delayMs: number;
  jitterMs: number;
  dropRate: number;
  /** the links to clients: cut from all of them, and their own delay, jitter and drop rate */
  clients: { partitioned: boolean; delayMs: number; jitterMs: number; dropRate: number };
}

export interface FaultState {
  /** fault commands accepted on this replica */
  enabled: boolean;
  byzantine: string | null;
  /** what the Byzantine strategy in force did so far, by kind */
  byzantineCounters: Record<string, number>;
  net: NetFaultState;
  /** the faults in force, human-readable, e.g. ["isolate", "byzantine equivocate"]; [] when healthy */
  active: string[];
}

export type RuntimeStatus = ReplicaStatus & {
  pid: number;
  host: string;
  port: number;
  /** listening and connected to a quorum at least once */
  ready: boolean;
  /** ms since the epoch */
  startedAt: number;
  uptimeMs: number;
  /** peers this replica's outbound links are connected to */
  connectedPeers: ReplicaId[];
  /** peers with an authenticated connection to this replica */
  inboundPeers: ReplicaId[];
  /** client ids with a connection (their own, or attached to a shared one) */
  clients: number;
  /** shared client connections (many clients of one process on one connection), and the clients attached to them */
  sharedClientConnections?: { connections: number; clients: number };
  faults: FaultState;
  /** frames dropped by the transport, by reason (oversized, malformed, bad hello, ...) */
  transportDropped: Record<string, number>;
  /** messages dropped by the runtime: injected network faults, overload */
  runtimeDropped: Record<string, number>;
  /** the durable log: bytes and records in its segment files, commits, segments started at a checkpoint (compactions), segments now, segments deleted */
  wal: { bytes: number; records: number; appends: number; compactions: number; segments?: number; deletedSegments?: number };
  /**
   * The event loop's pipeline (to tell a busy or stuck replica from an idle one): events queued
   * for the core, batches of effects waiting for their durable-log frame, whether a durable-log
   * commit or a ledger write is in flight, and whether a batch waits for the ledger
   */
  pipeline?: { queued: number; waitingBatches: number; walSyncing: boolean; ledgerWriting: boolean; heldForLedger: boolean };
  /** the audit ledger: bytes and segment files on disk, writes, the highest executed seq it holds, segments deleted by retention */
  ledger?: { bytes: number; segments: number; writes: number; lastSeq: number; deletedSegments: number };
  traffic: { framesIn: number; framesOut: number; bytesIn: number; bytesOut: number };
  /** the loopback port of its Prometheus /metrics and /healthz, when serving them */
  metricsPort?: number;
  /** pre-prepares this replica sent as primary (each (view, seq) once), the requests they carried, the largest batch */
  batching?: { prePrepares: number; requests: number; max: number };
  /** CPU time this process used since it started (process.cpuUsage) */
  cpu?: { userMs: number; systemMs: number };
};

export interface AdminResult {
  replica: ReplicaId;
  /** faults in force after the command */
  faults: FaultState;
  message: string;
}

// ---------------------------------------------------------------------------------------
// Signing and verification
// ---------------------------------------------------------------------------------------

export const ADMIN_WINDOW_MS = 60_000;

export function signAdminCommand(
  cluster: LoadedCluster,
  replica: ReplicaId,
  command: AdminCommand,
  operatorSecret: string,
  nowMs = Date.now(),
): SignedAdminCommand {
  const body: AdminCommandBody = {
    type: 'admin',
    cluster: cluster.config.name,
    replica,
    nonce: randomBytes(32).toString('hex'),
    timestampMs: nowMs,
    command,
  };
  return { body, sig: cluster.scheme.sign(operatorSecret, canonicalBytes(body)) };
}

/** Replica side: checks signature, target, window and replay. */
export class AdminGate {
  private readonly seen = new Map<string, number>();
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly maxNonces: number;

  constructor(
    private readonly cluster: LoadedCluster,
    private readonly id: ReplicaId,
    o: { windowMs?: number; now?: () => number; maxNonces?: number } = {},
  ) {
    this.windowMs = o.windowMs ?? ADMIN_WINDOW_MS;
    this.now = o.now ?? Date.now;
    this.maxNonces = o.maxNonces ?? 100_000;
  }

  verify(raw: unknown): { ok: true; command: AdminCommand } | { ok: false; error: string } {
    const bad = (error: string) => ({ ok: false as const, error });
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('command is not signed (expected {body, sig})');
    const o = raw as Record<string, unknown>;
    if (typeof o.sig !== 'string' || !SIG_RE.test(o.sig)) return bad('command is not signed');
    const b = o.body as Record<string, unknown> | null;
    if (typeof b !== 'object' || b === null || Array.isArray(b)) return bad('command has no body');
    const keys = Object.keys(b).sort().join(',');
    if (keys !== 'cluster,command,nonce,replica,timestampMs,type' || b.type !== 'admin') return bad('command body is malformed');
    if (b.cluster !== this.cluster.config.name) return bad(`command is for cluster "${String(b.cluster).slice(0, 64)}", not "${this.cluster.config.name}"`);
    if (b.replica !== this.id) return bad(`command is for replica ${String(b.replica).slice(0, 16)}, not ${this.id}`);
    if (typeof b.nonce !== 'string' || !NONCE_RE.test(b.nonce)) return bad('command nonce is malformed');
    if (typeof b.timestampMs !== 'number' || !Number.isSafeInteger(b.timestampMs)) return bad('command timestamp is malformed');
    if (!this.cluster.scheme.verify(this.cluster.config.operator.publicKey, canonicalBytes(b), o.sig))
      return bad("command signature is not the operator's (signed with another key?); sign with this cluster's keys/operator.key");
    const now = this.now();
    if (Math.abs(now - b.timestampMs) > this.windowMs)
      return bad(
        `command timestamp is ${Math.round((now - b.timestampMs) / 1000)} s away from this replica's clock (window ${this.windowMs / 1000} s); resend it, and check the clocks`,
      );
    this.prune(now);
    if (this.seen.has(b.nonce)) return bad('command was already received (replayed)');
    if (this.seen.size >= this.maxNonces) return bad('too many commands in the time window; wait and retry');
    this.seen.set(b.nonce, b.timestampMs);
    const cmd = parseAdminCommand(b.command, this.cluster.config.replicas.length);
    if (typeof cmd === 'string') return bad(`invalid command: ${cmd}`);
    return { ok: true, command: cmd };
  }

  private prune(now: number): void {
    if (this.seen.size < 1024) return;
    for (const [nonce, ts] of this.seen) if (Math.abs(now - ts) > this.windowMs) this.seen.delete(nonce);
  }
}

// ---------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------

export interface AdminCallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

let ridCounter = 0;

/** One request/response exchange on an admin connection. */
async function adminCall(cluster: LoadedCluster, id: ReplicaId, frame: Record<string, unknown>, o: AdminCallOptions): Promise<Record<string, unknown>> {
  const entry = replicaEntry(cluster, id);
  const timeoutMs = o.timeoutMs ?? 3000;
  const where = `replica ${id} at ${entry.host}:${entry.port}`;
  if (o.signal?.aborted) throw abortError(o.signal);
  const rid = ++ridCounter;
  let settle!: { resolve: (f: Record<string, unknown>) => void; reject: (e: Error) => void };
  const answer = new Promise<Record<string, unknown>>((resolve, reject) => (settle = { resolve, reject }));
  let refused = '';
  const link = new Link({
    host: entry.host,
    port: entry.port,
    expectReplica: id,
    cluster: cluster.config.name,
    hello: () => ({ type: 'hello', role: 'admin' }),
    maxPayload: cluster.config.runtime.maxFrameBytes,
    heartbeatMs: 60_000,
    reconnect: false,
    reconnectMinMs: 1,
    reconnectMaxMs: 1,
    handshakeTimeoutMs: timeoutMs,
    maxQueue: 0,
    onFrame: (f) => {
      if (f.rid === rid) settle.resolve(f);
    },
    onRefused: (why) => {
      refused = why;
    },
  });
  const timer = setTimeout(
    () => settle.reject(new PbftError('TIMEOUT', `${where} did not answer within ${timeoutMs} ms; is it paused or overloaded? (pbft fault ${id} resume)`)),
    timeoutMs,
  );
  const onAbort = () => settle.reject(abortError(o.signal));
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race([
      link.whenOpen().catch((e: Error) => {
        const why = refused || e.message;
        const down = /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|closed/.test(why);
        throw new PbftError('UNREACHABLE', down ? `${where} is not reachable (${why}); is it running? start it with "pbft up ${id}"` : `${where}: ${why}`, {
          cause: e,
        });
      }),
      answer.then(() => undefined),
    ]);
    link.send(JSON.stringify({ ...frame, rid }));
    return await answer;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    link.close();
  }
}

/** Status of one replica (unauthenticated, read-only). */
export async function fetchStatus(cluster: LoadedCluster, id: ReplicaId, o: AdminCallOptions = {}): Promise<RuntimeStatus> {
  const f = await adminCall(cluster, id, { type: 'status' }, o);
  if (f.type !== 'status' || typeof f.status !== 'object' || f.status === null)
    throw new PbftError('UNREACHABLE', `replica ${id} answered the status query with something else`);
  return f.status as RuntimeStatus;
}

/** Sign `command` with the operator key and send it to replica `id`. Throws ADMIN_REFUSED. */
export async function sendAdminCommand(
  cluster: LoadedCluster,
  id: ReplicaId,
  command: AdminCommand,
  o: AdminCallOptions & { operatorSecret?: string } = {},
): Promise<AdminResult> {
  const secret = o.operatorSecret ?? (await readOperatorSecret(cluster));
  const signed = signAdminCommand(cluster, id, command, secret);
  return sendSignedAdminCommand(cluster, id, signed, o);
}

/** Send an already signed command (tests use this to replay or forge). */
export async function sendSignedAdminCommand(cluster: LoadedCluster, id: ReplicaId, signed: unknown, o: AdminCallOptions = {}): Promise<AdminResult> {
  const f = await adminCall(cluster, id, { type: 'command', command: signed }, o);
  if (f.type !== 'result') throw new PbftError('UNREACHABLE', `replica ${id} answered the command with something else`);
  if (f.ok !== true) throw new PbftError('ADMIN_REFUSED', `replica ${id} refused the command: ${typeof f.error === 'string' ? f.error : 'no reason given'}`);
  return f.result as AdminResult;
}
