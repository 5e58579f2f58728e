import { Flags, ux } from '@oclif/core';
import type { BenchConnections } from '../../cluster/bench-cluster.js';
import { verifyCluster } from '../../audit/index.js';
import { STRATEGY_NAMES, isStrategyName, type StrategyName } from '../../byzantine/index.js';
import { formatChaosReport, formatProgress } from '../../chaos/format.js';
import { CHAOS_DEFAULTS, runChaos, type ChaosReport } from '../../chaos/run.js';
import { NEMESIS_DESCRIPTIONS, NEMESIS_KINDS, parseNemesisList, type NemesisKind } from '../../chaos/schedule.js';
import { CliError } from '../../cluster/errors.js';
import { labelledLines } from '../../cluster/fault-format.js';
import { PbftCommand, dirFlag, intFlag, numberFlag } from '../base.js';

export default class Chaos extends PbftCommand<typeof Chaos> {
  static override summary = 'Run clients against the cluster while a seeded nemesis breaks it, then heal it and check what the clients saw.';
  static override description = [
    [
      'The Jepsen loop on a real local cluster. Uses the cluster in --dir as it runs, or starts it when it is down (and stops it at the end).',
      'Concurrent clients do put, get and del on a small set of keys and record every invocation and outcome (ok, failed, or indeterminate when it timed out).',
      'Meanwhile a seeded schedule of faults plays: a new one every --period-ms, at most --overlap in force at once; Byzantine strategies only on f replicas picked by the seed;',
      'more than f replicas down at once is allowed (the cluster must then stop answering, never answer wrongly).',
    ].join(' '),
    '',
    [
      'Then every replica is healed and must converge within --converge-timeout; every key is read back; and the checks run: linearizability of the history,',
      'the audit (pbft verify, with the Byzantine replicas of the run declared --faulty), no acknowledged write lost, the same state on every correct replica.',
      'history.json, report.json and timeline.svg go to <dir>/chaos/<time>-seed<seed>/ (or --out). Exit code 0 when every check passes, 1 otherwise.',
    ].join(' '),
    '',
    'NEMESIS (--nemesis, comma-separated, or all, or none)',
    labelledLines(NEMESIS_KINDS.map((k) => [k, NEMESIS_DESCRIPTIONS[k]])),
  ].join('\n');
  static override examples = [
    '<%= config.bin %> chaos --duration 60 --clients 4 --seed 1',
    '<%= config.bin %> chaos --duration 1800 --clients 8 --nemesis all --period-ms 8000 --overlap 2 --seed 7',
    '<%= config.bin %> chaos --nemesis crash,partition --overlap 3 --seed 3   # also periods with more than f replicas down',
    '<%= config.bin %> chaos --nemesis byzantine --strategies equivocate,corrupt-state --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    duration: numberFlag({ summary: 'Seconds of load and faults.', min: 1, max: 86_400, default: 60 }),
    clients: intFlag({ summary: 'Concurrent clients.', min: 1, max: 64, default: 4, char: 'c' }),
    connections: Flags.string({
      summary: 'own: each client its own connection to every replica; shared: one connection per replica for all (as pbft bench).',
      options: ['own', 'shared'],
      default: 'own',
    }),
    nemesis: Flags.string({ summary: `Fault kinds, comma-separated: ${NEMESIS_KINDS.join(', ')}; or all, or none.`, default: 'all' }),
    seed: intFlag({ summary: 'Seed of the schedule and of the operations (default: a random one, printed).', min: 0, max: 2 ** 31 - 1 }),
    'period-ms': intFlag({ summary: 'A new fault may start every this many ms.', min: 200, max: 3_600_000, default: 5000 }),
    overlap: intFlag({ summary: 'Faults in force at once, at most (1: one after the other).', min: 1, max: 256, default: 2 }),
    strategies: Flags.string({ summary: `Byzantine strategies to draw from, comma-separated (default: all): ${STRATEGY_NAMES.join(', ')}.` }),
    keys: intFlag({ summary: 'Keys in use at once.', min: 1, max: 1000, default: CHAOS_DEFAULTS.keys }),
    timeout: intFlag({
      summary: 'Per-request timeout in ms; a request that times out is indeterminate.',
      min: 100,
      max: 600_000,
      default: CHAOS_DEFAULTS.requestTimeoutMs,
    }),
    'converge-timeout': numberFlag({
      summary: 'Seconds the healed cluster has to converge.',
      min: 1,
      max: 3600,
      default: CHAOS_DEFAULTS.convergeTimeoutMs / 1000,
    }),
    out: Flags.string({ summary: 'Directory for history.json, report.json and timeline.svg (default: <dir>/chaos/<time>-seed<seed>).' }),
  };

