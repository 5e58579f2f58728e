/**
 * The history of a chaos run, as Jepsen records it: each operation's invocation and its
 * outcome, one of
 *
 * - ok:    the client accepted f+1 matching replies; `result` is the value they carried;
 * - fail:  it certainly did not happen (it was never sent, e.g. too few replicas to send to);
 * - info:  indeterminate: it was sent, but no answer came in time (or the run stopped waiting).
 *          It may have taken effect, or may still take effect later.
 *
 * Times are ms from the start of the load (a monotonic clock); `invokeOrder` and
 * `completeOrder` number the events of the whole run in the order this process saw them, so
 * real-time precedence is exact even when two times are equal.
 */
import type { KvOp, KvResult } from '../app/kv.js';

export type OpType = 'ok' | 'fail' | 'info';

export interface HistoryEntry {
  /** index in the history */
  index: number;
  /** the workload's client number (0..C-1), or "check" for the read-back after the run */
  process: number | 'check';
  /** the client identity on the wire (a pk:... id or a configured one), shortened */
  client: string;
  op: KvOp;
  invokeMs: number;
  invokeOrder: number;
  /** absent while the operation is in flight */
  type?: OpType;
  completeMs?: number;
  completeOrder?: number;
  /** ok: the result the client accepted */
  result?: KvResult;
  /** fail / info: the error code and message */
  error?: { code: string; message: string };
}

/** Records operations as they happen; the event counter orders them exactly. */
export class HistoryRecorder {
  readonly entries: HistoryEntry[] = [];
  private events = 0;
  constructor(private readonly now: () => number) {}

  invoke(process: number | 'check', client: string, op: KvOp): HistoryEntry {
    const e: HistoryEntry = { index: this.entries.length, process, client, op, invokeMs: round(this.now()), invokeOrder: this.events++ };
    this.entries.push(e);
    return e;
  }

  complete(e: HistoryEntry, type: OpType, o: { result?: KvResult; error?: { code: string; message: string } } = {}): void {
    e.type = type;
    e.completeMs = round(this.now());
    e.completeOrder = this.events++;
    if (o.result !== undefined) e.result = o.result;
    if (o.error !== undefined) e.error = o.error;
  }

  /** Anything still in flight is indeterminate (the run stopped waiting for it). */
  closeOpen(message = 'still in flight when the run ended'): void {
    for (const e of this.entries) if (e.type === undefined) this.complete(e, 'info', { error: { code: 'IN_FLIGHT', message } });
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export interface HistoryCounts {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
  byOp: Record<'put' | 'get' | 'del', { ok: number; fail: number; info: number }>;
}

export function countHistory(h: readonly HistoryEntry[]): HistoryCounts {
  const c: HistoryCounts = {
    invoked: h.length,
    ok: 0,
    fail: 0,
    info: 0,
    byOp: { put: { ok: 0, fail: 0, info: 0 }, get: { ok: 0, fail: 0, info: 0 }, del: { ok: 0, fail: 0, info: 0 } },
  };
  for (const e of h) {
    const t = e.type ?? 'info';
    c[t]++;
    c.byOp[e.op.op][t]++;
  }
  return c;
}

/** One bucket of the time series: what completed in [startMs, startMs + bucketMs). */
export interface SeriesBucket {
  startMs: number;
  ok: number;
  fail: number;
  info: number;
  /** latency of the ok operations that completed in the bucket (ms); null when none did */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface Series {
  bucketMs: number;
  buckets: SeriesBucket[];
}

/**
 * Throughput and latency over time. The bucket is a whole number of seconds, chosen so that a
 * run gives at most `maxBuckets` of them (one second for runs up to that many seconds).
 */
export function timeSeries(h: readonly HistoryEntry[], endMs: number, maxBuckets = 300): Series {
  const bucketMs = Math.max(1000, Math.ceil(endMs / maxBuckets / 1000) * 1000);
  const count = Math.max(1, Math.ceil(endMs / bucketMs));
  const lat: number[][] = Array.from({ length: count }, () => []);
  const buckets: SeriesBucket[] = Array.from({ length: count }, (_, i) => ({
    startMs: i * bucketMs,
    ok: 0,
    fail: 0,
    info: 0,
    p50Ms: null,
    p99Ms: null,
    maxMs: null,
  }));
  for (const e of h) {
    if (e.type === undefined || e.completeMs === undefined) continue;
    const i = Math.min(count - 1, Math.max(0, Math.floor(e.completeMs / bucketMs)));
    buckets[i]![e.type]++;
    if (e.type === 'ok') lat[i]!.push(e.completeMs - e.invokeMs);
  }
  for (let i = 0; i < count; i++) {
    const a = lat[i]!.sort((x, y) => x - y);
    if (a.length === 0) continue;
    const at = (p: number) => a[Math.min(a.length, Math.max(1, Math.ceil((p / 100) * a.length))) - 1]!;
    buckets[i]!.p50Ms = round(at(50));
    buckets[i]!.p99Ms = round(at(99));
    buckets[i]!.maxMs = round(a[a.length - 1]!);
  }
  return { bucketMs, buckets };
}
