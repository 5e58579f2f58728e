/**
 * ReplicaNode: the driver of one sans-I/O PBFT core, over injected I/O (src/runtime/node-io.ts).
 *
 * Loop: events (peer messages, client requests, timers) are queued and drained in one turn; the
 * persist records the core returned for that turn are written to the durable log as ONE frame
 * and made durable (asynchronously), and only then are the turn's messages, multicasts and
 * replies sent: persist-before-send, as a group commit (see commit()).
 * Timers are set on the clock by name (replaced on set; a fired timer is delivered only while
 * still set: timer generations).
 *
 * Around the core: a Byzantine layer (honest unless an operator says otherwise), a network
 * fault layer on inbound and outbound replica messages, the phase log, a status snapshot and
 * the admin channel. Nothing from outside can crash it: every handler is guarded and every
 * drop counted.
 *
 * Two assemblies of the same code: `ReplicaNode.start` (a replica process: ws transport,
 * segment-file durable log, setTimeout, the phase log file, admin and metrics) and
 * `ReplicaNode.simulated` (the simulator's node driver, the node driver in src/sim/simulator.ts with src/sim/simdisk.ts: simulated network,
 * disk and virtual clock; no admin, no metrics). Everything time-based or random comes from the
 * injected clock and entropy.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { KvStore } from '../app/kv.js';
import { compactRecords, isFullCheckpoint, Replica, type BugName } from '../core/replica.js';
import { requestDigest } from '../core/messages.js';
import { quorums } from '../core/quorum.js';
import type { Authenticator, PersistRecord, ProtocolParams, ReplicaAction, ReplicaEvent, ReplicaId, TimerName } from '../core/types.js';
import { KeyedAuthenticator } from '../crypto/index.js';
import { ReplicaSessions } from '../crypto/sessions.js';
import { PbftError, describeError } from '../errors.js';
import { messageJson, prePrepareJsonFor } from './record-json.js';
import { AdminGate, type FaultState, type RuntimeStatus } from './admin.js';
import { makeByzantine, type ByzantineHooks } from './byzantine-hook.js';
import { CorruptibleApp } from '../byzantine/index.js';
import { loadReplicaOverrides, readReplicaSecret, replicaEntry, type LoadedCluster, type ReplicaOverrides } from './config.js';
import { writeFileAtomicSync } from './fsutil.js';
import { NetFaults } from './netfaults.js';
import { PhaseLogWriter, type PhaseLine } from '../phaselog/index.js';
import { ReplicaMetrics } from './metrics.js';
import type { DurableLog } from './storage.js';
import { AuditLedger, type LedgerRecord } from './ledger.js';
import { LedgerFeed } from './ledger-feed.js';
import { ReplicaTransport } from './transport.js';
import { MAX_COALESCED_MESSAGES, replyFrame, type AdminCommand } from './wire.js';
import {
  FileStorage,
  realClock,
  realEntropy,
  type NodeClock,
  type NodeEntropy,
  type NodeLog,
  type NodeStorage,
  type NodeTransport,
  type PhaseSink,
  type TimerHandle,
} from './node-io.js';

export interface ReadyInfo {
  event: 'ready';
  replica: ReplicaId;
  pid: number;
  host: string;
  port: number;
  view: number;
  lastExecuted: number;
  connectedPeers: ReplicaId[];
}

export interface ReplicaNodeOptions {
  cluster: LoadedCluster;
  id: ReplicaId;
  /** false refuses every fault command (the --no-faults flag); default: cluster.json's setting */
  faultInjection?: boolean;
  /** called once, when listening and connected to a quorum */
  onReady?: (info: ReadyInfo) => void;
  /** the durable log failed after start: the replica must stop (it can no longer be safe) */
  onFatal?: (e: PbftError) => void;
  /** diagnostics (default: stderr) */
  log?: (line: string) => void;
  /** Byzantine layer factory (default: the shared catalogue, honest until told otherwise) */
  byzantine?: typeof makeByzantine;
  /** write the pid file (default true) */
  pidFile?: boolean;
}

/**
 * Deliberately broken nodes, to prove the simulator's node driver can catch a broken driver
 * (src/sim/broken-cores.ts). Never in production.
 */
export const NODE_BUG_DESCRIPTIONS = {
  'send-before-persist': "a turn's messages and replies go out as soon as the core returns them, before its records are durable",
} as const;
export type NodeBugName = keyof typeof NODE_BUG_DESCRIPTIONS;
export const NODE_BUG_NAMES: readonly NodeBugName[] = Object.keys(NODE_BUG_DESCRIPTIONS) as NodeBugName[];

/** What the simulator watches (the real runtime has none). */
export interface NodeObserver {
  /** the core is about to start; `recover` when the durable log was damaged (recovery mode) */
  starting?(info: { recover?: { timestamp: number; nonce: string }; records: number }): void;
  /** the core stepped an event (after the Byzantine filter) and returned these actions (not yet carried out) */
  stepped?(ev: ReplicaEvent, actions: readonly ReplicaAction[]): void;
  /**
   * one effect of a turn carried out, with the rest of its batch: after the turn's records are
   * durable, except in a turn whose only records are lazy (isLazyRecord), which acts at once
   */
  performing?(a: ReplicaAction, batch: readonly ReplicaAction[]): void;
  /** the core, the Byzantine layer or the driver threw */
  error?(where: string, e: unknown): void;
}

/** The simulator's assembly: every piece of I/O given. */
export interface SimulatedNodeOptions {
  id: ReplicaId;
  params: ProtocolParams;
  auth: Authenticator;
  transport: NodeTransport;
  clock: NodeClock;
  storage: NodeStorage;
  entropy: NodeEntropy;
  phases: PhaseSink;
  app: CorruptibleApp;
  byzantine: ByzantineHooks;
  /** deliberately broken cores (the core's bug flags) */
  bugs?: Partial<Record<BugName, boolean>>;
  /** the core's own invariant assertions (default on) */
  assertions?: boolean;
  nodeBugs?: readonly NodeBugName[];
  observer?: NodeObserver;
  log?: (line: string) => void;
}

type QueuedEvent = { ev: ReplicaEvent; timerGen?: number };

/** a turn's ledger records when the node keeps no ledger (never written to) */
const NO_AUDIT: LedgerRecord[] = [];
/** ledger records queued behind the durable log beyond which the next durable-log batch waits for the ledger */
const LEDGER_BACKLOG_RECORDS = 4096;
/**
 * The ledger is written at most once per LEDGER_MIN_INTERVAL_MS (at once after a quiet spell, or
 * as soon as LEDGER_EAGER_RECORDS are queued), not once per batch: at one client a backup's four
 * thread-pool round trips per batch (three durable-log frames and a ledger frame) were 9% of its
 * samples on our 2-core VMs, where every hand-off to a pool thread and back costs two context
 * switches.
 */
