/**
 * What `pbft web` streams to its pages: the phase logs as `pbft logs -f` follows them, the
 * replicas' status as `pbft status` gets it, and throughput and latency derived from the logs.
 *
 * Load on the cluster: reading the phase logs costs the replicas nothing (they are files);
 * the status is one query per replica per `statusMs` on the admin channel, and only while at
 * least one page is connected. Records go to the pages in batches every `flushMs`; above
 * `budgetPerSec` records a second, only the records of one sequence number (and one request)
 * in k are sent, and the page says so.
 */
import { PhaseTail, discoverPhaseFiles, followPhaseLogs, mergePhaseLogs, offsetAtTime, recordTimeMs, type PhaseRecord } from '../phaselog/index.js';
import type { LoadedCluster } from '../runtime/config.js';
import { clusterStatus, summarizeStatus } from '../cluster/status.js';
import type { DiagramRecord } from './model.js';
import type { LiveMessage } from './protocol.js';
import { TrafficStats } from './stats.js';

/** the type of what subscribe() delivers (defined with the page's other types) */
export type { LiveMessage } from './protocol.js';

export interface LiveOptions {
  statusMs?: number;
  flushMs?: number;
  pollMs?: number;
  /** records per second sent to the pages before sampling (default 3000) */
  budgetPerSec?: number;
  /** history read at start, ms (default 30 s) */
  backlogMs?: number;
  /** records kept for pages that connect later (default 20000) */
  keep?: number;
}

/** The fields of a phase record the page uses (extra fields are dropped). */
export function toDiagramRecord(r: PhaseRecord): DiagramRecord {
  const out: DiagramRecord = { ts: recordTimeMs(r), replica: r.replica, view: r.view, phase: r.phase };
  if (r.seq !== undefined) out.seq = r.seq;
  if (typeof r.digest === 'string') out.digest = r.digest.slice(0, 16);
  if (typeof r.peer === 'number') out.peer = r.peer;
  if (typeof r.client === 'string') out.client = r.client;
  if (typeof r.timestamp === 'number') out.timestamp = r.timestamp;
  if (typeof r.reason === 'string') out.reason = r.reason;
  if (typeof r.detail === 'string') out.detail = r.detail.length > 300 ? `${r.detail.slice(0, 299)}…` : r.detail;
  return out;
}

export class LiveFeed {
  private readonly subscribers = new Set<(m: LiveMessage) => void>();
  private readonly recent: DiagramRecord[] = [];
  private pending: DiagramRecord[] = [];
  private readonly stats: TrafficStats;
  private lastStatus: Extract<LiveMessage, { type: 'status' }> | null = null;
  private readonly abort = new AbortController();
  private started: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private statusBusy = false;
  private sample = 1;
  private seenThisSecond = 0;
  /** status queries sent (for the load measurement) */
  statusQueries = 0;

  constructor(
    readonly cluster: LoadedCluster,
    private readonly o: LiveOptions = {},
  ) {
    this.stats = new TrafficStats(cluster.params.f);
  }

  /** Start following (idempotent). */
  start(): Promise<void> {
    this.started ??= this.run();
    return this.started;
  }

  subscribe(fn: (m: LiveMessage) => void): () => void {
    this.subscribers.add(fn);
    void this.start();
    // what a new page needs first: the recent records, the last status, the charts
    fn({ type: 'records', records: this.recent.slice(0, this.recent.length - this.pending.length), sample: this.sample });
    if (this.lastStatus) fn(this.lastStatus);
    else void this.pollStatus();
    fn({ type: 'stats', stats: this.stats.snapshot(Date.now()), atMs: Date.now() });
    return () => this.subscribers.delete(fn);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Records that did not come from the logs (the page's own requests, on the client lane). */
  inject(records: DiagramRecord[]): void {
    for (const r of records) this.accept(r, true);
  }

  close(): void {
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.subscribers.clear();
  }

  private broadcast(m: LiveMessage): void {
    for (const fn of this.subscribers) {
      try {
        fn(m);
      } catch {
        /* a page that went away */
      }
    }
  }

  private accept(r: DiagramRecord, always = false): void {
    this.stats.add(r);
    this.seenThisSecond++;
    if (!always && this.sample > 1) {
      const k = r.seq ?? r.timestamp;
      if (k !== undefined && k % this.sample !== 0) return;
    }
    this.recent.push(r);
    const keep = this.o.keep ?? 20_000;
    if (this.recent.length > keep * 1.25) this.recent.splice(0, this.recent.length - keep);
    this.pending.push(r);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const records = this.pending;
    this.pending = [];
    this.broadcast({ type: 'records', records, sample: this.sample });
  }

  async pollStatus(): Promise<void> {
    if (this.statusBusy || this.abort.signal.aborted) return;
    this.statusBusy = true;
    try {
      const rows = await clusterStatus(this.cluster, { timeoutMs: Math.max(500, (this.o.statusMs ?? 1000) - 100), signal: this.abort.signal });
      this.statusQueries += rows.filter((r) => r.process !== 'paused').length;
      const summary = summarizeStatus(this.cluster, rows);
      this.lastStatus = { type: 'status', rows: rows.map(({ status: _s, ...r }) => r), summary, atMs: Date.now() };
      this.broadcast(this.lastStatus);
    } catch {
      /* aborted, or the directory went away: the next poll tries again */
    } finally {
      this.statusBusy = false;
    }
  }

  private async run(): Promise<void> {
    const ids = this.cluster.config.replicas.map((r) => r.id);
    const files = await discoverPhaseFiles(this.cluster.dir, ids);
    const snapshot = await PhaseTail.snapshot(files);
    const since = Date.now() - (this.o.backlogMs ?? 30_000);
    const startOffsets = new Map<string, number>();
    for (const f of files) startOffsets.set(f.path, await offsetAtTime(f.path, since));
    const endOffsets = new Map([...snapshot].map(([k, v]) => [k, v.offset]));
    for await (const rec of mergePhaseLogs(files, { sinceMs: since }, { startOffsets, endOffsets, signal: this.abort.signal }))
      this.accept(toDiagramRecord(rec));
    this.flush();

    const flushMs = this.o.flushMs ?? 250;
    const budget = this.o.budgetPerSec ?? 3000;
    this.timers.push(setInterval(() => this.flush(), flushMs));
    this.timers.push(
      setInterval(() => {
        // adapt the sampling to the last second's rate
        const rate = this.seenThisSecond;
        this.seenThisSecond = 0;
        this.sample = rate > budget ? Math.ceil(rate / budget) : 1;
        if (this.subscribers.size > 0) this.broadcast({ type: 'stats', stats: this.stats.snapshot(Date.now()), atMs: Date.now() });
      }, 1000),
    );
    this.timers.push(
      setInterval(() => {
        if (this.subscribers.size > 0) void this.pollStatus();
      }, this.o.statusMs ?? 1000),
    );
    for (const t of this.timers) t.unref();
    void followPhaseLogs({
      files: async () => files,
      watchDirs: async () => ids.map((id) => this.cluster.paths.replicaDir(id)),
      startOffsets: snapshot,
      onRecord: (rec) => this.accept(toDiagramRecord(rec)),
      signal: this.abort.signal,
      pollMs: this.o.pollMs ?? 250,
    }).catch(() => undefined);
  }
}
