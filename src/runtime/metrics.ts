/**
 * A replica's Prometheus metrics and health check, served on a loopback port of its own
 * (replica.json `metricsPort`): GET /metrics (text exposition format, prom-client) and
 * GET /healthz (200 when ready and in touch with a quorum, 503 otherwise; a JSON body says why).
 *
 * What is measured comes from the core's actions as the node performs them (batches, requests,
 * views, state transfers, phase times) and from its status at scrape time (view, watermarks,
 * drops by reason). Nothing here is on the protocol's path: a scrape reads, never waits.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import type { PhaseEvent, ReplicaAction } from '../core/types.js';
import type { RuntimeStatus } from './admin.js';

/** Phase-to-phase latencies per sequence number: the intervals the histogram reports. */
const PHASE_STEPS: readonly { from: PhaseEvent['phase']; to: PhaseEvent['phase']; label: string }[] = [
  { from: 'pre-prepare', to: 'prepared', label: 'pre-prepare->prepared' },
  { from: 'prepared', to: 'committed', label: 'prepared->committed' },
  { from: 'committed', to: 'execute', label: 'committed->executed' },
  { from: 'pre-prepare', to: 'execute', label: 'pre-prepare->executed' },
];
/** Sequence numbers tracked for phase times at once (older ones are forgotten). */
const MAX_TRACKED_SEQS = 4096;

export interface MetricsSource {
  status(): RuntimeStatus;
  /** ready, and connected to at least 2f peers (a quorum with itself) */
  healthy(): { ok: boolean; why: string };
}

export class ReplicaMetrics {
  readonly registry = new client.Registry();
  private readonly batches: client.Counter;
  private readonly requests: client.Counter;
  private readonly viewsEntered: client.Counter;
  private readonly stateTransfers: client.Counter;
  private readonly checkpoints: client.Counter;
  private readonly phaseSeconds: client.Histogram;
  /** seq -> when each phase was first seen (ms, performance.now) */
  private readonly seen = new Map<number, Partial<Record<PhaseEvent['phase'], number>>>();
  private server: http.Server | null = null;
  private readonly lastDrops = new Map<string, number>();
  /** the status every collector of the scrape under way reads (one snapshot per scrape) */
  private scrapeStatus: RuntimeStatus | null = null;

  constructor(
    private readonly source: MetricsSource,
    labels: { replica: number; cluster: string },
    private readonly now: () => number = () => performance.now(),
  ) {
    const r = this.registry;
    // one status per scrape (scrape()), or a fresh one when the registry is read directly
    const status = () => this.scrapeStatus ?? source.status();
    r.setDefaultLabels({ replica: String(labels.replica), cluster: labels.cluster });
    client.collectDefaultMetrics({ register: r, prefix: 'pbft_process_' });
    this.batches = new client.Counter({ name: 'pbft_batches_executed_total', help: 'Committed batches executed (one per sequence number)', registers: [r] });
    this.requests = new client.Counter({ name: 'pbft_requests_executed_total', help: 'Client requests executed', registers: [r] });
    this.viewsEntered = new client.Counter({ name: 'pbft_views_entered_total', help: 'Views entered after view 0 (view changes seen here)', registers: [r] });
    this.stateTransfers = new client.Counter({ name: 'pbft_state_transfers_total', help: 'Checkpointed states installed from peers', registers: [r] });
    this.checkpoints = new client.Counter({ name: 'pbft_checkpoints_stable_total', help: 'Checkpoints that became stable here', registers: [r] });
    this.phaseSeconds = new client.Histogram({
      name: 'pbft_phase_seconds',
      help: 'Time between protocol phases of one sequence number at this replica',
      labelNames: ['step'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    const gauge = (name: string, help: string, read: (s: RuntimeStatus) => number) =>
      new client.Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(read(status()));
        },
      });
    gauge('pbft_view', 'Current view', (s) => s.view);
    gauge('pbft_view_changing', '1 while a view change is in progress', (s) => (s.viewChanging ? 1 : 0));
    gauge('pbft_last_executed', 'Highest sequence number executed', (s) => s.lastExecuted);
    gauge('pbft_stable_checkpoint', 'Sequence number of the stable checkpoint (low watermark)', (s) => s.stableCheckpoint);
    gauge('pbft_high_watermark', 'High watermark of the log window', (s) => s.highWatermark);
    gauge('pbft_pending_requests', 'Requests waiting to be ordered', (s) => s.pendingRequests);
    gauge('pbft_is_primary', '1 when this replica is the primary of its view', (s) => (s.primary === s.id ? 1 : 0));
    gauge('pbft_recovering', '1 while recovering from a lost or damaged durable log', (s) => (s.recovery ? 1 : 0));
    gauge('pbft_connected_peers', 'Peers with an open connection', (s) => s.connectedPeers?.length ?? 0);
    // Drops are cumulative counts in the status: at each scrape, add what is new since the last.
    const lastDrops = this.lastDrops;
    new client.Counter({
      name: 'pbft_messages_dropped_total',
      help: 'Messages dropped, by class (ignore: stale or duplicate; reject: invalid, evidence against the sender; transport; runtime) and reason',
      labelNames: ['class', 'reason'],
      registers: [r],
      collect() {
        const s = status();
        const add = (cls: string, counts: Record<string, number | undefined> | undefined) => {
          for (const [reason, v] of Object.entries(counts ?? {})) {
            if (typeof v !== 'number') continue;
            const k = `${cls}\u0000${reason}`;
            const d = v - (lastDrops.get(k) ?? 0);
            if (d > 0) this.inc({ class: cls, reason }, d);
            lastDrops.set(k, v);
          }
        };
        add('ignore', s.dropped?.ignore);
        add('reject', s.dropped?.reject);
        add('transport', s.transportDropped);
        add('runtime', s.runtimeDropped);
      },
    });
    // How requests and replies were authenticated (README, Authentication): cumulative in the status
    cumulativeCounter(
      r,
      'pbft_authentications_total',
      'Client requests and replies authenticated, by kind: requestsByMac (fast path), requestsBySignature (slow path), requestsUnauthenticated, prePreparesVouched, proposalsSignatureChecked, proposalsDropped, repliesByMac, repliesBySignature',
      'kind',
      () => status().auth as unknown as Record<string, number> | undefined,
    );
    // The primary's batch holds (protocol.batchHoldMs): many that ran out mean a window too short
    cumulativeCounter(
      r,
      'pbft_batch_holds_total',
      'Batch holds of this replica as primary, by outcome: started, allBack (every awaited client came back), ranOut (the window or the limit ended first); and waitedOn (windows that ended with none of the clients back yet, so the hold waited on)',
      'outcome',
      () => status().batchHolds as unknown as Record<string, number> | undefined,
    );
  }

