import { Args } from '@oclif/core';
import { formatClusterList, listClusters } from '../../cluster/clusters.js';
import { PbftCommand } from '../base.js';

export default class Ls extends PbftCommand<typeof Ls> {
  static override summary = 'List the clusters in a directory and its subdirectories, with their state.';
  static override description = [
    'A cluster is a directory with a cluster.json. DIR (default: the current directory) and its',
    'subdirectories two levels down are searched. State: up (every replica runs), partial, down, or',
    'invalid (cluster.json does not load; the reason is shown). It asks the replicas nothing.',
  ].join('\n');
  static override examples = ['<%= config.bin %> ls', '<%= config.bin %> ls ~/clusters --json'];
  static override args = { dir: Args.string({ description: 'Where to look (default: the current directory).', required: false }) };
  static override enableJsonFlag = true;

  async run(): Promise<unknown> {
    const rows = await listClusters(this.args.dir ?? '.');
    this.log(formatClusterList(rows, this.palette));
    return rows;
  }
}
