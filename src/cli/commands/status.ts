import { clusterStatus, formatStatusSummary, formatStatusTable, summarizeStatus } from '../../cluster/status.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Status extends PbftCommand<typeof Status> {
  static override summary = 'Show every replica: running or not, view, primary, progress, state digest, peers, drops.';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    timeout: intFlag({ summary: 'How long to wait for each replica to answer, in ms.', min: 50, max: 600_000, default: 2000 }),
  };

  async run(): Promise<unknown> {
    const cluster = await this.cluster(this.flags.dir);
    const rows = await clusterStatus(cluster, { timeoutMs: this.flags.timeout, signal: this.signal });
    this.log(formatStatusTable(rows, this.palette));
    this.log('');
    this.log(formatStatusSummary(summarizeStatus(cluster, rows), rows));
    return rows.map(({ status, ...r }) => ({
      ...r,
      ...(status ? { ready: status.ready, inboundPeers: status.inboundPeers, uptimeMs: status.uptimeMs, wal: status.wal, faultInjection: status.faults?.enabled } : {}),
    }));
  }
}
