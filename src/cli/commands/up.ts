import { Args, Flags, ux } from '@oclif/core';
import { planUp, upCluster, upFailure } from '../../cluster/lifecycle.js';
import { cmd } from '../../cluster/hints.js';
import { parseReplicaIds } from '../../cluster/ids.js';
import { formatMs } from '../../cluster/format.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Up extends PbftCommand<typeof Up> {
  static override summary = 'Start replicas in the background and wait until they are ready.';
  static override description = [
    'Starts each replica as a detached process in its own process group (stdout/stderr to',
    'replicas/<i>/process.log, pid in replicas/<i>/replica.pid) and waits until it listens and is',
    'connected to a quorum. Replicas that are already running are left alone.',
  ].join('\n');
  static override examples = ['<%= config.bin %> up', '<%= config.bin %> up 0 2', '<%= config.bin %> up --dir ./big --timeout 60000'];
  static override strict = false;
  static override usage = 'up [IDS...] [--timeout MS] [--json]';
  static override args = { ids: Args.string({ description: 'Replica ids to start (default: all), e.g. 0 2 or 1-3.', required: false }) };
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    timeout: intFlag({ summary: 'How long to wait for the replicas to become ready, in ms.', min: 100, max: 3_600_000, default: 30_000 }),
    'fault-injection': Flags.boolean({ summary: 'Let the replicas accept signed fault commands (if cluster.json allows).', allowNo: true, default: true }),
  };

  async run(): Promise<unknown> {
    const cluster = await this.cluster(this.flags.dir);
    const n = cluster.config.replicas.length;
    const idArgs = [this.args.ids, ...this.rest].filter((x): x is string => x !== undefined);
    const ids = parseReplicaIds(idArgs, n);
    const plan = await planUp(cluster, ids);
    const starting = plan.toStart.length;
    const spinner = process.stderr.isTTY && !this.jsonEnabled() && starting > 0;
    if (!spinner && !this.jsonEnabled() && starting > 0) {
      const already = plan.alreadyRunning.length ? ` (${plan.alreadyRunning.length} already running)` : '';
      this.note(`Starting ${starting} replica${starting > 1 ? 's' : ''}${already} and waiting until ready (at most ${this.flags.timeout / 1000} s)...`);
    }
    if (spinner)
      ux.action.start(`Starting ${starting === n ? 'the cluster' : `replica${starting > 1 ? 's' : ''} ${plan.toStart.join(', ')}`}`, 'launching', {
        stdout: false,
      });
    const res = await upCluster(cluster, {
      ids,
      readyTimeoutMs: this.flags.timeout,
      faultInjection: this.flags['fault-injection'],
      signal: this.signal,
      warn: (m) => this.note(`warning: ${m}`),
      onProgress: (p) => {
        if (spinner) ux.action.status = `${p.ready}/${p.total} ready${p.pending.length ? `, waiting for ${p.pending.join(', ')}` : ''}`;
      },
    });
    const failure = upFailure(cluster, res);
    if (spinner) ux.action.stop(failure ? 'failed' : 'done');
    for (const o of res.outcomes) {
      const ep = cluster.config.replicas[o.id]!;
      const addr = `${ep.host}:${ep.port}`;
      switch (o.status) {
        case 'already-running':
          this.log(`replica ${o.id}  already running  pid ${o.pid}  ${addr}`);
          break;
        case 'ready':
          this.log(`replica ${o.id}  ready            pid ${o.pid}  ${addr}  (${formatMs(o.readyMs)})`);
          break;
        case 'not-ready':
          this.log(
            `replica ${o.id}  started          pid ${o.pid}  ${addr}  (${res.quorumRunning ? 'not ready yet' : `waiting for peers: ready once ${res.quorum} replicas run`})`,
          );
          break;
        case 'exited':
          this.log(`replica ${o.id}  FAILED           ${o.signal ? `killed by ${o.signal}` : `exit code ${o.exitCode ?? '?'}`}`);
          this.note(`--- last lines of replicas/${o.id}/process.log ---`);
          for (const l of o.lastLines) this.note(`  ${l}`);
          break;
      }
    }
    if (failure) throw failure;
    const dir = this.flags.dir;
    const allAlready = res.outcomes.every((o) => o.status === 'already-running');
    if (!res.quorumRunning) {
      const others = cluster.config.replicas.map((r) => r.id).filter((id) => !res.running.includes(id));
      this.log(
        `${res.running.length}/${n} replicas running; ${res.quorum} are needed for a quorum. Start the others with: ${cmd(`up ${others.join(' ')}`, dir)}`,
      );
    } else if (allAlready) {
      const what =
        ids.length === n
          ? `All ${n} replicas were already running`
          : `Replica${ids.length > 1 ? 's' : ''} ${ids.join(', ')} ${ids.length > 1 ? 'were' : 'was'} already running`;
      this.log(`${what}; nothing to start (${res.running.length}/${n} running, quorum ${res.quorum}). Check them with: ${cmd('status', dir)}`);
    } else {
      this.log(`Cluster is up: ${res.running.length}/${n} replicas running (quorum ${res.quorum}). Try: ${cmd('request put hello world', dir)}`);
    }
    return {
      ok: true,
      alreadyRunning: plan.alreadyRunning,
      started: plan.toStart,
      replicas: res.outcomes.map((o) => ({ ...o })),
      running: res.running,
      quorum: res.quorum,
      quorumRunning: res.quorumRunning,
    };
  }
}
