import { Flags, ux } from '@oclif/core';
import { runBench, type BenchResult } from '../../cluster/bench.js';
import {
  benchClientFactory,
  formatReplicaWork,
  replicaCounters,
  replicaMemory,
  replicaWork,
  type ReplicaCounters,
  type ReplicaMemory,
  type ReplicaWork,
  type BenchConnections,
} from '../../cluster/bench-cluster.js';
import { maxBatchHoldMs } from '../../core/replica.js';
import { formatMs } from '../../cluster/format.js';
import { formatHostCpu, hostCpuUsage, sampleHostCpu, type HostCpuSample, type HostCpuUsage } from '../../cluster/host-cpu.js';
import type { SharedClientConnections } from '../../runtime/client.js';
import { PbftCommand, dirFlag, intFlag, numberFlag } from '../base.js';

export default class Bench extends PbftCommand<typeof Bench> {
  static override summary = 'Measure throughput and latency with closed-loop load from concurrent clients.';
  static override description = [
    'Each client (an ephemeral self-certifying identity, so cluster.json needs openClients: true) sends',
    'a put, waits for f+1 matching replies, and sends the next, for --duration seconds. Reports',
    'throughput, latency percentiles and errors, the mean batch size at the primary and the CPU seconds',
    'each replica used during the run. The load runs --warmup seconds first, unmeasured (the same clients',
    'and requests), so JIT-compiled code is warm and client sessions are keyed; --warmup 0 measures from',
    'the first request.',
    '',
    'By default the clients share one connection per replica (--connections shared), as a gateway or',
    'a load generator serving many users would: each still proves its own identity and keeps its own',
    'session keys, and a replica sends the replies of one turn as one frame. --connections own gives',
    'every client its own connection to every replica, as separate client processes have.',
  ].join('\n');
  static override examples = ['<%= config.bin %> bench', '<%= config.bin %> bench --clients 32 --duration 20 --value-size 128 --json'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    clients: intFlag({ summary: 'Concurrent clients.', min: 1, max: 1024, default: 1, char: 'c' }),
    duration: numberFlag({ summary: 'Seconds of load.', min: 0.1, max: 3600, default: 10 }),
    warmup: numberFlag({ summary: 'Seconds of unmeasured load first (0: none).', min: 0, max: 3600, default: 5 }),
    'value-size': intFlag({ summary: 'Bytes per value written.', min: 0, max: 1 << 20, default: 16 }),
    timeout: intFlag({ summary: 'Per-request timeout in ms (a timed-out request counts as an error).', min: 1, max: 3_600_000, default: 10_000 }),
    connections: Flags.string({
      summary: 'shared: one connection per replica for all clients; own: one per client per replica.',
      options: ['shared', 'own'],
      default: 'shared',
    }),
  };

