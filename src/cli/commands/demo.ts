import { Flags } from '@oclif/core';
import { runDemo, waitForEnter } from '../../cluster/demo.js';
import { formatMs } from '../../cluster/format.js';
import { cmd } from '../../cluster/hints.js';
import { PbftCommand, intFlag } from '../base.js';

export default class Demo extends PbftCommand<typeof Demo> {
  static override summary = 'A guided tour on a throwaway local cluster (a few seconds; --step to go at your own pace).';
  static override description = [
    'Creates a cluster in a temporary directory on free ports, starts it, sends a few requests, shows',
    'the merged phase log of one of them, crashes the primary (a view change elects a new one; the old',
    "primary is restarted and catches up), corrupts a backup's state (repaired by state transfer at the",
    'next checkpoint), checks that every replica holds the same state, then stops the cluster and',
    'removes the directory (also on errors and Ctrl-C). It takes about 5 seconds; with --step it waits',
    'for Enter before each act (on a terminal).',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --step',
    '<%= config.bin %> demo --replicas 7',
    '<%= config.bin %> demo --keep',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    replicas: intFlag({ summary: 'Number of replicas.', min: 4, max: 16, default: 4, char: 'n' }),
    keep: Flags.boolean({ summary: 'Keep the temporary cluster directory (stopped) to look at its logs.' }),
    step: Flags.boolean({ char: 's', summary: 'Wait for Enter before each act (on a terminal; ignored otherwise).' }),
  };

  async run(): Promise<unknown> {
    const p = this.palette;
    let step = this.flags.step;
    if (step && (!process.stdin.isTTY || this.jsonEnabled())) {
      this.note(
        `warning: --step waits for Enter on a terminal, and ${this.jsonEnabled() ? '--json output is not read by one' : 'standard input is not a terminal'}; running straight through`,
      );
      step = false;
    }
    this.log(`${p.paint('1', 'pbft demo')} — a ${this.flags.replicas}-replica PBFT cluster on this machine, start to finish`);
    const signal = this.signal;
    const summary = await runDemo({
      replicas: this.flags.replicas,
      keep: this.flags.keep,
      out: (line) => this.log(line),
      palette: p,
      signal,
      ...(step
        ? {
            pause: (next: { step: number; total: number; title: string }) =>
              waitForEnter(
                process.stdin,
                process.stderr,
                p.paint('2', `\n  (Enter: [${next.step}/${next.total}] ${next.title}; Ctrl-C stops and cleans up) `),
                signal,
              ),
          }
        : {}),
    });
    this.log(`Demo finished in ${formatMs(summary.durationMs)}. Your own cluster: ${cmd('init')} && ${cmd('up')} (see ${cmd('--help')}).`);
    return summary;
  }
}
