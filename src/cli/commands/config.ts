import { effectiveConfig, formatEffectiveConfig } from '../../cluster/clusters.js';
import { PbftCommand, dirFlag } from '../base.js';

export default class Config extends PbftCommand<typeof Config> {
  static override summary = "Show a cluster's configuration in force, secrets left out.";
  static override description = [
    "cluster.json, validated, with each replica's replica.json overrides and their defaults applied",
    '(marked * where replica.json sets them). Secret key files are named, with their mode, and never',
    'read. --json gives everything, public keys in full.',
  ].join('\n');
  static override examples = ['<%= config.bin %> config', '<%= config.bin %> config --json | jq .protocol'];
  static override enableJsonFlag = true;
  static override flags = { dir: dirFlag };

  async run(): Promise<unknown> {
    const cluster = await this.cluster(this.flags.dir);
    const e = await effectiveConfig(cluster);
    this.log(formatEffectiveConfig(e, this.palette));
    return e;
  }
}