const LEDGER_MIN_INTERVAL_MS = 50;
const LEDGER_EAGER_RECORDS = 512;
/** records no effect waits for (isLazyRecord) wait at most this long for a frame to ride with */
const LAZY_FLUSH_MS = 10;

/**
 * A record no effect of its turn waits for: `committed`, a replica's note that it saw 2f+1
 * matching commits. When a turn's only records are these and no effect is waiting for a frame,
 * every other record is durable, this replica's own `prepared` for the seq included (it was
 * recorded in an earlier turn, before its commit went out; or it executes on 2f+1 commits of
 * others). So the 2f+1 commit voters behind the reply include at least f+1 correct replicas whose
 * `prepared` records were durable before their commits were sent, any view change hears from one
 * of them, and the request stays at its seq whatever this replica forgets in a crash;
 * re-executing it gives the same result. (Such a turn may also send a CHECKPOINT for the state it
 * reached: true whatever it forgets, as re-execution reaches that state again; and a replica
 * that makes a checkpoint stable and truncates its log records that first, lazy records before
 * it.) Such a turn acts at once, and its records ride the next
 * frame (or LAZY_FLUSH_MS later): at one client that is one durable-log write per batch fewer,
 * and the reply goes out a write earlier. Their order in the log is kept (a later frame holds
 * them first), so every prefix of the log is still a state the replica was in.
 */
function isLazyRecord(r: PersistRecord): boolean {
  return r.kind === 'committed';
}

/** the highest full checkpoint seq among a turn's persist records (0: none): where the durable log starts a segment */
function checkpointIn(persists: readonly PersistRecord[]): number {
  let cp = 0;
  for (const r of persists) if (isFullCheckpoint(r) && r.seq > cp) cp = r.seq;
  return cp;
}

const MAX_QUEUE = 100_000;
const MAX_DELAYED = 100_000;
const DRAIN_BATCH = 512;
/** a coalesced frame to one peer is flushed beyond this many serialized bytes */
const COALESCE_MAX_BYTES = 256 * 1024;

/** What only a replica process has: its cluster, sockets, admin channel, metrics and pid file. */
interface ProcessParts {
  cluster: LoadedCluster;
  o: ReplicaNodeOptions;
  transport: ReplicaTransport;
  gate: AdminGate;
  overrides: ReplicaOverrides;
  faultInjection: boolean;
}

export class ReplicaNode {
  readonly id: ReplicaId;
  private readonly params: ProtocolParams;
  private readonly startedAt: number;
  private replica!: Replica;
  private wal!: NodeLog;
  private phases!: PhaseSink;
  private transport!: NodeTransport;
  private clock: NodeClock = realClock;
  private entropy!: NodeEntropy;
  private storage!: NodeStorage;
  /**
   * The audit ledger (ledger.ts): a replica process's only (the simulator's node has none; its
   * checkers read the core's actions directly). It trails the durable log, off the send path: a
   * batch's ledger records are queued once its durable-log frame is durable and its effects are
   * released, and written by one write at a time, which takes every batch queued meanwhile
   * (see trailLedger). A crash loses at most that queue, which the next start repairs from the
   * durable log (ledger-feed.ts): the durable log deletes no segment before the ledger holds
   * its records (deleteCovered, at ledgerWritten).
   */
  private ledger: AuditLedger | null = null;
  private ledgerFeed: LedgerFeed | null = null;
  /** audit records of the turns gathered into the next durable-log batch, and of the one in flight */
  private nextLedger: LedgerRecord[] = [];
  private batchLedger: LedgerRecord[] = [];
  /** checkpoint seq of the records of the next batch and of the one in flight (0: none) */
  private nextCheckpoint = 0;
  private batchCheckpoint = 0;
  /** batches durable in the durable log whose ledger records wait for the ledger's next write */
  private ledgerQueue: { batch: number; records: LedgerRecord[] }[] = [];
  private ledgerQueued = 0;
  private ledgerWriting = false;
  /** every ledger record of batches up to this one is durable in the ledger */
  private ledgerThrough = 0;
  /** durable-log batches that made a checkpoint stable: its covered segments go once the ledger passes them */
  private pendingDeletes: { batch: number; seq: number }[] = [];
  /** the next durable-log batch waits for the ledger (its queue is full: backpressure) */
  private heldForLedger = false;
  private ledgerIdleWaiters: Array<() => void> = [];
  /** when the ledger's last write started (LEDGER_MIN_INTERVAL_MS), and its pending write, if any */
  private ledgerLastWriteAt = Number.NEGATIVE_INFINITY;
  private ledgerTimer: TimerHandle | null = null;
  /** the flush of lazy records (isLazyRecord) waiting for a frame to ride with */
  private lazyTimer: TimerHandle | null = null;
  private byz!: ByzantineHooks;
  private app!: CorruptibleApp;
  /** set in a replica process only */
  private proc: ProcessParts | null = null;
  private observer: NodeObserver | null = null;
  private sendBeforePersist = false;
  private net!: NetFaults;
  private readonly timers = new Map<TimerName, { handle: TimerHandle; gen: number }>();
  private timerGen = 0;
  private queue: QueuedEvent[] = [];
  private drainScheduled = false;
  /** group commit: a sync is in flight for batch `batchId` */
  private syncing = false;
  /** a recovery is recorded beside the log until the first frame after the start is durable */
  private recoveryIntentPending = false;
  private batchId = 0;
  /** records waiting for the next batch, and effects waiting for their batch to be durable */
  private nextRecords: PersistRecord[] = [];
  private waiting: { batch: number; effects: ReplicaAction[] }[] = [];
  private readonly delayed = new Set<TimerHandle>();
  private readonly runtimeDropped: Record<string, number> = {};
  private view = 0;
  private ready = false;
  private stopped = false;
  private fatal = false;
  /** Prometheus /metrics and /healthz (replica.json metricsPort), when configured and listening */
  private metrics: ReplicaMetrics | null = null;
  private metricsPort: number | null = null;
  private coreErrors = 0;
  /** pre-prepares sent as primary and the requests they carried (bench: mean batch size) */
  private readonly batches = { prePrepares: 0, requests: 0, max: 0 };
  private ppView = -1;
  private ppSeq = -1;
  private readonly diag: (line: string) => void;

  private constructor(id: ReplicaId, params: ProtocolParams, diag: (line: string) => void, clock: NodeClock) {
    this.id = id;
    this.params = params;
    this.diag = diag;
    this.clock = clock;
    this.startedAt = clock.now();
  }