  async run(): Promise<ChaosReport> {
    let kinds: NemesisKind[];
    try {
      kinds = parseNemesisList(this.flags.nemesis);
    } catch (e) {
      throw new CliError('BAD_ARGUMENT', `--nemesis: ${(e as Error).message}`, `e.g. --nemesis crash,pause,partition or --nemesis all`);
    }
    let strategies: StrategyName[] | undefined;
    if (this.flags.strategies !== undefined) {
      const words = this.flags.strategies
        .split(',')
        .map((w) => w.trim())
        .filter((w) => w !== '');
      const bad = words.filter((w) => !isStrategyName(w));
      if (words.length === 0 || bad.length > 0)
        throw new CliError(
          'BAD_ARGUMENT',
          `--strategies: unknown strategy ${bad.map((b) => `"${b}"`).join(', ') || '(none given)'}`,
          `strategies: ${STRATEGY_NAMES.join(', ')}`,
        );
      strategies = words as StrategyName[];
      if (!kinds.includes('byzantine')) this.note('warning: --strategies has no effect without byzantine in --nemesis');
    }
    const cluster = await this.cluster(this.flags.dir);
    const { n, f } = cluster.params;
    if (this.flags.overlap > n) throw new CliError('BAD_ARGUMENT', `--overlap ${this.flags.overlap} is more than the ${n} replicas`, `use --overlap 1 to ${n}`);
    const seed = this.flags.seed ?? Math.floor(Math.random() * 2 ** 31);
    const json = this.jsonEnabled();
    const tty = process.stderr.isTTY && !json;
    this.note(
      `Chaos on ${n} replicas (f = ${f}) in ${cluster.dir}: ${this.flags.clients} client${this.flags.clients > 1 ? 's' : ''} for ${this.flags.duration} s, nemesis ${kinds.join(',') || 'none'}, period ${this.flags['period-ms']} ms, overlap ${this.flags.overlap}, seed ${seed}`,
    );
    if (tty) ux.action.start('Running', 'starting', { stdout: false });
    let lastLine = 0;
    const report = await runChaos({
      dir: this.flags.dir,
      durationMs: this.flags.duration * 1000,
      clients: this.flags.clients,
      connections: this.flags.connections as BenchConnections,
      seed,
      kinds,
      periodMs: this.flags['period-ms'],
      overlap: this.flags.overlap,
      ...(strategies ? { strategies } : {}),
      keys: this.flags.keys,
      requestTimeoutMs: this.flags.timeout,
      convergeTimeoutMs: this.flags['converge-timeout'] * 1000,
      ...(this.flags.out !== undefined ? { outDir: this.flags.out } : {}),
      verify: ({ byzantine, ...o }) => verifyCluster({ ...o, faulty: byzantine }),
      signal: this.signal,
      onProgress: (p) => {
        if (tty) ux.action.status = formatProgress(p);
        else if (!json && p.elapsedMs - lastLine >= 10_000) {
          lastLine = p.elapsedMs;
          this.note(`  ${formatProgress(p)}`);
        }
      },
      onEvent: (line) => {
        if (tty) ux.action.status = line;
        else if (!json) this.note(`  ${line}`);
      },
    }).finally(() => {
      if (tty) ux.action.stop('done');
    });
    if (!json) this.log(formatChaosReport(report, this.palette));
    if (!report.ok) process.exitCode = 1;
    return report;
  }
}
