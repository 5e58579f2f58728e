import { Flags } from '@oclif/core';
import { PbftCommand, intFlag } from '../base.js';
import { DEFAULT_WARMUP_SEEDS, benchSim, formatBench } from '../../sim/bench.js';
import { ADVERSARY_NAMES } from '../../sim/adversary.js';
import {
  formatFailure,
  parseAdversarySpec,
  parseBugName,
  parseByzantineSpec,
  parseReplicaCounts,
  runSeeds,
  strategySets,
  type SimSummary,
} from '../../sim/runner.js';
import type { SimResult } from '../../sim/simulator.js';
import { writeSimTraceFile } from '../../sim/tracefile.js';
import { CliError } from '../../cluster/errors.js';

/** Failing seeds printed in full (the rest are listed by seed and replay command). */
const DETAILED_FAILURES = 5;
/** Trace lines printed per failing seed without --trace. */
const SHORT_TRACE = 40;
/** Counters printed per adversary (all of them with --json). */
const ADVERSARY_COUNTERS_SHOWN = 8;

export default class Sim extends PbftCommand<typeof Sim> {
  static override summary = 'Run the deterministic simulator: seeded clusters under faults, every invariant checked.';
  static override description = [
    'Each seed is one run: a virtual network with delay, loss, duplication, reordering and partitions that heal, replica crashes and restarts, up to f Byzantine replicas, and clients issuing puts, gets and deletes over a small key space; then a liveness phase in which the network heals and every request must complete.',
    'Checked on every run: agreement (the BFT theorem, at commit and at execution), QCertified, total order, checkpoint agreement, validity, view-change safety, linearizability of what clients saw, and the liveness bound. A failing seed prints its violations, the command that replays it and the trace of the events that led to it; the exit code is then 1.',
    '--byzantine takes strategy SETS separated by commas, spread across seeds; join strategies with + to use them together in one run: "equivocate,replay+garbage". "all" is every strategy (one set each), "none" no Byzantine replica. Several --replicas values are spread across seeds the same way: a seed always runs the same configuration.',
    '--adversary chooses who attacks, one per run, spread across seeds the same way (comma-separated, or "all", the default): catalogue (Byzantine replicas running the --byzantine strategy sets); fuzz (Byzantine replicas running the "fuzz" strategy); twins (up to f Byzantine replicas each run as two honest cores with one key, on different sides of a partition schedule that changes and then heals); clients (Byzantine clients: equal timestamps to different replicas, timestamps near 2^53, read-only writes, replays, floods of fresh self-certifying ids, oversized and malformed requests; with the --byzantine strategies too); cuts (f Byzantine replicas running "fuzz", and a network scheduler aimed at view changes: commits that reach one replica, checkpoints straddling a view change, a crash and restart, a prepared straggler). Each is drawn from the seed and replays from it.',
    "--driver node runs each replica as the runtime's replica node (the code `pbft up` runs: group commit, persist-before-send, timers, the Byzantine wrapper, injected network faults) over a simulated network, disk and clock, instead of the protocol core alone; a crash then loses what a real one loses (the frame being written, timers, memory). The replay command names the driver.",
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> sim --seeds 1000',
    '<%= config.bin %> sim --seeds 500 --replicas 4,7 --byzantine all',
    '<%= config.bin %> sim --seed 42 --replicas 7 --byzantine equivocate --trace',
    '<%= config.bin %> sim --seed 42 --trace-file seed42.json && <%= config.bin %> web --trace seed42.json',
    '<%= config.bin %> sim --seeds 500 --replicas 4,7 --adversary all',
    '<%= config.bin %> sim --seeds 200 --adversary twins,cuts --json',
    '<%= config.bin %> sim --bench --seeds 50',
    '<%= config.bin %> sim --seeds 200 --driver node',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    seeds: intFlag({ summary: 'Number of seeds to run (default 100, or 1 with --seed).', min: 1, max: 100_000_000 }),
    seed: intFlag({ summary: 'First seed (default 0).', min: 0, max: Number.MAX_SAFE_INTEGER }),
    replicas: Flags.string({ char: 'n', summary: 'Replica counts, repeatable or comma-separated (default 4).', multiple: true }),
    byzantine: Flags.string({ summary: 'Byzantine strategy sets: all, none, or names (comma: spread; +: together).', default: 'none,all' }),
    adversary: Flags.string({
      summary: `Adversaries, spread across seeds: all (default), or names (comma-separated): ${ADVERSARY_NAMES.join(', ')}.`,
      default: 'all',
    }),
    crypto: Flags.string({
      summary: 'Signatures and MACs: sim (fast keyed-hash models) or ed25519 (real: Ed25519, HMAC-SHA256).',
      options: ['sim', 'ed25519'],
      default: 'sim',
    }),
    driver: Flags.string({
      summary: 'What runs each replica: core (the protocol core alone) or node (the runtime replica node over a simulated network, disk and clock).',
      options: ['core', 'node'],
      default: 'core',
    }),
    trace: Flags.boolean({ summary: 'Print the whole trace of failing seeds (and of a single seed even when it passes).' }),
    'trace-file': Flags.string({
      summary: 'Write the whole trace of the one seed run (--seed N) to this file, as JSON, for pbft web (open it with pbft web --trace FILE).',
    }),
    bench: Flags.boolean({ summary: 'Measure seeds/s and simulated committed requests per CPU-second, per replica count.' }),
    'warmup-seeds': intFlag({
      summary: `With --bench: seeds run first per replica count, checked but not measured (default ${DEFAULT_WARMUP_SEEDS}; 0 measures from a cold start).`,
      min: 0,
      max: 100_000_000,
    }),
    bug: Flags.string({ hidden: true, multiple: true, summary: 'Run deliberately broken cores (checker tests).' }),
    'liveness-ms': intFlag({ summary: 'Liveness bound in virtual ms (default 60000).', min: 1000, max: 10_000_000 }),
    faults: Flags.boolean({ hidden: true, allowNo: true, default: true, summary: 'With --no-faults: no loss, partitions, crashes or Byzantine replicas.' }),
    storm: Flags.boolean({ hidden: true, allowNo: true, summary: 'Force (--storm) or forbid (--no-storm) storm scenarios: lossy network, tight timeouts.' }),
  };

