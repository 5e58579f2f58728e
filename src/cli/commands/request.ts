import { Args, Flags } from '@oclif/core';
import { describeOutcome, maxValueBytes, parseRequestArgs, resolveValue, runRequest, type ResolvedValue } from '../../cluster/request.js';
import { discoverPhaseFiles } from '../../phaselog/index.js';
import { replicaProcessState } from '../../cluster/processes.js';
import { formatTrace, traceRequest } from '../../cluster/trace.js';
import { formatMs } from '../../cluster/format.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Request extends PbftCommand<typeof Request> {
  static override summary = 'Send a key-value operation to the cluster: put KEY VALUE, get KEY, del KEY.';
  static override description = [
    'The request is signed by a configured client, sent to the primary, retransmitted to every replica',
    'on timeout, and accepted once f+1 replicas send matching signed replies. Prints the result, the',
    "replicas whose replies formed the quorum, the view and the latency. --trace adds the request's",
    'timeline across the replicas, from their phase logs.',
    '',
    "VALUE may be - (read standard input) or @FILE (a file's contents, as they are); --literal sends",
    'the word itself. Long values are shown cut, with their length; --json has them in full.',
    '',
    'A request that times out was sent: its outcome is unknown (the replicas may still execute it',
    'once they agree), and the error says so (exit code 5, "outcome": "unknown" in --json).',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> request put greeting hello',
    '<%= config.bin %> request get greeting --trace',
    '<%= config.bin %> request del greeting --json',
    'cat big.txt | <%= config.bin %> request put big -',
    '<%= config.bin %> request put config @settings.json',
  ];
  static override strict = false;
  static override usage = 'request put KEY VALUE | get KEY | del KEY [--trace] [--timeout MS] [--json]';
  static override args = {
    action: Args.string({ description: 'put, get or del', required: false }),
    key: Args.string({ description: 'the key', required: false }),
    value: Args.string({ description: 'the value (put only): a word, - for standard input, or @FILE', required: false }),
  };
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    timeout: intFlag({ summary: 'Give up after this many ms without f+1 matching replies.', min: 1, max: 3_600_000, default: 10_000, char: 't' }),
    client: Flags.string({ summary: 'A client id configured in cluster.json (default: the first one).' }),
    literal: Flags.boolean({ summary: 'Send VALUE as it is, even when it is - or starts with @.' }),
    'read-only': Flags.boolean({ summary: 'Use the read-only path for get (2f+1 matching tentative replies).' }),
    trace: Flags.boolean({
      summary: "Print the request's timeline across replicas (request, pre-prepare, prepares, commits, execute, replies).",
      description: 'Shows what each replica did; messages received from peers are in pbft logs --seq N (and in --json).',
    }),
  };

  async run(): Promise<unknown> {
    const op = parseRequestArgs([this.args.action, this.args.key, this.args.value, ...this.rest]);
    if (this.flags['read-only'] && op.op !== 'get') this.warn('--read-only applies to get only; sending a normal request');
    const cluster = await this.cluster(this.flags.dir);
    let source: ResolvedValue | undefined;
    if (op.op === 'put') {
      if (op.value === '-' && !this.flags.literal && process.stdin.isTTY) this.note('Reading the value from standard input; end it with Ctrl-D.');
      source = await resolveValue(op.value, { maxBytes: maxValueBytes(cluster, op.key), literal: this.flags.literal });
      op.value = source.value;
    }
    const out = await runRequest(cluster, op, {
      timeoutMs: this.flags.timeout,
      readOnly: this.flags['read-only'] && op.op === 'get',
      signal: this.signal,
      ...(this.flags.client ? { clientId: this.flags.client } : {}),
    });
    this.log(describeOutcome(out));
    this.log(`quorum: replicas ${out.replicas.join(', ')}  ·  view ${out.view}  ·  latency ${formatMs(out.latencyMs)}`);
    let trace: Awaited<ReturnType<typeof traceRequest>> | undefined;
    if (this.flags.trace) {
      const running = (await Promise.all(cluster.config.replicas.map((r) => replicaProcessState(cluster.dir, r.id)))).filter((s) => s.running).map((s) => s.id);
      const files = await discoverPhaseFiles(
        cluster.dir,
        cluster.config.replicas.map((r) => r.id),
      );
      trace = await traceRequest(
        files,
        { client: out.client, timestamp: out.timestamp },
        { expect: running, timeoutMs: 3000, sinceMs: out.sentAtMs - 5000, signal: this.signal },
      );
      this.log('');
      const readOnly = this.flags['read-only'] && op.op === 'get';
      const client = { sentAtMs: out.sentAtMs, doneAtMs: out.doneAtMs, replicas: out.replicas, view: out.view, readOnly, quorum: 2 * cluster.params.f + 1 };
      this.log(formatTrace(trace, this.palette, client, { compact: true }));
    }
    if (!out.ok) process.exitCode = 1;
    return {
      ok: out.ok,
      op: out.op.op,
      key: out.op.key,
      ...(out.op.op === 'put' ? { value: out.op.value, valueBytes: source?.bytes, valueFrom: source?.from } : {}),
      result: out.result,
      ...(out.error ? { error: out.error } : {}),
      replicas: out.replicas,
      view: out.view,
      latencyMs: out.latencyMs,
      client: out.client,
      timestamp: out.timestamp,
      ...(trace ? { trace: { seqs: trace.seqs, executedBy: trace.executedBy, records: trace.records } } : {}),
    };
  }
}
