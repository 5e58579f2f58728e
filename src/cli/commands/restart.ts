import { Args, Flags } from '@oclif/core';
import { restartReplicas, upFailure } from '../../cluster/lifecycle.js';
import { parseReplicaIds } from '../../cluster/ids.js';
import { formatMs } from '../../cluster/format.js';
import { cmd } from '../../cluster/hints.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Restart extends PbftCommand<typeof Restart> {
  static override summary = 'Restart replicas: stop them as pbft down does, then start them as pbft up does.';
  static override description = 'A replica restarts from its durable log and catches up with the others. IDS default to all replicas.';
  static override examples = ['<%= config.bin %> restart 2', '<%= config.bin %> restart 0-1 --grace 1000', '<%= config.bin %> restart --json'];
  static override strict = false;
  static override usage = 'restart [IDS...] [--grace MS] [--timeout MS] [--json]';
  static override args = { ids: Args.string({ description: 'Replica ids to restart (default: all), e.g. 0 2 or 1-3.', required: false }) };
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    grace: intFlag({ summary: 'Time between SIGTERM and SIGKILL, in ms.', min: 0, max: 600_000, default: 5000 }),
    timeout: intFlag({ summary: 'How long to wait for the replicas to become ready, in ms.', min: 100, max: 3_600_000, default: 30_000 }),
    'fault-injection': Flags.boolean({ summary: 'Let the replicas accept signed fault commands (if cluster.json allows).', allowNo: true, default: true }),
  };

  async run(): Promise<unknown> {
    const cluster = await this.cluster(this.flags.dir);
    const n = cluster.config.replicas.length;
    const ids = parseReplicaIds(
      [this.args.ids, ...this.rest].filter((x): x is string => x !== undefined),
      n,
    );
    const res = await restartReplicas(cluster, {
      ids,
      graceMs: this.flags.grace,
      readyTimeoutMs: this.flags.timeout,
      faultInjection: this.flags['fault-injection'],
      signal: this.signal,
      warn: (m) => this.note(`warning: ${m}`),
    });
    for (const r of res.replicas) {
      const stopped = r.stop.status === 'stopped' ? `stopped pid ${r.stop.pid} (${r.stop.signal}, ${formatMs(r.stop.stopMs)})` : 'was not running';
      const s = r.start;
      const started =
        s.status === 'ready'
          ? `started pid ${s.pid}, ready in ${formatMs(s.readyMs)}`
          : s.status === 'not-ready'
            ? `started pid ${s.pid}, ${res.quorumRunning ? 'not ready yet' : `waiting for peers (ready once ${res.quorum} run)`}`
            : s.status === 'exited'
              ? `FAILED: ${s.signal ? `killed by ${s.signal}` : `exit code ${s.exitCode ?? '?'}`}`
              : `already running, pid ${s.pid}`;
      this.log(`replica ${r.id}  ${stopped}; ${started}`);
    }
    const failure = upFailure(cluster, {
      outcomes: res.replicas.map((r) => r.start),
      running: res.running,
      quorum: res.quorum,
      quorumRunning: res.quorumRunning,
    });
    if (failure) throw failure;
    this.log(
      `Restarted ${ids.length} replica${ids.length === 1 ? '' : 's'}: ${res.running.length}/${n} running (quorum ${res.quorum}). Check with: ${cmd('status', this.flags.dir)}`,
    );
    return { ok: true, ...res };
  }
}
