/**
 * Simulator throughput figures: seeds per second (wall clock) and simulated committed requests
 * per second of CPU (`process.cpuUsage()`, user + system), per replica count and crypto backend.
 *
 * Each replica count first runs `warmupSeeds` other seeds, unmeasured: in a fresh process V8
 * compiles and re-optimises the core for the first few hundred seeds, on background threads
 * whose CPU counts too, so 100 seeds from a cold start measured the compiler about as much as
 * the simulator (about half of the steady figure; README, Performance). The warm-up seeds are
 * checked like the others; one that fails fails the benchmark.
 */
import type { AdversaryName } from './adversary.js';
import { runSeeds, type ByzantineSpec } from './runner.js';
import type { SimCrypto, SimDriver } from './simulator.js';

export interface BenchOptions {
  seeds: number;
  fromSeed?: number;
  /** seeds run first and not measured, per replica count (seeds after the measured ones); default DEFAULT_WARMUP_SEEDS */
  warmupSeeds?: number;
  replicas?: readonly number[];
  byzantine?: ByzantineSpec;
  adversary?: readonly AdversaryName[];
  crypto?: SimCrypto;
  driver?: SimDriver;
  onProgress?(done: number, total: number): void;
}

/** BenchOptions.warmupSeeds unless set */
export const DEFAULT_WARMUP_SEEDS = 200;

export interface BenchFigures {
  label: string;
  seeds: number;
  failed: number;
  /** unmeasured seeds run first, and how many of them failed */
  warmupSeeds: number;
  warmupFailed: number;
  wallMs: number;
  cpuMs: number;
  seedsPerSec: number;
  /** seeds per CPU-second: independent of other load on the machine */
  seedsPerCpuSec: number;
  committedRequests: number;
  committedPerCpuSec: number;
  messagesPerCpuSec: number;
  virtualSecondsPerCpuSec: number;
}

export interface BenchResult {
  node: string;
  rows: BenchFigures[];
}

/** Run `seeds` seeds for each replica count separately and report the figures of each. */
export function benchSim(o: BenchOptions): BenchResult {
  const rows: BenchFigures[] = [];
  const counts = o.replicas?.length ? o.replicas : [4, 7];
  const warmup = o.warmupSeeds ?? DEFAULT_WARMUP_SEEDS;
  const total = (o.seeds + warmup) * counts.length;
  let done = 0;
  const run = (n: number, seeds: number, fromSeed: number) =>
    runSeeds({
      seeds,
      fromSeed,
      replicas: [n],
      byzantine: o.byzantine ?? 'all',
      adversary: o.adversary,
      crypto: o.crypto,
      driver: o.driver,
      onProgress: () => o.onProgress?.(++done, total),
    });
  for (const n of counts) {
    const w = warmup > 0 ? run(n, warmup, (o.fromSeed ?? 0) + o.seeds) : null;
    const s = run(n, o.seeds, o.fromSeed ?? 0);
    const cpuSec = Math.max(1e-9, s.cpuMs / 1000);
    rows.push({
      label: `n=${n} crypto=${o.crypto ?? 'sim'}${o.driver === 'node' ? ' driver=node' : ''}${o.adversary?.length && o.adversary.join(',') !== 'catalogue' ? ` adversary=${o.adversary.join(',')}` : ''}`,
      seeds: s.runs,
      failed: s.failed,
      warmupSeeds: w?.runs ?? 0,
      warmupFailed: w?.failed ?? 0,
      wallMs: Math.round(s.wallMs),
      cpuMs: Math.round(s.cpuMs),
      seedsPerSec: round2(s.seedsPerSec),
      seedsPerCpuSec: round2(s.runs / cpuSec),
      committedRequests: s.committedRequests,
      committedPerCpuSec: Math.round(s.committedPerCpuSec),
      messagesPerCpuSec: Math.round(s.messagesSent / cpuSec),
      virtualSecondsPerCpuSec: round2(s.virtualMs / 1000 / cpuSec),
    });
  }
  return { node: process.version, rows };
}

export function formatBench(r: BenchResult): string {
  const head = ['config', 'seeds', 'failed', 'wall s', 'CPU s', 'seeds/s', 'seeds/CPU-s', 'committed', 'committed/CPU-s', 'msgs/CPU-s', 'virtual s/CPU-s'];
  const body = r.rows.map((x) => [
    x.label,
    String(x.seeds),
    String(x.failed),
    (x.wallMs / 1000).toFixed(1),
    (x.cpuMs / 1000).toFixed(1),
    x.seedsPerSec.toFixed(1),
    x.seedsPerCpuSec.toFixed(1),
    String(x.committedRequests),
    String(x.committedPerCpuSec),
    String(x.messagesPerCpuSec),
    x.virtualSecondsPerCpuSec.toFixed(0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const warm = r.rows[0]?.warmupSeeds ?? 0;
  const warmFailed = r.rows.reduce((a, x) => a + x.warmupFailed, 0);
  return [
    `simulator benchmark (node ${r.node}), ${warm > 0 ? `after ${warm} unmeasured warm-up seeds per configuration` : 'from a cold start (no warm-up seeds)'}`,
    fmt(head),
    ...body.map(fmt),
    ...(warmFailed > 0 ? [`${warmFailed} warm-up seed(s) FAILED: run them with pbft sim --seed N (the seeds after the measured ones)`] : []),
  ].join('\n');
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
