import { Flags } from '@oclif/core';
import {
  KNOWN_PHASES,
  PhaseTail,
  discoverPhaseFiles,
  followPhaseLogs,
  mergePhaseLogs,
  tailMerged,
  type PhaseFilter,
  type PhaseRecord,
  rotatedPhaseLog,
} from '../../phaselog/index.js';
import { formatRecord, replicaColour } from '../../cluster/format.js';
import { followProcessLogs, processLogFiles, readProcessLogs, type ProcessLogLine } from '../../cluster/processlog.js';
import { parseReplicaIds } from '../../cluster/ids.js';
import { CliError } from '../../cluster/errors.js';
import { cmd } from '../../cluster/hints.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

/** records (or process-output lines) `-f` shows before following when -n is not given, as tail -f */
const FOLLOW_TAIL = 10;

export default class Logs extends PbftCommand<typeof Logs> {
  static override summary = "Show the replicas' phase logs merged into one stream, in time order.";
  static override description = [
    'Reads replicas/<i>/phases.jsonl of every replica and merges them by timestamp: one colour per',
    'replica and per phase (NO_COLOR turns colours off). -f keeps following new lines, including',
    'replicas that start later; it starts with the last 10 records (-n N for more, as tail -f does).',
    '--json prints one JSON object per line, as the replicas wrote it.',
    '',
    "--process IDS shows the replicas' own output instead (stdout and stderr, replicas/<i>/process.log):",
    'start-up and ready lines, warnings, errors, crashes. -f and -n work there too; with several',
    'replicas each line starts with its replica.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> logs',
    '<%= config.bin %> logs -f',
    '<%= config.bin %> logs --seq 3',
    '<%= config.bin %> logs --replica 0,2 --phase pre-prepare,commit',
    '<%= config.bin %> logs --json | jq .phase',
    '<%= config.bin %> logs --process 2',
    '<%= config.bin %> logs --process 0-3 -f',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    follow: Flags.boolean({ char: 'f', summary: 'Keep printing new lines as the replicas write them (Ctrl-C to stop).' }),
    replica: Flags.string({ char: 'r', summary: 'Only these replicas, e.g. 0,2 or 1-3.' }),
    phase: Flags.string({ char: 'p', summary: `Only these phases, comma-separated (${KNOWN_PHASES.join(', ')}).` }),
    seq: intFlag({ summary: 'Only records of this sequence number.', min: 0, max: Number.MAX_SAFE_INTEGER }),
    view: intFlag({ summary: 'Only records of this view.', min: 0, max: Number.MAX_SAFE_INTEGER }),
    client: Flags.string({ summary: 'Only records naming this client id.' }),
    tail: intFlag({
      summary: `Only the last N matching records (before following; -f alone starts with the last ${FOLLOW_TAIL}).`,
      min: 1,
      max: 10_000_000,
      char: 'n',
    }),
    process: Flags.string({ summary: "Show these replicas' process output (stdout and stderr) instead of the phase log, e.g. 2 or 0-3." }),
  };

