import { clusterStatus, formatStatusSummary, formatStatusTable, statusReport, summarizeStatus } from '../../cluster/status.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Status extends PbftCommand<typeof Status> {
  static override summary = 'Show every replica: running or not, view, primary, progress, state digest, peers, drops.';
  static override description = [
    'Ends with the health of the cluster, a warning per problem (below quorum, paused, not running,',
    'silent, faults in force) and the commands that fix them. The exit code is the health:',
    '0 healthy (every replica answers, no faults in force), 7 degraded (a quorum answers, but not',
    'every replica, or faults are in force), 5 no quorum (fewer than 2f+1 answer), 4 down (no',
    'replica runs). --json: {health, exitCode, belowQuorum, quorum, answering, paused, notRunning,',
    'silent, faulty, warnings, advice, replicas: [...]}.',
  ].join('\n');
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json', '<%= config.bin %> status >/dev/null || echo "not healthy: $?"'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    timeout: intFlag({ summary: 'How long to wait for each replica to answer, in ms.', min: 50, max: 600_000, default: 2000 }),
  };

  async run(): Promise<unknown> {
    const cluster = await this.cluster(this.flags.dir);
    const rows = await clusterStatus(cluster, { timeoutMs: this.flags.timeout, signal: this.signal });
    const sum = summarizeStatus(cluster, rows);
    this.log(formatStatusTable(rows, this.palette));
    this.log('');
    this.log(formatStatusSummary(sum, rows, this.palette));
    process.exitCode = sum.exitCode;
    return statusReport(sum, rows);
  }
}
