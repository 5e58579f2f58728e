import { Args } from '@oclif/core';
import { downCluster } from '../../cluster/lifecycle.js';
import { parseReplicaIds } from '../../cluster/ids.js';
import { discoverReplicaIds } from '../../cluster/processes.js';
import { formatMs } from '../../cluster/format.js';
import { isPbftError } from '../../errors.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Down extends PbftCommand<typeof Down> {
  static override summary = 'Stop replicas: SIGTERM, a grace period, then SIGKILL.';
  static override description = 'Idempotent: stopping a stopped replica is fine. Verifies that no replica process is left.';
  static override examples = ['<%= config.bin %> down', '<%= config.bin %> down 3', '<%= config.bin %> down --grace 10000'];
  static override strict = false;
  static override usage = 'down [IDS...] [--grace MS] [--json]';
  static override args = { ids: Args.string({ description: 'Replica ids to stop (default: all), e.g. 0 2 or 1-3.', required: false }) };
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    grace: intFlag({ summary: 'Time between SIGTERM and SIGKILL, in ms.', min: 0, max: 600_000, default: 5000 }),
  };

  async run(): Promise<unknown> {
    let n: number;
    try {
      n = (await this.cluster(this.flags.dir)).config.replicas.length;
    } catch (e) {
      // a broken cluster.json must not keep anyone from stopping their processes
      if (!isPbftError(e, 'CONFIG_INVALID')) throw e;
      const found = await discoverReplicaIds(this.flags.dir);
      if (found.length === 0) throw e;
      this.note(`warning: ${e.message}; stopping the replicas found in ${this.flags.dir}/replicas anyway`);
      n = Math.max(...found) + 1;
    }
    const idArgs = [this.args.ids, ...this.rest].filter((x): x is string => x !== undefined);
    const ids = parseReplicaIds(idArgs, n);
    const outcomes = await downCluster(this.flags.dir, n, { ids, graceMs: this.flags.grace });
    for (const o of outcomes) {
      if (o.status === 'stopped') this.log(`replica ${o.id}  stopped       pid ${o.pid}  (${o.signal}, ${formatMs(o.stopMs)})`);
      else this.log(`replica ${o.id}  not running${o.stalePidFile ? '   (removed a stale pid file)' : ''}`);
    }
    const stopped = outcomes.filter((o) => o.status === 'stopped').length;
    this.log(ids.length === n ? `Cluster is down (${stopped} stopped, no replica process left).` : `Stopped ${stopped} replica${stopped === 1 ? '' : 's'}.`);
    return { ok: true, replicas: outcomes };
  }
}
