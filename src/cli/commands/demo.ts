import { Flags } from '@oclif/core';
import { runDemo } from '../../cluster/demo.js';
import { formatMs } from '../../cluster/format.js';
import { PbftCommand, intFlag } from '../base.js';

export default class Demo extends PbftCommand<typeof Demo> {
  static override summary = 'A one-minute unattended tour on a throwaway local cluster.';
  static override description = [
    'Creates a cluster in a temporary directory on free ports, starts it, sends a few requests, shows',
    'the merged phase log of one of them, crashes the primary (a view change elects a new one; the old',
    'primary is restarted and catches up), corrupts a backup\'s state (repaired by state transfer at the',
    'next checkpoint), checks that every replica holds the same state, then stops the cluster and',
    'removes the directory (also on errors and Ctrl-C).',
  ].join('\n');
  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --replicas 7', '<%= config.bin %> demo --keep'];
  static override enableJsonFlag = true;
  static override flags = {
    replicas: intFlag({ summary: 'Number of replicas.', min: 4, max: 16, default: 4, char: 'n' }),
    keep: Flags.boolean({ summary: 'Keep the temporary cluster directory (stopped) to look at its logs.' }),
  };

  async run(): Promise<unknown> {
    const p = this.palette;
    this.log(p.paint('1', 'pbft demo') + ` — a ${this.flags.replicas}-replica PBFT cluster on this machine, start to finish`);
    const summary = await runDemo({
      replicas: this.flags.replicas,
      keep: this.flags.keep,
      out: (line) => this.log(line),
      palette: p,
      signal: this.signal,
    });
    this.log(`Demo finished in ${formatMs(summary.durationMs)}. Your own cluster: pbft init && pbft up (see pbft --help).`);
    return summary;
  }
}
