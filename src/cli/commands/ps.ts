import { listProcesses } from '../../cluster/lifecycle.js';
import { formatProcessTable } from '../../cluster/format-ps.js';
import { PbftCommand, dirFlag } from '../base.js';

export default class Ps extends PbftCommand<typeof Ps> {
  static override summary = "List the replicas' processes: state, pid, address, uptime, memory, log file.";
  static override description =
    'Reads pid files and /proc only: it asks the replicas nothing (see pbft status for that), so it answers at once, even for paused replicas.';
  static override examples = ['<%= config.bin %> ps', '<%= config.bin %> ps --json'];
  static override enableJsonFlag = true;
  static override flags = { dir: dirFlag };

  async run(): Promise<unknown> {
    const cluster = await this.cluster(this.flags.dir);
    const rows = await listProcesses(cluster);
    this.log(formatProcessTable(rows, this.palette));
    return rows;
  }
}