  /** The core this node drives (the simulator reads its status and footprint). */
  get core(): Replica {
    return this.replica;
  }

  /** Apply a network fault directly (the simulator; a process takes them from the admin channel). */
  injectNetFault(cmd: Extract<AdminCommand, { kind: 'net' }>): void {
    this.net.apply(cmd);
  }

  /** The replica process's cluster (ReplicaNode.start only). */
  get cluster(): LoadedCluster {
    if (!this.proc) throw new Error('a simulated node has no cluster');
    return this.proc.cluster;
  }

  /** Load the key and the durable log, bind the port, start the core and connect to peers. */
  static async start(o: ReplicaNodeOptions): Promise<ReplicaNode> {
    const diag = o.log ?? ((l) => process.stderr.write(`${new Date().toISOString()} replica ${o.id}: ${l}\n`));
    const node = new ReplicaNode(o.id, o.cluster.params, diag, realClock);
    await node.init(o);
    return node;
  }

  /**
   * The simulator's node: the same loop, group commit, timers, Byzantine layer and fault layer,
   * over the given network, disk and clock. Started at once (its start actions are carried out
   * through the clock and the disk like any turn's). Throws what the core's start throws.
   */
  static simulated(o: SimulatedNodeOptions): ReplicaNode {
    const node = new ReplicaNode(o.id, o.params, o.log ?? (() => undefined), o.clock);
    node.transport = o.transport;
    node.storage = o.storage;
    node.entropy = o.entropy;
    node.phases = o.phases;
    node.app = o.app;
    node.byz = o.byzantine;
    node.observer = o.observer ?? null;
    node.sendBeforePersist = o.nodeBugs?.includes('send-before-persist') ?? false;
    node.net = new NetFaults(o.entropy.random);
    node.boot(o.auth, { bugs: o.bugs, assertions: o.assertions, startDetail: 'simulated' });
    return node;
  }