  async run(): Promise<unknown> {
    const f = this.flags;
    const replicas = parseReplicaCounts(f.replicas ?? ['4']);
    const byzantine = parseByzantineSpec(f.byzantine);
    const adversary = parseAdversarySpec(f.adversary);
    const bugs = (f.bug ?? []).map(parseBugName);
    const crypto = f.crypto === 'ed25519' ? 'node' : 'sim';
    const driver = f.driver === 'node' ? 'node' : 'core';
    const fromSeed = f.seed ?? 0;
    const seeds = f.seeds ?? (f.seed !== undefined ? 1 : 100);
    const progress = process.stderr.isTTY && !this.jsonEnabled();
    const traceFile = f['trace-file'];
    if (traceFile !== undefined && (seeds !== 1 || f.bench))
      throw new CliError(
        'BAD_ARGUMENT',
        `--trace-file writes the trace of one run, but ${f.bench ? '--bench runs many' : `${seeds} seeds were asked for`}`,
        "run one seed: pbft sim --seed N --trace-file FILE (a failing seed's replay command names its options)",
      );

    if (f['warmup-seeds'] !== undefined && !f.bench)
      throw new CliError('BAD_ARGUMENT', '--warmup-seeds applies to --bench only', 'add --bench, or drop --warmup-seeds');
    if (f.bench) {
      const r = benchSim({
        seeds,
        fromSeed,
        warmupSeeds: f['warmup-seeds'],
        replicas,
        byzantine,
        adversary,
        crypto,
        driver,
        onProgress: progress ? (d, t) => this.progress(`bench ${d}/${t} seeds`) : undefined,
      });
      if (progress) this.progress('', true);
      this.log(formatBench(r));
      const ok = r.rows.every((x) => x.failed === 0 && x.warmupFailed === 0);
      if (!ok) process.exitCode = 1;
      return { ok, ...r };
    }

    const sets = strategySets(byzantine);
    const describeSets = sets.map((s) => (s.length ? s.join('+') : 'none')).join(', ');
    let violations = 0;
    let lastDraw = 0;
    let single: SimResult | undefined;
    const wall0 = performance.now();
    const summary = runSeeds({
      seeds,
      fromSeed,
      replicas,
      byzantine,
      adversary,
      bugs,
      crypto,
      driver,
      faults: f.faults,
      storm: f.storm,
      livenessBoundMs: f['liveness-ms'],
      signal: this.signal,
      extra: (f.trace || traceFile !== undefined) && seeds === 1 ? { alwaysTrace: true, fullTrace: true } : undefined,
      onProgress: (done, total, r) => {
        if (seeds === 1) single = r;
        if (!r.ok) violations += r.violations.length;
        const now = performance.now();
        if (progress && (now - lastDraw > 100 || done === total)) {
          lastDraw = now;
          const rate = done / Math.max(1e-9, (now - wall0) / 1000);
          this.progress(`sim ${done}/${total} seeds  ${violations} violation(s)  ${rate.toFixed(1)} seeds/s`);
        }
      },
    });
    if (progress) this.progress('', true);
    if (traceFile !== undefined && single) {
      const t = await writeSimTraceFile(traceFile, single);
      if (!this.jsonEnabled())
        this.note(
          `wrote the trace of seed ${single.seed} (${t.entries.length} events${single.ok ? '' : ', failing'}) to ${traceFile}; open it with: pbft web --trace ${traceFile}`,
        );
    }

    if (!this.jsonEnabled())
      this.report(summary, { fromSeed, seeds, replicas, describeSets, adversaries: adversary.join(', '), trace: f.trace, single, driver });
    if (summary.failed > 0) process.exitCode = 1;
    return toJson(summary, f.trace);
  }

