/**
 * ReplicaNode: the real-world driver of one sans-I/O PBFT core.
 *
 * Loop: events (peer messages, client requests, timers) are queued and drained in one
 * event-loop turn; the persist records the core returned for that turn are written to the
 * durable log as ONE frame and made durable (asynchronously, off the event loop), and only then
 * are the turn's messages, multicasts and replies sent: persist-before-send, as a group commit
 * (see commit()).
 * Timers are setTimeout by name (replaced on set; a fired timer is delivered only while still
 * set).
 *
 * Around the core: a Byzantine layer (honest unless an operator says otherwise), a network
 * fault layer on inbound and outbound replica messages, the phase log, a status snapshot and
 * the admin channel. Nothing from outside can crash it: every handler is guarded and every
 * drop counted.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { KvStore } from '../app/kv.js';
import { compactRecords, Replica } from '../core/replica.js';
import { quorums } from '../core/quorum.js';
import type { PersistRecord, ReplicaAction, ReplicaEvent, ReplicaId, TimerName } from '../core/types.js';
import { KeyedAuthenticator } from '../crypto/index.js';
import { PbftError, describeError } from '../errors.js';
import { AdminGate, type FaultState, type RuntimeStatus } from './admin.js';
import { makeByzantine, type ByzantineHooks } from './byzantine-hook.js';
import { CorruptibleApp } from '../byzantine/index.js';
import { loadReplicaOverrides, readReplicaSecret, replicaEntry, type LoadedCluster, type ReplicaOverrides } from './config.js';
import { writeFileAtomicSync } from './fsutil.js';
import { NetFaults } from './netfaults.js';
import { PhaseLogWriter, type PhaseLine } from '../phaselog/index.js';
import { ReplicaMetrics } from './metrics.js';
import { DurableLog } from './storage.js';
import { AuditLedger } from './ledger.js';
import { LedgerFeed } from './ledger-feed.js';
import type { LedgerRecord } from './ledger.js';
import { ReplicaTransport } from './transport.js';
import { MAX_COALESCED_MESSAGES, type AdminCommand } from './wire.js';

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

type QueuedEvent = { ev: ReplicaEvent; timerGen?: number };

const MAX_QUEUE = 100_000;
const MAX_DELAYED = 100_000;
const DRAIN_BATCH = 512;
/** a coalesced frame to one peer is flushed beyond this many serialized bytes */
const COALESCE_MAX_BYTES = 256 * 1024;

export class ReplicaNode {
  readonly id: ReplicaId;
  readonly cluster: LoadedCluster;
  private readonly startedAt = Date.now();
  private replica!: Replica;
  private wal!: DurableLog;
  /** the audit ledger (ledger.ts), written with each durable-log batch */
  private ledger!: AuditLedger;
  private ledgerFeed!: LedgerFeed;
  private nextLedger: LedgerRecord[] = [];
  private phases!: PhaseLogWriter;
  private transport!: ReplicaTransport;
  private byz!: ByzantineHooks;
  private app!: CorruptibleApp;
  private gate!: AdminGate;
  private readonly net = new NetFaults();
  private readonly timers = new Map<TimerName, { handle: NodeJS.Timeout; gen: number }>();
  private timerGen = 0;
  private queue: QueuedEvent[] = [];
  private drainScheduled = false;
  /** group commit: a sync is in flight for batch `batchId` */
  private syncing = false;
  private batchId = 0;
  /** records waiting for the next batch, and effects waiting for their batch to be durable */
  private nextRecords: PersistRecord[] = [];
  private waiting: { batch: number; effects: ReplicaAction[] }[] = [];
  private readonly delayed = new Set<NodeJS.Timeout>();
  private readonly runtimeDropped: Record<string, number> = {};
  private view = 0;
  private ready = false;
  private stopped = false;
  private fatal = false;
  private faultInjection = true;
  private overrides: ReplicaOverrides = {};
  /** Prometheus /metrics and /healthz (replica.json metricsPort), when configured and listening */
  private metrics: ReplicaMetrics | null = null;
  private metricsPort: number | null = null;
  private coreErrors = 0;
  /** pre-prepares sent as primary and the requests they carried (bench: mean batch size) */
  private readonly batches = { prePrepares: 0, requests: 0, max: 0 };
  private ppView = -1;
  private ppSeq = -1;
  private readonly diag: (line: string) => void;