  private async init(o: ReplicaNodeOptions): Promise<void> {
    const { cluster, id } = o;
    const entry = replicaEntry(cluster, id);
    const secret = await readReplicaSecret(cluster, id, { warn: (m) => this.diag(`warning: ${m}`) });
    const overrides = await loadReplicaOverrides(cluster, id);
    const faultInjection = cluster.config.faultInjection && o.faultInjection !== false && overrides.faultInjection !== false;
    try {
      mkdirSync(cluster.paths.replicaDir(id), { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new PbftError('IO', `replica ${id}: cannot create ${cluster.paths.replicaDir(id)}: ${describeError(e)}`, { cause: e });
    }

    const sessions = new ReplicaSessions();
    const transport = new ReplicaTransport({
      cluster,
      id,
      secret,
      sessions,
      events: {
        onPeerMessage: (from, msg) => this.receivePeer(from, msg),
        onClientRequest: (_client, msg) => this.receiveRequest(msg),
        onAdminFrame: (f, respond) => this.onAdminFrame(f, respond),
        onConnectionEvent: (e) => {
          if (e.role !== 'replica') return;
          this.phase({
            phase: e.kind,
            view: this.view,
            peer: e.peer,
            detail: `${e.direction === 'in' ? 'inbound' : 'outbound'}${e.detail ? `: ${e.detail}` : ''}`,
          });
          if (e.kind === 'connect') this.checkReady();
        },
        onDrop: (reason, detail) => {
          // Congestion and absent peers/clients are counted only; hostile input is also logged.
          if (reason === 'queue-full' || reason === 'peer-down' || reason === 'backpressure' || reason === 'no-client-connection') return;
          this.phase({ phase: 'drop', view: this.view, reason, detail: `transport: ${detail}` });
        },
      },
    });
    this.transport = transport;
    this.proc = { cluster, o, transport, gate: new AdminGate(cluster, id), overrides, faultInjection };
    // Bind first: a second process for the same replica fails here, before touching the log.
    await transport.listen();
    try {
      const fsync = overrides.fsync !== false;
      if (o.pidFile !== false) writeFileAtomicSync(cluster.paths.pid(id), `${process.pid}\n`, 0o644, { fsync });
      this.phases = new PhaseLogWriter(cluster.paths.phases(id), {
        replica: id,
        enabled: overrides.phaseLog !== false,
        maxBytes: overrides.phaseLogMaxBytes,
      });
      this.storage = new FileStorage(cluster.paths.walDir(id), {
        fsync,
        compact: compactRecords,
        legacyFile: cluster.paths.wal(id),
        label: `replica ${id}`,
        // the audit ledger trails the durable log: segments go once the ledger holds their records
        deferDeletes: true,
      });
      this.entropy = realEntropy();
      this.net = new NetFaults(this.entropy.random);
      if (overrides.fsync === false) this.diag('warning: fsync is off (replica.json): a crash may lose what this replica signed');
      this.ledger = AuditLedger.open(cluster.paths.ledgerDir(id), {
        replica: id,
        clusterId: cluster.keyring.clusterId,
        fsync,
        segmentBytes: overrides.ledgerSegmentBytes,
        maxBytes: overrides.ledgerMaxBytes,
      });
      if (this.ledger.openReport.tornTail) this.diag('audit ledger: ignored a torn last write (crash during a write)');
      if (this.ledger.openReport.damaged)
        this.diag(`audit ledger: a damaged record (${this.ledger.openReport.damaged}) left in place for pbft verify; writing goes on in a new segment`);

      // MAC authenticators under the session keys the transport agrees with clients
      // (nothing in the runtime writes to a message once it is parsed or built: request digests are remembered)
      const auth = new KeyedAuthenticator(cluster.scheme, secret, cluster.keyring, sessions, { rememberRequestDigests: true });
      this.app = new CorruptibleApp(new KvStore(), this.entropy.random);
      this.byz = (o.byzantine ?? makeByzantine)({ id, params: cluster.params, auth, rng: this.entropy.random }, this.app);
      this.boot(auth, { startDetail: `pid ${process.pid}, listening on ${entry.host}:${entry.port}` });
    } catch (e) {
      await transport.close();
      await this.phases?.close();
      this.ledger?.close();
      this.removePidFile();
      throw e;
    }
    transport.connectPeers();
    await this.startMetrics();
    this.checkReady();
  }

  /**
   * Open the durable log (a damaged one is moved aside: recovery mode), build the core from it
   * and carry out its start actions. Shared by both assemblies.
   */
  private boot(auth: Authenticator, o: { bugs?: Partial<Record<BugName, boolean>>; assertions?: boolean; startDetail: string }): void {
    const { id } = this;
    let recover: { timestamp: number; nonce: string } | undefined;
    try {
      this.wal = this.storage.open();
    } catch (e) {
      if (!(e instanceof PbftError) || e.code !== 'WAL_CORRUPT') throw e;
      // A record before the last failed its checksum: what this replica signed is unknown.
      // Keep the damaged log for inspection, start empty, and recover (the core's recovery
      // mode: no votes until that is safe; the state comes back by state transfer). The
      // recovery is recorded beside the log first, so a crash before the new log holds it
      // cannot bring the replica back as a fresh one.
      recover = { timestamp: Math.floor(this.clock.now()), nonce: this.entropy.nonce() };
      this.storage.recoveryIntent?.write(recover);
      const aside = this.storage.moveAside();
      this.diag(
        `durable log damaged: ${e.message.split('; the replica cannot')[0]}. Moved aside to ${aside.join(', ')}; starting empty in recovery mode (no votes until safe; state by transfer from peers)`,
      );
      this.wal = this.storage.open();
    }

    const lr = this.wal.loadReport;
    const mig = lr.migrated;
    if (mig)
      this.diag(
        `durable log: converted ${mig.from} (the single-file format of older versions, ${mig.records} records${mig.tornTail ? ', a torn last append ignored' : ''}) to segment files in ${this.storage.where}; the old file now holds a note that stops older versions from starting`,
      );
    if (lr.tornTail) this.diag(`durable log: ignored a torn last append (crash during a write); ${lr.records} records kept`);

    const persisted = this.wal.takeRecords();
    if (!recover) {
      // a recovery whose record may not have reached the new log (a crash right after the
      // move): recover again, unless the log holds it (then only the marker's removal was lost)
      const pending = this.storage.recoveryIntent?.read() ?? null;
      if (pending && !persisted.some((r) => r.kind === 'recovery' && r.timestamp === pending.timestamp && r.nonce === pending.nonce)) {
        recover = pending;
        this.diag(
          `durable log: the recovery started at ${pending.timestamp} is not in the log (a crash after the damaged log was moved aside): starting it again`,
        );
      } else if (pending) this.storage.recoveryIntent?.clear();
    }
    this.recoveryIntentPending = recover !== undefined && this.storage.recoveryIntent !== undefined;
    if (this.ledger) {
      this.ledgerFeed = new LedgerFeed(id, this.ledger.lastSeq, this.ledger.lastCheckpoint, persisted, (r) => requestDigest(auth, r));
      // segments the last run left for the ledger (deferred deletions): deleted once the
      // first batch's ledger records, the repair, are written. Only those the checkpoint stable
      // NOW covers: by the time that write completes, later batches may have made a newer one
      // stable whose segments the ledger does not hold yet (found in review: a crash then lost
      // their executions from the ledger, and the restart's repair hid the gap).
      this.pendingDeletes.push({ batch: this.batchId + 1, seq: this.wal.stableSeq ?? 0 });
    }
    try {
      this.replica = new Replica({
        id,
        params: this.params,
        auth,
        app: this.app,
        persisted,
        recover,
        ...(o.bugs ? { bugs: o.bugs } : {}),
        ...(o.assertions === false ? { assertions: false } : {}),
      });
    } catch (e) {
      throw new PbftError('CONFIG_INVALID', `replica ${id}: the core refused its parameters: ${describeError(e)}; fix protocol in cluster.json`, {
        cause: e,
      });
    }
    this.phase({ phase: 'start', view: 0, detail: `${o.startDetail}, ${persisted.length} durable records` });
    this.observer?.starting?.({ recover, records: persisted.length });
    let actions: ReplicaAction[];
    try {
      actions = this.byz.transform(this.replica.start());
    } catch (e) {
      throw new PbftError(
        'WAL_CORRUPT',
        `replica ${id}: cannot restart from its durable log ${this.storage.where}: ${describeError(e)}; restore it, or move it aside to restart empty and catch up from peers`,
        { cause: e },
      );
    }
    this.view = this.replica.status().view;
    this.carryOut(actions);
  }

  private async startMetrics(): Promise<void> {
    const port = this.proc?.overrides.metricsPort;
    if (port === undefined) return;
    const q = quorums(this.cluster.params.n, this.cluster.params.f);
    const m = new ReplicaMetrics(
      {
        status: () => this.status(),
        healthy: () => {
          const peers = this.proc!.transport.connectedPeers().length;
          if (!this.ready) return { ok: false, why: 'not ready: not yet connected to a quorum' };
          if (peers + 1 < q.quorum) return { ok: false, why: `connected to ${peers} peers; a quorum needs ${q.quorum - 1}` };
          return { ok: true, why: 'ready and connected to a quorum' };
        },
      },
      { replica: this.id, cluster: this.cluster.config.name },
    );
    try {
      this.metricsPort = await m.listen(port);
      this.metrics = m;
    } catch (e) {
      // metrics are an aid: a port in use must not keep a replica from serving
      this.diag(
        `metrics: cannot listen on 127.0.0.1:${port} (${describeError(e)}); running without /metrics and /healthz (change metricsPort in ${this.cluster.paths.replicaJson(this.id)})`,
      );
    }
  }

  // -------------------------------------------------------------------------------------
  // Inputs
  // -------------------------------------------------------------------------------------

  private countDrop(reason: string): void {
    this.runtimeDropped[reason] = (this.runtimeDropped[reason] ?? 0) + 1;
  }

  private enqueue(q: QueuedEvent): void {
    if (this.stopped) return;
    if (this.queue.length >= MAX_QUEUE) {
      this.countDrop('overload');
      return;
    }
    this.queue.push(q);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      this.clock.setImmediate(() => this.drain());
    }
  }

  private later(delayMs: number, fn: () => void): void {
    if (this.delayed.size >= MAX_DELAYED) {
      this.countDrop('overload');
      return;
    }
    const t = this.clock.setTimeout(() => {
      this.delayed.delete(t);
      if (!this.stopped) fn();
    }, delayMs);
    this.delayed.add(t);
  }

  /** A protocol message from peer `from` (parsed, not yet validated: the core does that). */
  receivePeer(from: ReplicaId, msg: unknown): void {
    const d = this.net.decide(from);
    if (d.drop) return this.countDrop(`fault-${d.reason}-in`);
    if (d.delayMs > 0) return this.later(d.delayMs, () => this.enqueue({ ev: { type: 'message', from, msg } }));
    this.enqueue({ ev: { type: 'message', from, msg } });
  }

  /** A client request (parsed, not yet validated). */
  receiveRequest(msg: unknown): void {
    const d = this.net.decideClient();
    if (d.drop) return this.countDrop(`fault-${d.reason}-in`);
    if (d.delayMs > 0) return this.later(d.delayMs, () => this.enqueue({ ev: { type: 'request', msg } }));
    this.enqueue({ ev: { type: 'request', msg } });
  }

  // -------------------------------------------------------------------------------------
  // The loop
  // -------------------------------------------------------------------------------------

  private drain(): void {
    this.drainScheduled = false;
    if (this.stopped) return;
    const persists: PersistRecord[] = [];
    const effects: ReplicaAction[] = [];
    let n = 0;
    while (this.queue.length > 0 && n < DRAIN_BATCH) {
      const q = this.queue.shift()!;
      n++;
      let ev: ReplicaEvent | null = q.ev;
      if (ev.type === 'timer') {
        const t = this.timers.get(ev.name);
        if (!t || t.gen !== q.timerGen) continue; // cancelled or replaced since it fired
        this.timers.delete(ev.name);
      }
      let actions: ReplicaAction[];
      try {
        ev = this.byz.filterEvent(ev);
        if (ev === null) continue;
        actions = this.byz.transform(this.replica.step(ev));
      } catch (e) {
        this.coreError(e, q.ev);
        continue;
      }
      this.observer?.stepped?.(ev, actions);
      for (const a of actions) {
        if (a.type === 'persist') persists.push(a.record);
        else if (a.type === 'setTimer' || a.type === 'cancelTimer') this.timerAction(a);
        else effects.push(a);
      }
    }
    this.commit(persists, effects);
    if (this.queue.length > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      this.clock.setImmediate(() => this.drain());
    }
  }

  /** Carry out one core output (used for start()). */
  private carryOut(actions: ReplicaAction[]): void {
    const persists: PersistRecord[] = [];
    const effects: ReplicaAction[] = [];
    for (const a of actions) {
      if (a.type === 'persist') persists.push(a.record);
      else if (a.type === 'setTimer' || a.type === 'cancelTimer') this.timerAction(a);
      else effects.push(a);
    }
    this.commit(persists, effects);
  }

  /**
   * Group commit. The records of a turn are written as one frame and made durable off the event
   * loop; the turn's effects wait until that commit reports success. While a commit is in flight,
   * later turns keep stepping the core: their records gather into the next batch (committed when
   * the current one completes, so at most one frame is ever not yet durable) and their effects
   * queue behind, in order. A turn with no records and nothing queued ahead of it acts at once.
   * A turn whose only records are lazy (isLazyRecord) acts at once too, its records riding the
   * next frame. Replies in other turns wait like everything else: a turn that prepares and
   * commits at once holds this replica's own `prepared` record, and a reply sent before that is
   * durable could outlive it (with f Byzantine replicas among the other commit voters, only f
   * correct ones would then hold a durable `prepared`; a view change needs f+1).
   */
  private commit(persists: PersistRecord[], effects: ReplicaAction[]): void {
    if (this.fatal) return;
    const audit = this.ledgerFeed ? this.ledgerFeed.collect(persists, effects) : NO_AUDIT;
    if (this.sendBeforePersist) {
      // BROKEN (node bug send-before-persist): the effects go out now, the records after them
      this.performAll(effects);
      effects = [];
    }
    if (this.waiting.length === 0 && persists.every(isLazyRecord)) {
      // Nothing this turn does needs one of its records durable first, and nothing is queued
      // ahead (every record not lazy is durable: each frame holding one has effects waiting
      // until it is): act now.
      this.performAll(effects);
      if (persists.length > 0 || this.nextRecords.length > 0 || this.nextLedger.length > 0 || this.syncing || this.heldForLedger) {
        // its lazy records, and the ledger records (whose executions may be in those, in
        // earlier lazy records, or in the frame in flight), wait for a frame to ride with
        this.gather(persists, audit);
        if (!this.syncing && !this.heldForLedger) this.armLazyFlush(); // else nextBatch() sees to them
      } else if (audit.length > 0) {
        // the ledger records (of executions whose records are durable already) join the
        // ledger's queue as a batch of their own
        this.trailLedger(++this.batchId, audit);
      }
      return;
    }
    // the turn's records join those gathered for the next frame (lazy ones, ahead of them, or
    // a frame's worth while one is in flight), and its effects wait for that frame
    this.gather(persists, audit);
    this.waiting.push({ batch: this.batchId + 1, effects });
    if (!this.syncing && !this.heldForLedger) this.takeNextBatch();
  }

  /** Add a turn's records to the next frame's, in order. */
  private gather(persists: PersistRecord[], audit: LedgerRecord[]): void {
    for (const r of persists) this.nextRecords.push(r);
    for (const r of audit) this.nextLedger.push(r);
    this.nextCheckpoint = Math.max(this.nextCheckpoint, checkpointIn(persists));
  }

  /** Write the lazy records within LAZY_FLUSH_MS if no frame takes them first. */
  private armLazyFlush(): void {
    if (this.lazyTimer !== null) return;
    this.lazyTimer = this.clock.setTimeout(() => {
      this.lazyTimer = null;
      if (!this.stopped && !this.fatal && !this.syncing && !this.heldForLedger && (this.nextRecords.length > 0 || this.nextLedger.length > 0))
        this.takeNextBatch();
    }, LAZY_FLUSH_MS);
  }

  /** Start a batch with everything gathered for the next one. */
  private takeNextBatch(): void {
    const recs = this.nextRecords;
    const audit = this.nextLedger;
    const cp = this.nextCheckpoint;
    this.nextRecords = [];
    this.nextLedger = [];
    this.nextCheckpoint = 0;
    this.startBatch(recs, audit, cp);
  }

  /** One durable-log frame; its ledger records wait for it (onSynced). */
  private startBatch(records: PersistRecord[], audit: LedgerRecord[], checkpoint: number): void {
    if (this.lazyTimer !== null) {
      this.clock.clearTimeout(this.lazyTimer);
      this.lazyTimer = null;
    }
    this.batchId++;
    this.syncing = true;
    this.batchLedger = audit;
    this.batchCheckpoint = checkpoint;
    try {
      this.wal.commit(records, (err) => this.onSynced(err));
    } catch (e) {
      this.syncing = false;
      return this.walFailed(e);
    }
  }

  private onSynced(err: PbftError | null): void {
    this.syncing = false;
    if (err) return this.walFailed(err);
    if (this.fatal) return;
    const batch = this.batchId;
    if (this.recoveryIntentPending) {
      // the first frame after the start (with the core's 'recovery' record) is durable
      this.recoveryIntentPending = false;
      this.storage.recoveryIntent?.clear();
    }
    this.release(batch);
    if (this.ledger) {
      if (this.batchCheckpoint > 0) this.pendingDeletes.push({ batch, seq: this.batchCheckpoint });
      this.trailLedger(batch, this.batchLedger);
    }
    this.batchLedger = [];
    this.batchCheckpoint = 0;
    this.nextBatch();
  }

  /** Start the next durable-log batch if anything waits for one, unless the ledger holds it back. */
  private nextBatch(): void {
    if (this.syncing || this.fatal || this.stopped) return;
    if (this.ledgerQueued >= LEDGER_BACKLOG_RECORDS) {
      // backpressure: the ledger is that far behind; the next batch waits for its write (now,
      // not at the end of the ledger's interval)
      this.heldForLedger = true;
      this.writeLedger();
      return;
    }
    this.heldForLedger = false;
    if (this.waiting.length > 0) return this.takeNextBatch();
    // nothing waits for a frame (so what is gathered is lazy): it rides the next one, or goes
    // within LAZY_FLUSH_MS
    if (this.nextRecords.length > 0 || this.nextLedger.length > 0) this.armLazyFlush();
  }

  /**
   * Queue a durable batch's ledger records; one ledger write at a time takes every batch queued
   * (group commit for the ledger, off the send path).
   */
  private trailLedger(batch: number, records: LedgerRecord[]): void {
    if (records.length === 0 && this.ledgerQueue.length === 0 && !this.ledgerWriting) {
      this.ledgerWritten(batch);
      return;
    }
    this.ledgerQueue.push({ batch, records });
    this.ledgerQueued += records.length;
    this.scheduleLedger();
  }

  /**
   * The ledger's next write: now after a quiet spell, with a full queue, under backpressure, when
   * someone waits for it or at a stop; else at the end of the interval (whose length a wall clock
   * stepping back cannot stretch: the wait is at most the interval). A write in flight arranges
   * the next one when it ends.
   */
  private scheduleLedger(): void {
    if (this.ledgerWriting || this.ledgerQueue.length === 0) return;
    const wait = Math.min(LEDGER_MIN_INTERVAL_MS, this.ledgerLastWriteAt + LEDGER_MIN_INTERVAL_MS - this.clock.now());
    if (wait <= 0 || this.ledgerQueued >= LEDGER_EAGER_RECORDS || this.stopped || this.heldForLedger || this.ledgerIdleWaiters.length > 0)
      return this.writeLedger();
    if (this.ledgerTimer !== null) return;
    this.ledgerTimer = this.clock.setTimeout(() => {
      this.ledgerTimer = null;
      this.writeLedger();
    }, Math.ceil(wait));
  }

  private writeLedger(): void {
    const ledger = this.ledger;
    if (!ledger || this.ledgerWriting || this.ledgerQueue.length === 0 || this.fatal) return;
    if (this.ledgerTimer !== null) {
      this.clock.clearTimeout(this.ledgerTimer);
      this.ledgerTimer = null;
    }
    this.ledgerLastWriteAt = this.clock.now();
    const q = this.ledgerQueue;
    this.ledgerQueue = [];
    this.ledgerQueued = 0;
    const through = q[q.length - 1]!.batch;
    const records = q.length === 1 ? q[0]!.records : q.flatMap((b) => b.records);
    this.ledgerWriting = true;
    const done = (err: PbftError | null) => {
      this.ledgerWriting = false;
      if (err) {
        this.walFailed(err);
        this.notifyLedgerIdle();
        return;
      }
      this.ledgerWritten(through);
      if (this.ledgerQueue.length > 0) this.scheduleLedger();
      else this.notifyLedgerIdle();
      if (this.heldForLedger) this.nextBatch();
    };
    try {
      ledger.commit(records, done);
    } catch (e) {
      done(e instanceof PbftError ? e : new PbftError('LEDGER_IO', `replica ${this.id}: audit ledger failure: ${describeError(e)}`, { cause: e }));
    }
  }

  /** The ledger holds every record of batches up to `batch`: the durable log may delete what it covers. */
  private ledgerWritten(batch: number): void {
    if (batch > this.ledgerThrough) this.ledgerThrough = batch;
    let upTo = 0;
    while (this.pendingDeletes.length > 0 && this.pendingDeletes[0]!.batch <= this.ledgerThrough) upTo = this.pendingDeletes.shift()!.seq;
    if (upTo > 0) this.wal.deleteCovered?.(upTo);
  }

  private notifyLedgerIdle(): void {
    if (this.ledgerWriting || this.ledgerQueue.length > 0) return;
    const w = this.ledgerIdleWaiters;
    this.ledgerIdleWaiters = [];
    for (const f of w) f();
  }

  /** Resolves once the ledger has written everything queued (or failed). */
  private ledgerDrained(): Promise<void> {
    if (!this.ledger || this.fatal || (!this.ledgerWriting && this.ledgerQueue.length === 0)) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.ledgerIdleWaiters.push(resolve));
    this.writeLedger(); // now, not at the interval's end (nothing if a write is in flight: its end writes the rest)
    return p;
  }

