/**
 * Throughput and latency as `pbft web` observes them from the phase logs, whatever sends the
 * traffic (pbft bench, pbft chaos, the page, any client): a request counts as completed when
 * f+1 replicas have logged their reply to it (what a client needs to accept it); its latency is
 * from the first replica's `request` record to that reply. This leaves out the client's own
 * network hops: it is the cluster's share of the latency, measured on the replicas' clocks.
 */
import type { DiagramRecord } from './model.js';

/** Latency histogram bucket upper bounds, ms (the last bucket is everything above). */
export const LATENCY_EDGES_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];

export interface LatencyHistogram {
  /** upper bounds, ms; counts has one more entry (above the last edge) */
  edges: number[];
  counts: number[];
  n: number;
  p50: number | null;
  p99: number | null;
  /** the window it covers, seconds */
  windowSec: number;
}

export interface StatsSnapshot {
  /** [second (ms since the epoch, floor), requests completed in it] for the last `historySec` seconds, oldest first */
  throughput: [number, number][];
  latency: LatencyHistogram;
  completed: number;
}

interface Pending {
  firstMs: number;
  replies: Set<number>;
  done: boolean;
}

export class TrafficStats {
  private readonly pending = new Map<string, Pending>();
  private readonly perSecond = new Map<number, number>();
  private latencies: { at: number; ms: number }[] = [];
  private completed = 0;

  constructor(
    /** f+1 replies complete a request */
    private readonly f: number,
    private readonly o: { historySec?: number; latencyWindowSec?: number; pendingTtlMs?: number } = {},
  ) {}

  add(r: DiagramRecord): void {
    if (r.client === undefined || r.timestamp === undefined || r.replica < 0) return;
    if (r.phase !== 'request' && r.phase !== 'reply') return;
    const k = `${r.client}/${r.timestamp}`;
    let p = this.pending.get(k);
    if (!p) {
      p = { firstMs: r.ts, replies: new Set(), done: false };
      this.pending.set(k, p);
    }
    if (r.phase === 'request') {
      p.firstMs = Math.min(p.firstMs, r.ts);
      return;
    }
    p.replies.add(r.replica);
    if (!p.done && p.replies.size >= this.f + 1) {
      p.done = true;
      this.completed++;
      const sec = Math.floor(r.ts / 1000) * 1000;
      this.perSecond.set(sec, (this.perSecond.get(sec) ?? 0) + 1);
      this.latencies.push({ at: r.ts, ms: Math.max(0, r.ts - p.firstMs) });
    }
  }

  /** Forget old state and return the charts' data as of nowMs. */
  snapshot(nowMs: number): StatsSnapshot {
    const historySec = this.o.historySec ?? 120;
    const windowSec = this.o.latencyWindowSec ?? 60;
    const ttl = this.o.pendingTtlMs ?? 60_000;
    for (const [k, p] of this.pending) if (nowMs - p.firstMs > ttl) this.pending.delete(k);
    const nowSec = Math.floor(nowMs / 1000) * 1000;
    const fromSec = nowSec - (historySec - 1) * 1000;
    for (const s of this.perSecond.keys()) if (s < fromSec) this.perSecond.delete(s);
    const throughput: [number, number][] = [];
    for (let s = fromSec; s <= nowSec; s += 1000) throughput.push([s, this.perSecond.get(s) ?? 0]);
    this.latencies = this.latencies.filter((l) => nowMs - l.at <= windowSec * 1000);
    return {
      throughput,
      latency: histogram(
        this.latencies.map((l) => l.ms),
        windowSec,
      ),
      completed: this.completed,
    };
  }
}

export function histogram(values: number[], windowSec: number): LatencyHistogram {
  const counts = new Array<number>(LATENCY_EDGES_MS.length + 1).fill(0);
  for (const v of values) {
    let i = LATENCY_EDGES_MS.findIndex((e) => v <= e);
    if (i < 0) i = LATENCY_EDGES_MS.length;
    counts[i]!++;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : null);
  return { edges: LATENCY_EDGES_MS, counts, n: values.length, p50: q(0.5), p99: q(0.99), windowSec };
}