  private constructor(private readonly o: ReplicaNodeOptions) {
    this.id = o.id;
    this.cluster = o.cluster;
    this.diag = o.log ?? ((l) => process.stderr.write(`${new Date().toISOString()} replica ${o.id}: ${l}\n`));
  }

  /** Load the key and the durable log, bind the port, start the core and connect to peers. */
  static async start(o: ReplicaNodeOptions): Promise<ReplicaNode> {
    const node = new ReplicaNode(o);
    await node.init();
    return node;
  }

  private async init(): Promise<void> {
    const { cluster, id } = this;
    const entry = replicaEntry(cluster, id);
    const secret = await readReplicaSecret(cluster, id, { warn: (m) => this.diag(`warning: ${m}`) });
    this.overrides = await loadReplicaOverrides(cluster, id);
    this.faultInjection = cluster.config.faultInjection && this.o.faultInjection !== false && this.overrides.faultInjection !== false;
    try {
      mkdirSync(cluster.paths.replicaDir(id), { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new PbftError('IO', `replica ${id}: cannot create ${cluster.paths.replicaDir(id)}: ${describeError(e)}`, { cause: e });
    }

    this.transport = new ReplicaTransport({
      cluster,
      id,
      secret,
      events: {
        onPeerMessage: (from, msg) => this.onPeerMessage(from, msg),
        onClientRequest: (_client, msg) => this.onClientRequest(msg),
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
    // Bind first: a second process for the same replica fails here, before touching the log.
    await this.transport.listen();
    try {
      const fsync = this.overrides.fsync !== false;
      if (this.o.pidFile !== false) writeFileAtomicSync(cluster.paths.pid(id), `${process.pid}\n`, 0o644, { fsync });
      this.phases = new PhaseLogWriter(cluster.paths.phases(id), {
        replica: id,
        enabled: this.overrides.phaseLog !== false,
        maxBytes: this.overrides.phaseLogMaxBytes,
      });
      const walOptions = { fsync, compact: compactRecords, legacyFile: cluster.paths.wal(id), label: `replica ${id}` };
      let recover: { timestamp: number; nonce: string } | undefined;
      try {
        this.wal = DurableLog.open(cluster.paths.walDir(id), walOptions);
      } catch (e) {
        if (!(e instanceof PbftError) || e.code !== 'WAL_CORRUPT') throw e;
        // A record before the last failed its checksum: what this replica signed is unknown.
        // Keep the damaged log for inspection, start empty, and recover (the core's recovery
        // mode: no votes until that is safe; the state comes back by state transfer).
        const aside = moveDamagedLog(cluster.paths.walDir(id), cluster.paths.wal(id));
        this.diag(
          `durable log damaged: ${e.message.split('; the replica cannot')[0]}. Moved aside to ${aside.join(', ')}; starting empty in recovery mode (no votes until safe; state by transfer from peers)`,
        );
        this.wal = DurableLog.open(cluster.paths.walDir(id), walOptions);
        recover = { timestamp: Date.now(), nonce: randomBytes(8).toString('hex') };
      }
      const lr = this.wal.loadReport;
      const mig = lr.migrated;
      if (mig)
        this.diag(
          `durable log: converted ${mig.from} (the single-file format of older versions, ${mig.records} records${mig.tornTail ? ', a torn last append ignored' : ''}) to segment files in ${cluster.paths.walDir(id)}; the old file now holds a note that stops older versions from starting`,
        );
      if (lr.tornTail) this.diag(`durable log: ignored a torn last append (crash during a write); ${lr.records} records kept`);
      if (this.overrides.fsync === false) this.diag('warning: fsync is off (replica.json): a crash may lose what this replica signed');

      const auth = new KeyedAuthenticator(cluster.scheme, secret, cluster.keyring);
      const seed = randomBytes(4).readUInt32LE(0);
      let s = seed;
      const rng = () => {
        // mulberry32: fault strategies only need a cheap non-cryptographic stream
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      this.app = new CorruptibleApp(new KvStore(), rng);
      this.byz = (this.o.byzantine ?? makeByzantine)({ id, params: cluster.params, auth, rng }, this.app);
      this.gate = new AdminGate(cluster, id);
      const persisted = this.wal.takeRecords();
      this.ledger = AuditLedger.open(cluster.paths.ledgerDir(id), {
        replica: id,
        clusterId: cluster.keyring.clusterId,
        fsync,
        segmentBytes: this.overrides.ledgerSegmentBytes,
        maxBytes: this.overrides.ledgerMaxBytes,
      });
      if (this.ledger.openReport.tornTail) this.diag('audit ledger: ignored a torn last write (crash during a write)');
      if (this.ledger.openReport.damaged)
        this.diag(`audit ledger: a damaged record (${this.ledger.openReport.damaged}) left in place for pbft verify; writing goes on in a new segment`);
      this.ledgerFeed = new LedgerFeed(id, this.ledger.lastSeq, this.ledger.lastCheckpoint, persisted);
      try {
        this.replica = new Replica({ id, params: cluster.params, auth, app: this.app, persisted, recover });
      } catch (e) {
        throw new PbftError('CONFIG_INVALID', `replica ${id}: the core refused its parameters: ${describeError(e)}; fix protocol in cluster.json`, {
          cause: e,
        });
      }
      this.phase({ phase: 'start', view: 0, detail: `pid ${process.pid}, listening on ${entry.host}:${entry.port}, ${persisted.length} durable records` });
      let actions: ReplicaAction[];
      try {
        actions = this.byz.transform(this.replica.start());
      } catch (e) {
        throw new PbftError(
          'WAL_CORRUPT',
          `replica ${id}: cannot restart from its durable log ${cluster.paths.walDir(id)}: ${describeError(e)}; restore it, or move it aside to restart empty and catch up from peers`,
          { cause: e },
        );
      }
      this.view = this.replica.status().view;
      this.carryOut(actions);
    } catch (e) {
      await this.transport.close();
      await this.phases?.close();
      this.ledger?.close();
      this.removePidFile();
      throw e;
    }
    this.transport.connectPeers();
    await this.startMetrics();
    this.checkReady();
  }

  private async startMetrics(): Promise<void> {
    const port = this.overrides.metricsPort;
    if (port === undefined) return;
    const q = quorums(this.cluster.params.n, this.cluster.params.f);
    const m = new ReplicaMetrics(
      {
        status: () => this.status(),
        healthy: () => {
          const peers = this.transport.connectedPeers().length;
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
      setImmediate(() => this.drain());
    }
  }

  private later(delayMs: number, fn: () => void): void {
    if (this.delayed.size >= MAX_DELAYED) {
      this.countDrop('overload');
      return;
    }
    const t = setTimeout(() => {
      this.delayed.delete(t);
      if (!this.stopped) fn();
    }, delayMs);
    this.delayed.add(t);
  }

  private onPeerMessage(from: ReplicaId, msg: unknown): void {
    const d = this.net.decide(from);
    if (d.drop) return this.countDrop(`fault-${d.reason}-in`);
    if (d.delayMs > 0) return this.later(d.delayMs, () => this.enqueue({ ev: { type: 'message', from, msg } }));
    this.enqueue({ ev: { type: 'message', from, msg } });
  }

  private onClientRequest(msg: unknown): void {
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
      for (const a of actions) {
        if (a.type === 'persist') persists.push(a.record);
        else if (a.type === 'setTimer' || a.type === 'cancelTimer') this.timerAction(a);
        else effects.push(a);
      }
    }
    this.commit(persists, effects);
    if (this.queue.length > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
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
   */
  private commit(persists: PersistRecord[], effects: ReplicaAction[]): void {
    if (this.fatal) return;
    const audit = this.ledgerFeed.collect(persists, effects);
    if (!this.syncing) {
      if (persists.length === 0 && audit.length === 0 && this.waiting.length === 0) return this.performAll(effects);
      this.waiting.push({ batch: this.batchId + 1, effects });
      this.startBatch(persists, audit);
      return;
    }
    for (const r of persists) this.nextRecords.push(r);
    for (const r of audit) this.nextLedger.push(r);
    this.waiting.push({ batch: this.batchId + 1, effects });
  }

  /** The durable log's frame and the audit ledger's, written concurrently; the batch is done when both are. */
  private startBatch(records: PersistRecord[], audit: LedgerRecord[]): void {
    this.batchId++;
    this.syncing = true;
    let left = 2;
    let first: PbftError | null = null;
    const one = (err: PbftError | null) => {
      first ??= err;
      if (--left === 0) this.onSynced(first);
    };
    try {
      this.wal.commit(records, one);
    } catch (e) {
      this.syncing = false;
      return this.walFailed(e);
    }
    try {
      this.ledger.commit(audit, one);
    } catch (e) {
      one(e instanceof PbftError ? e : new PbftError('LEDGER_IO', `replica ${this.id}: audit ledger failure: ${describeError(e)}`, { cause: e }));
    }
  }

  private onSynced(err: PbftError | null): void {
    this.syncing = false;
    if (err) return this.walFailed(err);
    if (this.fatal) return;
    this.release(this.batchId);
    if (this.nextRecords.length > 0 || this.nextLedger.length > 0 || this.waiting.length > 0) {
      const recs = this.nextRecords;
      const audit = this.nextLedger;
      this.nextRecords = [];
      this.nextLedger = [];
      this.startBatch(recs, audit);
    }
  }

  private release(upTo: number): void {
    while (this.waiting.length > 0 && this.waiting[0]!.batch <= upTo) this.performAll(this.waiting.shift()!.effects);
  }

  private performAll(effects: ReplicaAction[]): void {
    if (this.stopped) return;
    for (const a of effects) {
      try {
        this.perform(a);
      } catch (e) {
        this.countDrop('driver-error');
        this.diag(`error performing ${a.type}: ${describeError(e)}`);
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
    this.o.onFatal?.(err);
  }

  private coreError(e: unknown, ev: ReplicaEvent): void {
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
    if (old) clearTimeout(old.handle);
    this.timers.delete(a.name);
    if (a.type === 'cancelTimer') return;
    const gen = ++this.timerGen;
    const name = a.name;
    const handle = setTimeout(() => this.enqueue({ ev: { type: 'timer', name }, timerGen: gen }), Math.max(0, a.afterMs));
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
    const m = msg.msg as { body?: { type?: unknown; view?: unknown; seq?: unknown; replica?: unknown }; batch?: unknown };
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
      case 'send':
        this.countPrePrepare(a);
        if (a.to !== this.id) this.sendPeer(a.to, JSON.stringify(a.msg));
        return;
      case 'multicast': {
        this.countPrePrepare(a);
        const json = JSON.stringify(a.msg);
        for (let i = 0; i < this.cluster.params.n; i++) if (i !== this.id) this.sendPeer(i, json);
        return;
      }
      case 'reply': {
        const d = this.net.decideClient();
        if (d.drop) return this.countDrop(`fault-${d.reason}-out`);
        const frame = JSON.stringify({ type: 'reply', msg: a.msg });
        if (d.delayMs > 0) return this.later(d.delayMs, () => this.transport.sendToClient(a.client, frame));
        this.transport.sendToClient(a.client, frame);
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
    if (this.ready || this.stopped) return;
    const q = quorums(this.cluster.params.n, this.cluster.params.f);
    const peers = this.transport.connectedPeers();
    if (peers.length + 1 < q.quorum) return;
    this.ready = true;
    const entry = replicaEntry(this.cluster, this.id);
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
      if (!this.stopped) this.o.onReady?.(info);
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
      const v = this.gate.verify(f.command);
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
    if (!this.faultInjection)
      return `fault injection is disabled on replica ${this.id} (${!this.cluster.config.faultInjection ? 'faultInjection is false in cluster.json' : this.o.faultInjection === false ? 'it was started with pbft up --no-fault-injection' : 'faultInjection is false in its replica.json'})`;
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
    return { enabled: this.faultInjection, byzantine: b, byzantineCounters: { ...(this.byz?.counters ?? {}) }, net: this.net.state(), active };
  }

  // -------------------------------------------------------------------------------------
  // Status and shutdown
  // -------------------------------------------------------------------------------------

  status(): RuntimeStatus {
    const entry = replicaEntry(this.cluster, this.id);
    const base = this.replica.status();
    const wal = this.wal;
    const cpu = process.cpuUsage();
    return {
      ...base,
      pid: process.pid,
      host: entry.host,
      port: entry.port,
      ready: this.ready,
      startedAt: this.startedAt,
      uptimeMs: Date.now() - this.startedAt,
      connectedPeers: this.transport.connectedPeers(),
      inboundPeers: this.transport.inboundPeers(),
      clients: this.transport.clientCount,
      faults: this.faultState(),
      transportDropped: { ...(this.transport.drops as Record<string, number>) },
      runtimeDropped: { ...this.runtimeDropped },
      wal: {
        bytes: wal.sizeBytes,
        records: wal.recordCount,
        appends: wal.appends,
        compactions: wal.rollovers,
        segments: wal.segmentNumbers.length,
        deletedSegments: wal.deletedSegments,
      },
      ledger: {
        bytes: this.ledger.sizeBytes,
        segments: this.ledger.segmentNumbers.length,
        writes: this.ledger.writes,
        lastSeq: this.ledger.lastSeq,
        deletedSegments: this.ledger.deletedSegments,
      },
      traffic: { ...this.transport.counters },
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

  /** Close sockets, drop pending work (nothing of it was promised), flush and close the logs. */
  async stop(reason = 'stopped'): Promise<void> {
    const wasStopped = this.stopped;
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.handle);
    this.timers.clear();
    for (const t of this.delayed) clearTimeout(t);
    this.delayed.clear();
    this.queue = [];
    this.waiting = [];
    this.nextRecords = [];
    this.nextLedger = [];
    await this.transport.close();
    await this.metrics?.close();
    this.metrics = null;
    await this.wal.whenIdle();
    await this.ledger.whenIdle();
    if (!wasStopped) this.phase({ phase: 'stop', view: this.view, detail: reason });
    await this.phases.close();
    this.wal.close();
    this.ledger.close();
    this.removePidFile();
  }

  private removePidFile(): void {
    if (this.o.pidFile === false) return;
    try {
      const file = this.cluster.paths.pid(this.id);
      if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
    } catch {
      /* ignore */
    }
  }
}

/**
 * Move a damaged durable log out of the way (its wal directory, and the single-file log of
 * older versions if present) under a name that says when: `<path>.damaged-<time>`. Returns
 * the new paths.
 */
function moveDamagedLog(walDir: string, legacyFile: string): string[] {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const moved: string[] = [];
  for (const p of [walDir, legacyFile]) {
    if (!existsSync(p)) continue;
    const to = `${p}.damaged-${stamp}`;
    try {
      renameSync(p, to);
    } catch (e) {
      throw new PbftError('WAL_IO', `cannot move the damaged durable log ${p} aside to ${to}: ${describeError(e)}; move it yourself and restart`, { cause: e });
    }
    moved.push(to);
  }
  return moved;
}