  /** Called for every action the node performs. */
  onAction(a: ReplicaAction): void {
    switch (a.type) {
      case 'executed':
        if (a.certificate === null) return; // re-executed from its own log at restart
        this.batches.inc();
        if (a.requests.length > 0) this.requests.inc(a.requests.length);
        return;
      case 'view-entered':
        if (a.view > 0) this.viewsEntered.inc();
        return;
      case 'state-installed':
        this.stateTransfers.inc();
        return;
      case 'checkpoint-stable':
        this.checkpoints.inc();
        return;
      case 'log':
        this.onPhase(a.event);
        return;
      default:
        return;
    }
  }

  private onPhase(e: PhaseEvent): void {
    if (e.seq === undefined || e.peer !== undefined) return; // own phases only
    if (e.phase !== 'pre-prepare' && e.phase !== 'prepared' && e.phase !== 'committed' && e.phase !== 'execute') return;
    let times = this.seen.get(e.seq);
    if (!times) {
      if (e.phase !== 'pre-prepare') return; // started before we watched: no interval to report
      if (this.seen.size >= MAX_TRACKED_SEQS) {
        const oldest = this.seen.keys().next().value;
        if (oldest !== undefined) this.seen.delete(oldest);
      }
      times = {};
      this.seen.set(e.seq, times);
    }
    if (times[e.phase] !== undefined) return;
    const t = this.now();
    times[e.phase] = t;
    for (const s of PHASE_STEPS) {
      const from = times[s.from];
      if (s.to === e.phase && from !== undefined) this.phaseSeconds.observe({ step: s.label }, (t - from) / 1000);
    }
    if (e.phase === 'execute') this.seen.delete(e.seq);
  }

  /** Serve /metrics and /healthz on 127.0.0.1:port (0: any free port). Resolves to the port. */
  async listen(port: number): Promise<number> {
    const server = http.createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (url === '/metrics') {
        const body = await this.scrape();
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
      } else if (url === '/healthz') {
        const h = this.source.healthy();
        const s = this.source.status();
        const body = JSON.stringify({
          ok: h.ok,
          why: h.why,
          replica: s.id,
          view: s.view,
          lastExecuted: s.lastExecuted,
          stableCheckpoint: s.stableCheckpoint,
          recovering: s.recovery?.phase ?? null,
        });
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : `${body}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
      }
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`);
    }
  }

  /** The metrics text: every collector reads one status snapshot, taken here. */
  async scrape(): Promise<string> {
    this.scrapeStatus = this.source.status();
    try {
      return await this.registry.metrics();
    } finally {
      this.scrapeStatus = null;
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections?.();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** A counter per label value that follows cumulative counts the status keeps (read at each scrape; adds what grew since the last). */
function cumulativeCounter(r: client.Registry, name: string, help: string, label: string, read: () => Record<string, number> | undefined): void {
  const last = new Map<string, number>();
  new client.Counter({
    name,
    help,
    labelNames: [label],
    registers: [r],
    collect() {
      for (const [value, v] of Object.entries(read() ?? {})) {
        const d = v - (last.get(value) ?? 0);
        if (d > 0) this.inc({ [label]: value }, d);
        last.set(value, v);
      }
    },
  });
}
