import { formatFaultList } from '../../../cluster/fault-format.js';
import { listFaults } from '../../../cluster/fault-list.js';
import { PbftCommand, dirFlag, intFlag } from '../../base.js';

export default class FaultList extends PbftCommand<typeof FaultList> {
  static override summary = 'Show the faults in force on each replica: crashed or paused, network faults, Byzantine strategy.';
  static override examples = ['<%= config.bin %> fault list', '<%= config.bin %> fault list --json'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    timeout: intFlag({ summary: 'How long to wait for each replica to answer, in ms.', min: 50, max: 600_000, default: 2000 }),
  };

  async run(): Promise<unknown> {
    const cluster = await this.cluster(this.flags.dir);
    const rows = await listFaults(cluster, { timeoutMs: this.flags.timeout, signal: this.signal });
    this.log(formatFaultList(rows, this.palette));
    return rows;
  }
}