  private release(upTo: number): void {
    while (this.waiting.length > 0 && this.waiting[0]!.batch <= upTo) this.performAll(this.waiting.shift()!.effects);
  }

  private performAll(effects: ReplicaAction[]): void {
    if (this.stopped) return;
    for (const a of effects) {
      try {
        this.observer?.performing?.(a, effects);
        this.perform(a);
      } catch (e) {
        this.countDrop('driver-error');
        this.diag(`error performing ${a.type}: ${describeError(e)}`);
        this.observer?.error?.(`perform(${a.type})`, e);
      }
    }
    this.flushOutbox();
  }

  /**
   * Messages to peers gather here while one batch of effects is performed, and go out as one
   * frame per peer ({type:'messages'} when there are several): one write instead of one per
   * message. Nothing waits for more: the flush ends every performAll.
   */
  private readonly outbox = new Map<ReplicaId, { parts: string[]; bytes: number }>();

  private queuePeer(to: ReplicaId, msgJson: string): void {
    let box = this.outbox.get(to);
    if (!box) {
      box = { parts: [], bytes: 0 };
      this.outbox.set(to, box);
    }
    box.parts.push(msgJson);
    box.bytes += msgJson.length;
    if (box.parts.length >= MAX_COALESCED_MESSAGES || box.bytes >= COALESCE_MAX_BYTES) this.flushPeer(to, box);
  }