  async run(): Promise<void> {
    const cluster = await this.cluster(this.flags.dir);
    const n = cluster.config.replicas.length;
    if (this.flags.process !== undefined) return this.processOutput(cluster.config.replicas.length, cluster);
    const filter: PhaseFilter = {};
    if (this.flags.replica !== undefined) filter.replicas = new Set(parseReplicaIds([this.flags.replica], n));
    if (this.flags.phase !== undefined) filter.phases = new Set(parsePhases(this.flags.phase));
    if (this.flags.seq !== undefined) filter.seq = this.flags.seq;
    if (this.flags.view !== undefined) filter.view = this.flags.view;
    if (this.flags.client !== undefined) filter.client = this.flags.client;

    const ids = cluster.config.replicas.map((r) => r.id);
    const json = this.jsonEnabled();
    const p = this.palette;
    const emit = (rec: PhaseRecord) => {
      process.stdout.write(`${json ? JSON.stringify(rec) : formatRecord(rec, p)}\n`);
    };
    // stdout closed early (e.g. `pbft logs | head`): stop quietly
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
    });

    const files = await discoverPhaseFiles(cluster.dir, ids);
    // rotated logs (phases.1.jsonl) come first for the static part
    const rotated = files.map((f) => ({ replica: f.replica, path: rotatedPhaseLog(f.path) }));
    const start = this.flags.follow ? await PhaseTail.snapshot(files) : undefined;
    const ends = start ? new Map([...start].map(([k, v]) => [k, v.offset])) : undefined;
    const tail = this.flags.tail ?? (this.flags.follow ? FOLLOW_TAIL : undefined);
    if (tail !== undefined) {
      // read backwards from the ends: the last records cost a chunk per file, not the files
      const last = await tailMerged([...rotated, ...files], filter, tail, { ...(ends ? { endOffsets: ends } : {}), signal: this.signal });
      last.forEach(emit);
    } else {
      const merged = mergePhaseLogs([...rotated, ...files], filter, { ...(ends ? { endOffsets: ends } : {}), signal: this.signal });
      let count = 0;
      for await (const rec of merged) {
        emit(rec);
        count++;
      }
      if (count === 0 && !this.flags.follow && !json)
        this.note(`(no matching phase-log records yet; start the cluster with ${cmd('up', this.flags.dir)}, or follow with -f)`);
    }
    if (!this.flags.follow) return;
    await followPhaseLogs({
      files: async () => files,
      watchDirs: async () => ids.map((id) => cluster.paths.replicaDir(id)),
      filter,
      startOffsets: start!,
      onRecord: emit,
      signal: this.signal,
    });
  }

  /** logs --process IDS: the replicas' own stdout and stderr. */
  private async processOutput(n: number, cluster: Awaited<ReturnType<Logs['cluster']>>): Promise<void> {
    const phaseOnly = (['replica', 'phase', 'seq', 'view', 'client'] as const).filter((k) => this.flags[k] !== undefined);
    if (phaseOnly.length) {
      throw new CliError('BAD_ARGUMENT', `--${phaseOnly[0]} filters the phase log and does not apply to --process`, 'use --process IDS with -f and -n only');
    }
    const ids = parseReplicaIds([this.flags.process!], n);
    const files = processLogFiles(cluster, ids);
    const json = this.jsonEnabled();
    const many = ids.length > 1;
    const p = this.palette;
    const emit = (l: ProcessLogLine) => {
      const text = json ? JSON.stringify(l) : many ? `${p.paint(replicaColour(l.replica), `r${l.replica}`.padEnd(3))} | ${l.line}` : l.line;
      process.stdout.write(`${text}\n`);
    };
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
    });
    const tail = this.flags.tail ?? (this.flags.follow ? FOLLOW_TAIL : undefined);
    const now = await readProcessLogs(files, tail !== undefined ? { tail } : {});
    now.lines.forEach(emit);
    if (now.lines.length === 0 && !this.flags.follow && !json)
      this.note(`(no process output yet: replica${many ? 's' : ''} ${ids.join(', ')} never started; start with ${cmd(`up ${ids.join(' ')}`, this.flags.dir)})`);
    if (!this.flags.follow) return;
    await followProcessLogs(files, { offsets: now.offsets, onLine: emit, signal: this.signal });
  }
}

function parsePhases(s: string): string[] {
  const known = new Set<string>(KNOWN_PHASES);
  const list = s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  if (list.length === 0) throw new CliError('BAD_ARGUMENT', '--phase needs at least one phase', `choose from: ${KNOWN_PHASES.join(', ')}`);
  for (const ph of list) {
    if (!known.has(ph)) throw new CliError('BAD_ARGUMENT', `unknown phase "${ph}"`, `choose from: ${KNOWN_PHASES.join(', ')}`);
  }
  return list;
}
