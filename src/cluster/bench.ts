/**
 * Closed-loop load generation and its statistics. Each of C clients issues one request,
 * waits for its f+1 matching replies, then issues the next, for a fixed duration. The
 * client factory is injected, so the loop is tested without a cluster.
 */
import { randomBytes } from 'node:crypto';
import { encodeKvOp } from '../app/kv.js';

export interface LatencySummary {
  count: number;
  minMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Nearest-rank percentile of an ascending array; p in (0, 100]. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(latenciesMs: ArrayLike<number>): LatencySummary {
  const a = Float64Array.from(latenciesMs as ArrayLike<number>).sort();
  if (a.length === 0) return { count: 0, minMs: NaN, p50Ms: NaN, p90Ms: NaN, p99Ms: NaN, maxMs: NaN, meanMs: NaN };
  let sum = 0;
  for (const x of a) sum += x;
  return {
    count: a.length,
    minMs: a[0]!,
    p50Ms: percentile(a, 50),
    p90Ms: percentile(a, 90),
    p99Ms: percentile(a, 99),
    maxMs: a[a.length - 1]!,
    meanMs: sum / a.length,
  };
}

/** A growable list of numbers without boxing. */
export class Samples {
  private buf = new Float64Array(1024);
  private n = 0;
  push(x: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = x;
  }
  get length(): number {
    return this.n;
  }
  values(): Float64Array {
    return this.buf.subarray(0, this.n);
  }
}

/**
 * What the bench needs from a client: one request at a time. The signal given to request() is
 * that client's own (aborted when the bench is interrupted): one listener per signal, however
 * many clients run.
 */
export interface BenchClient {
  request(op: string, o: { timeoutMs: number; signal?: AbortSignal }): Promise<unknown>;
  close(): Promise<void> | void;
}

export interface BenchOptions {
  clients: number;
  durationMs: number;
  /**
   * Load run first and not measured (default 0): the same clients, the same requests, so the
   * replicas' and the client's JIT-compiled code is warm and every session is keyed when the
   * measured window starts. Requests issued before it are not counted, even if they complete
   * inside it.
   */
  warmupMs?: number;
  valueSize: number;
  /** per-request timeout */
  requestTimeoutMs: number;
  makeClient: (index: number) => Promise<BenchClient>;
  signal?: AbortSignal;
  /** awaited once every client is connected and warmed up, just before the measured window (e.g. to read counters) */
  onStart?: () => Promise<void> | void;
  /** called about every progressIntervalMs while the load runs */
  onProgress?: (p: BenchProgress) => void;
  progressIntervalMs?: number;
  /** injectable clock (ms, monotonic) */
  now?: () => number;
}

export interface BenchProgress {
  elapsedMs: number;
  durationMs: number;
  completed: number;
  errors: number;
  /** completions per second over the last interval */
  recentThroughput: number;
}

export interface BenchResult {
  clients: number;
  durationMs: number;
  /** unmeasured load before the window */
  warmupMs: number;
  /** requests completed during the warm-up (not in the figures) */
  warmupCompleted: number;
  valueSize: number;
  /** measured wall time of the load phase */
  elapsedMs: number;
  completed: number;
  errors: number;
  errorsByCode: Record<string, number>;
  /** completed requests per second */
  throughput: number;
  latency: LatencySummary;
  aborted: boolean;
}

export const BENCH_LIMITS = { maxClients: 1024, maxDurationMs: 3_600_000, maxValueSize: 1 << 20 } as const;

function errorCode(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') return (e as { code: string }).code;
  return e instanceof Error ? e.name : 'ERROR';
}

/** Run the closed loop. Every client is closed before this returns, whatever happens. */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  if (!Number.isSafeInteger(o.clients) || o.clients < 1 || o.clients > BENCH_LIMITS.maxClients) {
    throw new RangeError(`clients must be an integer in 1..${BENCH_LIMITS.maxClients}`);
  }
  if (!(o.durationMs > 0 && o.durationMs <= BENCH_LIMITS.maxDurationMs)) throw new RangeError('duration out of range');
  const warmupMs = o.warmupMs ?? 0;
  if (!(warmupMs >= 0 && warmupMs <= BENCH_LIMITS.maxDurationMs)) throw new RangeError('warm-up out of range');
  if (!Number.isSafeInteger(o.valueSize) || o.valueSize < 0 || o.valueSize > BENCH_LIMITS.maxValueSize) {
    throw new RangeError(`value size must be an integer in 0..${BENCH_LIMITS.maxValueSize}`);
  }
  const now = o.now ?? (() => performance.now());
  const clients: BenchClient[] = [];
  const latencies = new Samples();
  const errorsByCode: Record<string, number> = {};
  let errors = 0;
  let aborted = false;
  // One AbortController per client, not one signal shared by every in-flight request: each
  // request adds an 'abort' listener to the signal it is given, and more than 10 listeners on
  // one signal is what Node reports as MaxListenersExceededWarning (bench with 11+ clients).
  const stops = Array.from({ length: o.clients }, () => new AbortController());
  let stopped = false;
  const onAbort = () => {
    aborted = true;
    stopped = true;
    for (const s of stops) s.abort();
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let progressTimer: NodeJS.Timeout | undefined;
  try {
    if (o.signal?.aborted) onAbort();
    // connect sequentially-in-parallel; if one fails, the rest are still closed below
    const made = await Promise.allSettled(Array.from({ length: o.clients }, (_, i) => o.makeClient(i)));
    for (const m of made) if (m.status === 'fulfilled') clients.push(m.value);
    const failed = made.find((m): m is PromiseRejectedResult => m.status === 'rejected');
    if (failed) throw failed.reason;

    // one value per client, re-used (random so that compression or dedup cannot help)
    const value = () =>
      randomBytes(Math.ceil(o.valueSize / 2))
        .toString('hex')
        .slice(0, o.valueSize);
    // The measured window [start, end) opens after the warm-up (and onStart); until then both
    // are +Infinity, so the loops run and nothing they do is counted.
    let start = Number.POSITIVE_INFINITY;
    let end = Number.POSITIVE_INFINITY;
    let warmupCompleted = 0;
    let lastCompleted = 0;
    let lastAt = 0;
    const openWindow = async () => {
      if (o.onStart) await o.onStart();
      start = now();
      end = start + o.durationMs;
      lastAt = start;
      if (o.onProgress) {
        progressTimer = setInterval(() => {
          const t = now();
          const done = latencies.length;
          o.onProgress!({
            elapsedMs: t - start,
            durationMs: o.durationMs,
            completed: done,
            errors,
            recentThroughput: t > lastAt ? ((done - lastCompleted) * 1000) / (t - lastAt) : 0,
          });
          lastCompleted = done;
          lastAt = t;
        }, o.progressIntervalMs ?? 1000);
      }
    };
    let opened: Promise<void>;
    if (warmupMs > 0) {
      opened = new Promise<void>((resolve, reject) => {
        // an interrupted warm-up opens no window: the loops stop and nothing is measured
        const cancel = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          o.signal?.removeEventListener('abort', cancel);
          if (stopped) return resolve();
          openWindow().then(resolve, reject);
        }, warmupMs);
        if (stopped) cancel();
        else o.signal?.addEventListener('abort', cancel, { once: true });
      });
    } else {
      await openWindow();
      opened = Promise.resolve();
    }
    const loops = clients.map(async (c, i) => {
      const v = value();
      const signal = stops[i]!.signal;
      for (let k = 0; !stopped && now() < end; k++) {
        const op = encodeKvOp({ op: 'put', key: `bench/${i}/${k % 1024}`, value: v });
        const t0 = now();
        try {
          await c.request(op, { timeoutMs: o.requestTimeoutMs, signal });
          // a request issued inside the window counts even if it completes just after it
          if (t0 >= start) latencies.push(now() - t0);
          else warmupCompleted++;
        } catch (e) {
          if (stopped) break; // interrupted by the caller: not an error of the cluster
          if (t0 < start) continue; // warm-up: not measured
          errors++;
          const code = errorCode(e);
          errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
        }
      }
    });
    // a failing onStart stops the load, and is thrown once every loop has ended
    const openError = opened.then(
      () => null,
      (e: unknown) => {
        stopped = true;
        for (const s of stops) s.abort();
        return { e };
      },
    );
    await Promise.all(loops);
    const failedOpen = await openError;
    if (failedOpen) throw failedOpen.e;
    const elapsedMs = Number.isFinite(start) ? now() - start : 0;
    const latency = summarize(latencies.values());
    return {
      clients: o.clients,
      durationMs: o.durationMs,
      warmupMs,
      warmupCompleted,
      valueSize: o.valueSize,
      elapsedMs,
      completed: latency.count,
      errors,
      errorsByCode,
      throughput: elapsedMs > 0 ? (latency.count * 1000) / elapsedMs : 0,
      latency,
      aborted,
    };
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    o.signal?.removeEventListener('abort', onAbort);
    await Promise.allSettled(clients.map(async (c) => c.close()));
  }
}