  private flushPeer(to: ReplicaId, box: { parts: string[]; bytes: number }): void {
    if (box.parts.length === 0) return;
    const frame = box.parts.length === 1 ? `{"type":"message","msg":${box.parts[0]}}` : `{"type":"messages","msgs":[${box.parts.join(',')}]}`;
    box.parts = [];
    box.bytes = 0;
    this.transport.sendToPeer(to, frame);
  }

  private flushOutbox(): void {
    for (const [to, box] of this.outbox) this.flushPeer(to, box);
    this.transport.flushClients?.();
  }

  private walFailed(e: unknown): void {
    const err = e instanceof PbftError ? e : new PbftError('WAL_IO', `replica ${this.id}: durable log failure: ${describeError(e)}`, { cause: e });
    if (this.fatal) return;
    this.fatal = true;
    this.diag(`fatal: ${err.message}`);
    this.phase({ phase: 'stop', view: this.view, reason: 'fatal', detail: err.message });
    void this.phases?.flush();
    // Nothing that depends on unsynced records is sent: stop here.
    this.stopped = true;
    this.waiting = [];
    this.nextRecords = [];
    this.nextLedger = [];
    this.ledgerQueue = [];
    this.ledgerQueued = 0;
    this.notifyLedgerIdle();
    this.proc?.o.onFatal?.(err);
  }