  private report(
    s: SimSummary,
    o: { fromSeed: number; seeds: number; replicas: number[]; describeSets: string; adversaries: string; trace: boolean; single?: SimResult; driver: string },
  ): void {
    const last = o.fromSeed + s.runs - 1;
    this.log(
      `pbft sim: seeds ${o.fromSeed}..${last} (replicas: ${o.replicas.join(', ')}; adversary: ${o.adversaries}; byzantine: ${o.describeSets}${o.driver === 'node' ? '; driver: node' : ''})${s.stoppedEarly ? ' - interrupted' : ''}`,
    );
    this.log(`  runs              ${s.runs}  (${s.passed} passed, ${s.failed} failed)`);
    this.log(`  committed         ${s.committedRequests} requests (${s.completedRequests} completed at clients)`);
    this.log(`  view changes      ${s.viewChanges}`);
    this.log(`  state transfers   ${s.stateTransfers}`);
    this.log(`  crashes           ${s.crashes} (${s.restarts} restarts)`);
    this.log(
      `  storage faults    ${s.storage.torn + s.storage.corrupt} (${s.storage.torn} torn last frames cut off, ${s.storage.corrupt} corrupt logs: ${s.storage.recovered} recoveries completed)`,
    );
    this.log(
      `  violations        ${s.violations}${
        s.violations
          ? '  (' +
            Object.entries(s.byInvariant)
              .map(([k, v]) => `${k}: ${v}`)
              .join(', ') +
            ')'
          : ''
      }`,
    );
    for (const [name, a] of Object.entries(s.byAdversary)) {
      // the adversary's own counters first (strategy counters are "strategy:kind"), a few
      const entries = Object.entries(a.counters).sort(([x], [y]) => Number(x.includes(':')) - Number(y.includes(':')));
      const did =
        entries
          .slice(0, ADVERSARY_COUNTERS_SHOWN)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') + (entries.length > ADVERSARY_COUNTERS_SHOWN ? `, ... (${entries.length - ADVERSARY_COUNTERS_SHOWN} more with --json)` : '');
      this.log(`  ${`adversary ${name}`.padEnd(17)} ${a.runs} runs, ${a.failed} failed${did ? `; ${did}` : ''}`);
    }
    this.log(
      `  speed             ${s.seedsPerSec.toFixed(1)} seeds/s (${(s.runs / Math.max(1e-9, s.cpuMs / 1000)).toFixed(1)} per CPU-second), ${Math.round(s.committedPerCpuSec)} simulated committed requests per CPU-second`,
    );
    if (o.single?.ok && o.trace) {
      // a single passing seed with --trace: show what happened
      this.log('');
      this.log(`seed ${o.single.seed} passed; scenario: ${o.single.scenario}`);
      for (const t of o.single.fullTrace ?? o.single.trace ?? []) this.log(`    ${t}`);
    }
    s.failures.forEach((r, i) => {
      this.log('');
      if (i < DETAILED_FAILURES || o.trace) {
        const shown = o.trace ? { ...r, trace: r.fullTrace ?? r.trace } : { ...r, trace: r.trace?.slice(-SHORT_TRACE) };
        this.log(formatFailure(shown, { trace: true }));
        if (!o.trace && (r.trace?.length ?? 0) > SHORT_TRACE) this.log(`    (last ${SHORT_TRACE} of ${r.trace!.length} events; --trace prints them all)`);
      } else {
        this.log(`seed ${r.seed}: ${r.violations.length} violation(s) [${[...new Set(r.violations.map((v) => v.invariant))].join(', ')}]  replay: ${r.replay}`);
      }
    });
  }

  private progress(line: string, clear = false): void {
    process.stderr.write(`\r\x1b[2K${clear ? '' : line}`);
  }
}

function toJson(s: SimSummary, withTrace: boolean): unknown {
  return {
    ok: s.failed === 0,
    runs: s.runs,
    passed: s.passed,
    failed: s.failed,
    committedRequests: s.committedRequests,
    completedRequests: s.completedRequests,
    viewChanges: s.viewChanges,
    stateTransfers: s.stateTransfers,
    crashes: s.crashes,
    restarts: s.restarts,
    storage: s.storage,
    violations: s.violations,
    byInvariant: s.byInvariant,
    byConfig: s.byConfig,
    byAdversary: s.byAdversary,
    seedsPerSec: Math.round(s.seedsPerSec * 100) / 100,
    committedPerCpuSec: Math.round(s.committedPerCpuSec),
    wallMs: Math.round(s.wallMs),
    cpuMs: Math.round(s.cpuMs),
    stoppedEarly: s.stoppedEarly,
    failures: s.failures.map((r) => ({
      seed: r.seed,
      n: r.n,
      adversary: r.adversary,
      byzantine: r.byzantine,
      twins: r.twins,
      adversaryStats: r.stats.adversary.counters,
      violations: r.violations,
      replay: r.replay,
      scenario: r.scenario,
      ...(withTrace ? { trace: r.trace } : { trace: r.trace?.slice(-SHORT_TRACE) }),
    })),
  };
}