  async run(): Promise<
    BenchResult & {
      n: number;
      f: number;
      replicaMemory: ReplicaMemory[];
      meanBatchSize: number | null;
      prePrepares: number | null;
      replicaCpuSeconds: { id: number; seconds: number }[];
      /** CPU seconds (user + system) this process, the load generator, used in the measured window */
      loadGeneratorCpuSeconds: number;
      /** the whole machine over the measured window (Linux's /proc/stat; null elsewhere): shares 0..1 */
      hostCpu: HostCpuUsage | null;
      requestAuth: ReplicaWork['auth'];
      /** the primary's batch holds during the run: started, ended with every awaited client back, ran out (null: unknown) */
      batchHolds: ReplicaWork['batchHolds'];
      connections: BenchConnections;
      /** shared connections: requests and replies, and the frames that carried them (warm-up included); null with own connections */
      clientFrames: { requests: number; requestFrames: number; replies: number; replyFrames: number } | null;
    }
  > {
    const cluster = await this.cluster(this.flags.dir);
    const { n, f } = cluster.params;
    const maxOp = cluster.config.protocol.maxOpBytes;
    if (this.flags['value-size'] + 512 > maxOp) {
      this.error(`--value-size ${this.flags['value-size']} does not fit in protocol.maxOpBytes (${maxOp})`, { exit: 2 });
    }
    const showProgress = !this.jsonEnabled();
    const warmup = this.flags.warmup > 0 ? ` after a ${this.flags.warmup} s warm-up` : '';
    this.note(
      `Benchmarking ${n} replicas (f = ${f}) with ${this.flags.clients} client${this.flags.clients > 1 ? 's' : ''} for ${this.flags.duration} s${warmup}, ${this.flags['value-size']}-byte values...`,
    );
    const tty = process.stderr.isTTY;
    if (showProgress && tty) ux.action.start('Running', 'connecting', { stdout: false });
    let before: ReplicaCounters[] = [];
    const shared = new Set<SharedClientConnections>();
    let cpuAtStart = process.cpuUsage();
    let hostAtStart: HostCpuSample | null = null;
    const res = await runBench({
      onStart: async () => {
        before = await replicaCounters(cluster, { timeoutMs: 5000 });
        cpuAtStart = process.cpuUsage();
        hostAtStart = sampleHostCpu();
      },
      clients: this.flags.clients,
      durationMs: this.flags.duration * 1000,
      warmupMs: this.flags.warmup * 1000,
      valueSize: this.flags['value-size'],
      requestTimeoutMs: this.flags.timeout,
      makeClient: await benchClientFactory(cluster, {
        signal: this.signal,
        connections: this.flags.connections as BenchConnections,
        onShared: (sh) => shared.add(sh),
      }),
      signal: this.signal,
      onProgress: (p) => {
        const line = `${(p.elapsedMs / 1000).toFixed(0)}/${(p.durationMs / 1000).toFixed(0)} s  ${p.completed} ok  ${p.errors} errors  ${p.recentThroughput.toFixed(0)} req/s`;
        if (!showProgress) return;
        if (tty) ux.action.status = line;
        else this.note(`  ${line}`);
      },
    });
    const cpu = process.cpuUsage(cpuAtStart);
    const hostCpu = hostCpuUsage(hostAtStart, sampleHostCpu());
    const loadGeneratorCpuSeconds = (cpu.user + cpu.system) / 1e6;
    if (showProgress && tty) ux.action.stop('done');
    const l = res.latency;
    this.log(
      `completed    ${res.completed} requests in ${(res.elapsedMs / 1000).toFixed(2)} s${res.aborted ? ' (interrupted)' : ''}${
        res.warmupMs > 0 ? `  (after ${res.warmupCompleted} in a ${(res.warmupMs / 1000).toFixed(1)} s warm-up, not counted)` : ''
      }`,
    );
    this.log(
      `errors       ${res.errors}${
        res.errors
          ? `  (${Object.entries(res.errorsByCode)
              .map(([k, v]) => `${k}: ${v}`)
              .join(', ')})`
          : ''
      }`,
    );
    this.log(`throughput   ${res.throughput.toFixed(1)} requests/s`);
    if (l.count > 0) this.log(`latency      p50 ${formatMs(l.p50Ms)}   p90 ${formatMs(l.p90Ms)}   p99 ${formatMs(l.p99Ms)}   max ${formatMs(l.maxMs)}`);
    const work = replicaWork(before, await replicaCounters(cluster, { timeoutMs: 5000 }));
    const hold = { ms: cluster.params.batchHoldMs, maxMs: maxBatchHoldMs(cluster.params.viewChangeTimeoutMs) };
    for (const line of formatReplicaWork(work, res.elapsedMs, hold)) this.log(line);
    // the load generator shares the machine with local replicas: its CPU is part of the picture
    this.log(
      `load gen CPU ${loadGeneratorCpuSeconds.toFixed(2)} s  (this process: ${this.flags.clients} client${this.flags.clients > 1 ? 's' : ''} on ${this.flags.connections === 'shared' ? 'one shared connection per replica' : 'their own connections'}, signing and checking replies)`,
    );
    if (hostCpu) this.log(formatHostCpu(hostCpu));
    let clientFrames: { requests: number; requestFrames: number; replies: number; replyFrames: number } | null = null;
    if (shared.size > 0) {
      clientFrames = { requests: 0, requestFrames: 0, replies: 0, replyFrames: 0 };
      for (const sh of shared) for (const k of Object.keys(clientFrames) as (keyof typeof clientFrames)[]) clientFrames[k] += sh.counters[k];
      this.log(
        `frames       ${clientFrames.requests} requests in ${clientFrames.requestFrames} frames, ${clientFrames.replies} replies in ${clientFrames.replyFrames} frames  (shared connections, warm-up included)`,
      );
    }
    const mem = await replicaMemory(cluster);
    if (mem.length > 0) {
      const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
      this.log(
        `replica RSS  peak ${mem.map((m) => `r${m.id} ${mb(m.peakRssBytes)}`).join(', ')}  (VmHWM since start; now ${mem.map((m) => mb(m.rssBytes)).join(', ')})`,
      );
    }
    if (res.completed === 0) process.exitCode = 5;
    return {
      ...res,
      n,
      f,
      replicaMemory: mem,
      meanBatchSize: work.meanBatch,
      prePrepares: work.prePrepares,
      replicaCpuSeconds: work.cpuSeconds,
      loadGeneratorCpuSeconds,
      hostCpu,
      requestAuth: work.auth,
      batchHolds: work.batchHolds,
      connections: this.flags.connections as BenchConnections,
      clientFrames,
    };
  }
}
