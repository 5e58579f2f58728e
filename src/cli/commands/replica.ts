import { Flags } from '@oclif/core';
import { runReplicaProcess } from '../../runtime/replica-main.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Replica extends PbftCommand<typeof Replica> {
  static override hidden = true;
  static override summary = 'Run one replica in the foreground (what `pbft up` starts in the background).';
  static override examples = ['<%= config.bin %> replica --dir ./pbft-cluster --id 0'];
  static override flags = {
    dir: dirFlag,
    id: intFlag({ summary: 'Replica id.', min: 0, max: 255 }),
    faults: Flags.boolean({ summary: 'Accept signed fault commands (when cluster.json allows them).', allowNo: true, default: true }),
  };

  async run(): Promise<void> {
    if (this.flags.id === undefined) this.error('--id is required', { exit: 2 });
    await runReplicaProcess({ dir: this.flags.dir, id: this.flags.id, signal: this.signal, faultInjection: this.flags.faults });
  }
}