  private coreError(e: unknown, ev: ReplicaEvent): void {
    this.observer?.error?.(`step(${ev.type})`, e);
    this.countDrop('core-error');
    this.coreErrors++;
    if (this.coreErrors <= 20 || this.coreErrors % 1000 === 0)
      this.diag(
        `core error #${this.coreErrors} on a ${ev.type} event${ev.type === 'message' ? ` from ${ev.from}` : ''}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
      );
    this.phase({
      phase: 'drop',
      view: this.view,
      reason: 'core-error',
      peer: ev.type === 'message' ? ev.from : undefined,
      detail: describeError(e).slice(0, 300),
    });
  }

  private timerAction(a: Extract<ReplicaAction, { type: 'setTimer' | 'cancelTimer' }>): void {
    const old = this.timers.get(a.name);
    if (old) this.clock.clearTimeout(old.handle);
    this.timers.delete(a.name);
    if (a.type === 'cancelTimer') return;
    const gen = ++this.timerGen;
    const name = a.name;
    const handle = this.clock.setTimeout(() => this.enqueue({ ev: { type: 'timer', name }, timerGen: gen }), Math.max(0, a.afterMs));
    this.timers.set(name, { handle, gen });
  }

  /** `msgJson`: one serialized protocol message (see flushOutbox) */
  private sendPeer(to: ReplicaId, msgJson: string): void {
    const d = this.net.decide(to);
    if (d.drop) return this.countDrop(`fault-${d.reason}-out`);
    if (d.delayMs > 0) return this.later(d.delayMs, () => this.transport.sendToPeer(to, `{"type":"message","msg":${msgJson}}`));
    this.queuePeer(to, msgJson);
  }

  /** Count a pre-prepare this replica sends as primary, once per (view, seq): batch statistics. */
  private countPrePrepare(msg: ReplicaAction & { type: 'send' | 'multicast' }): void {
    // (a Byzantine strategy may send anything, null included)
    const m = msg.msg as { body?: { type?: unknown; view?: unknown; seq?: unknown; replica?: unknown }; batch?: unknown } | null;
    if (typeof m !== 'object' || m === null) return;
    const b = m.body;
    if (b?.type !== 'pre-prepare' || b.replica !== this.id || typeof b.view !== 'number' || typeof b.seq !== 'number' || !Array.isArray(m.batch)) return;
    if (b.view < this.ppView || (b.view === this.ppView && b.seq <= this.ppSeq)) return; // a retransmission
    this.ppView = b.view;
    this.ppSeq = b.seq;
    this.batches.prePrepares++;
    this.batches.requests += m.batch.length;
    if (m.batch.length > this.batches.max) this.batches.max = m.batch.length;
  }

  private perform(a: ReplicaAction): void {
    this.metrics?.onAction(a);
    switch (a.type) {
      case 'send': {
        this.countPrePrepare(a);
        if (a.to === this.id) return;
        // a pre-prepare carries the receiver's MAC entries only (prePrepareJsonFor)
        const forPeer = prePrepareJsonFor(a.msg, this.params.n);
        this.sendPeer(a.to, forPeer ? forPeer(a.to) : messageJson(a.msg));
        return;
      }
      case 'multicast': {
        this.countPrePrepare(a);
        const forPeer = prePrepareJsonFor(a.msg, this.params.n);
        // (any other message's JSON once for all; a pre-prepare's whole JSON is remembered for the durable log)
        const json = forPeer ? '' : messageJson(a.msg);
        for (let i = 0; i < this.params.n; i++) if (i !== this.id) this.sendPeer(i, forPeer ? forPeer(i) : json);
        return;
      }
      case 'reply': {
        const d = this.net.decideClient();
        if (d.drop) return this.countDrop(`fault-${d.reason}-out`);
        const frame = replyFrame(JSON.stringify(a.msg));
        if (d.delayMs > 0) return this.later(d.delayMs, () => this.transport.sendToClient(a.client, frame, a.msg));
        this.transport.sendToClient(a.client, frame, a.msg);
        return;
      }
      case 'log':
        // a strategy switched on a moment ago may not have seen the view yet: the node knows it
        this.phase(a.event.phase === 'fault' ? { ...a.event, view: this.view } : a.event);
        return;
      case 'executed':
        // One 'reply' record per executed request: links (client, timestamp) to its seq for traces.
        if (a.certificate !== null)
          for (const r of a.requests)
            this.phase({
              phase: 'reply',
              view: a.view,
              seq: a.seq,
              digest: r.digest,
              client: r.client,
              timestamp: r.timestamp,
              detail: `result ${r.result.slice(0, 120)}`,
            });
        return;
      case 'view-entered':
        this.view = a.view;
        return;
      case 'state-installed':
      case 'checkpoint-stable':
        return; // the core logs these (phases state-transfer, stable)
      default:
        return;
    }
  }

  private phase(e: PhaseLine): void {
    this.phases?.write(e);
  }

  private checkReady(): void {
    const proc = this.proc;
    if (this.ready || this.stopped || !proc) return;
    const q = quorums(this.params.n, this.params.f);
    const peers = proc.transport.connectedPeers();
    if (peers.length + 1 < q.quorum) return;
    this.ready = true;
    const entry = replicaEntry(proc.cluster, this.id);
    const st = this.replica.status();
    const info: ReadyInfo = {
      event: 'ready',
      replica: this.id,
      pid: process.pid,
      host: entry.host,
      port: entry.port,
      view: st.view,
      lastExecuted: st.lastExecuted,
      connectedPeers: peers,
    };
    this.phase({ phase: 'ready', view: st.view, detail: `connected to replicas ${peers.join(',') || '(none)'}` });
    // announce readiness once the ready line is in the phase log (tools read it after)
    void this.phases.flush().then(() => {
      if (!this.stopped) proc.o.onReady?.(info);
    });
  }

  // -------------------------------------------------------------------------------------
  // Admin
  // -------------------------------------------------------------------------------------

  private onAdminFrame(f: Record<string, unknown>, respond: (frame: unknown) => void): void {
    const rid = typeof f.rid === 'number' || typeof f.rid === 'string' ? f.rid : null;
    if (f.type === 'status') {
      respond({ type: 'status', rid, status: this.status() });
      return;
    }
    if (f.type === 'command') {
      const v = this.proc!.gate.verify(f.command);
      if (!v.ok) {
        this.phase({ phase: 'admin', view: this.view, reason: 'refused', detail: v.error });
        respond({ type: 'result', rid, ok: false, error: v.error });
        return;
      }
      const r = this.applyCommand(v.command);
      if (typeof r === 'string') {
        this.phase({ phase: 'admin', view: this.view, reason: 'refused', detail: r });
        respond({ type: 'result', rid, ok: false, error: r });
      } else {
        // answer once the fault line is in the phase log: the operator's tools show it next
        const result = { replica: this.id, faults: this.faultState(), message: r.message };
        void this.phases.flush().then(() => respond({ type: 'result', rid, ok: true, result }));
      }
      return;
    }
    respond({ type: 'result', rid, ok: false, error: `unknown admin frame type ${JSON.stringify(f.type)?.slice(0, 40)}` });
  }

  /** Apply a verified operator command; a string is the reason it is refused. */
  applyCommand(cmd: AdminCommand): { message: string } | string {
    if (cmd.kind === 'faults') return { message: this.faultState().active.join('; ') || 'healthy' };
    const proc = this.proc;
    if (!proc?.faultInjection)
      return `fault injection is disabled on replica ${this.id} (${!proc ? 'a simulated node' : !proc.cluster.config.faultInjection ? 'faultInjection is false in cluster.json' : proc.o.faultInjection === false ? 'it was started with pbft up --no-fault-injection' : 'faultInjection is false in its replica.json'})`;
    let message: string;
    switch (cmd.kind) {
      case 'net':
        this.net.apply(cmd);
        message = cmd.action === 'heal' ? 'network faults lifted' : `network fault: ${this.net.describe().join(', ') || 'none'}`;
        break;
      case 'byzantine':
        try {
          this.byz.set(cmd.strategy);
        } catch (e) {
          return describeError(e);
        }
        message = cmd.strategy === null ? 'honest again' : `byzantine ${cmd.strategy}`;
        break;
      case 'clear':
        this.net.clear();
        this.byz.set(null);
        message = 'honest and healthy again';
        break;
    }
    this.phase({ phase: 'fault', view: this.view, detail: `${message}${cmd.kind === 'net' && cmd.action !== 'heal' ? '' : ''}` });
    void this.phases.flush();
    return { message };
  }

  faultState(): FaultState {
    const active = [...this.net.describe()];
    const b = this.byz?.strategy ?? null;
    if (b) active.push(`byzantine ${b}`);
    return { enabled: this.proc?.faultInjection ?? false, byzantine: b, byzantineCounters: { ...(this.byz?.counters ?? {}) }, net: this.net.state(), active };
  }

  // -------------------------------------------------------------------------------------
  // Status and shutdown
  // -------------------------------------------------------------------------------------

  status(): RuntimeStatus {
    const proc = this.proc;
    if (!proc) throw new Error('status: a simulated node has no process status (use core)');
    const entry = replicaEntry(proc.cluster, this.id);
    const base = this.replica.status();
    const wal = this.wal as DurableLog;
    const cpu = process.cpuUsage();
    return {
      ...base,
      pid: process.pid,
      host: entry.host,
      port: entry.port,
      ready: this.ready,
      startedAt: this.startedAt,
      uptimeMs: this.clock.now() - this.startedAt,
      connectedPeers: proc.transport.connectedPeers(),
      inboundPeers: proc.transport.inboundPeers(),
      clients: proc.transport.clientCount,
      sharedClientConnections: proc.transport.sharedClientConnections,
      faults: this.faultState(),
      transportDropped: { ...(proc.transport.drops as Record<string, number>) },
      runtimeDropped: { ...this.runtimeDropped },
      pipeline: {
        queued: this.queue.length,
        waitingBatches: this.waiting.length,
        walSyncing: this.syncing,
        ledgerWriting: this.ledgerWriting,
        heldForLedger: this.heldForLedger,
      },
      wal: {
        bytes: wal.sizeBytes,
        records: wal.recordCount,
        appends: wal.appends,
        compactions: wal.rollovers,
        segments: wal.segmentNumbers.length,
        deletedSegments: wal.deletedSegments,
      },
      ...(this.ledger
        ? {
            ledger: {
              bytes: this.ledger.sizeBytes,
              segments: this.ledger.segmentNumbers.length,
              writes: this.ledger.writes,
              lastSeq: this.ledger.lastSeq,
              deletedSegments: this.ledger.deletedSegments,
            },
          }
        : {}),
      traffic: { ...proc.transport.counters },
      batching: { ...this.batches },
      cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
      ...(this.metricsPort !== null ? { metricsPort: this.metricsPort } : {}),
    };
  }

  get isReady(): boolean {
    return this.ready;
  }
  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Close sockets, drop pending work (no effect of it went out), write the records gathered for
   * the next frame (lazy ones may back replies already sent; writing records whose effects never
   * go out is what a crash right after a write does), flush and close the logs.
   */
  async stop(reason = 'stopped'): Promise<void> {
    const wasStopped = this.stopped;
    this.stopped = true;
    for (const t of this.timers.values()) this.clock.clearTimeout(t.handle);
    this.timers.clear();
    for (const t of this.delayed) this.clock.clearTimeout(t);
    this.delayed.clear();
    if (this.lazyTimer !== null) this.clock.clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    this.queue = [];
    this.waiting = [];
    await this.proc?.transport.close();
    await this.metrics?.close();
    this.metrics = null;
    await this.wal.whenIdle();
    if (!this.fatal && !this.syncing && (this.nextRecords.length > 0 || this.nextLedger.length > 0)) {
      this.takeNextBatch();
      await this.wal.whenIdle();
    }
    this.nextRecords = [];
    this.nextLedger = [];
    // the ledger records of durable batches are written (the next start would repair them anyway)
    await this.ledgerDrained();
    await this.ledger?.whenIdle();
    await this.wal.whenIdle(); // segment deletions the ledger's last write released
    if (!wasStopped) this.phase({ phase: 'stop', view: this.view, detail: reason });
    await this.phases.close();
    this.wal.close();
    this.ledger?.close();
    this.removePidFile();
  }

  private removePidFile(): void {
    const proc = this.proc;
    if (!proc || proc.o.pidFile === false) return;
    try {
      const file = proc.cluster.paths.pid(this.id);
      if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
    } catch {
      /* ignore */
    }
  }
}
