import { Flags } from '@oclif/core';
import { destroyCluster, planDestroy } from '../../cluster/lifecycle.js';
import { CliError } from '../../cluster/errors.js';
import { PbftError } from '../../errors.js';
import { PbftCommand, dirFlag, intFlag } from '../base.js';

export default class Destroy extends PbftCommand<typeof Destroy> {
  static override summary = 'Stop every replica, then delete the cluster directory (keys, logs, data), after a confirmation.';
  static override description = [
    'Stops the replicas as pbft down does, then removes cluster.json, keys/ and replicas/ from --dir, and',
    'the directory itself when nothing else is in it (other files are left alone). It asks first on a',
    'terminal; elsewhere (scripts, CI, --json) it needs --yes. A directory without cluster.json is refused.',
  ].join('\n');
  static override examples = ['<%= config.bin %> destroy', '<%= config.bin %> destroy --dir ./old --yes'];
  static override enableJsonFlag = true;
  static override flags = {
    dir: dirFlag,
    yes: Flags.boolean({ char: 'y', summary: 'Do not ask for confirmation.' }),
    grace: intFlag({ summary: 'Time between SIGTERM and SIGKILL, in ms.', min: 0, max: 600_000, default: 5000 }),
  };

  async run(): Promise<unknown> {
    const plan = await planDestroy(this.flags.dir);
    if (!this.flags.yes) {
      const canAsk = process.stdin.isTTY && process.stdout.isTTY && !this.jsonEnabled();
      if (!canAsk)
        throw new CliError(
          'CONFIRMATION_REQUIRED',
          `destroy deletes ${plan.dir} (keys, logs and data) and needs a confirmation; nothing was removed`,
          'run it on a terminal to be asked, or add --yes',
        );
      const { confirm } = await import('@inquirer/prompts');
      const stop = plan.running.length ? `Stop replica${plan.running.length > 1 ? 's' : ''} ${plan.running.join(', ')} and delete` : 'Delete';
      let ok = false;
      try {
        ok = await confirm({ message: `${stop} ${plan.dir} (keys, logs and data, for good)?`, default: false });
      } catch (e) {
        if (e instanceof Error && e.name === 'ExitPromptError') throw new PbftError('INTERRUPTED', 'cancelled; nothing was removed');
        throw e;
      }
      if (!ok) {
        this.log('Nothing was removed.');
        return { ok: true, destroyed: false, dir: plan.dir };
      }
    }
    const res = await destroyCluster(this.flags.dir, { graceMs: this.flags.grace });
    const stopped = res.stopped.filter((s) => s.status === 'stopped');
    if (stopped.length) this.log(`Stopped ${stopped.length} replica${stopped.length > 1 ? 's' : ''} (${stopped.map((s) => s.id).join(', ')}).`);
    this.log(
      res.removedDir
        ? `Removed ${res.dir}.`
        : `Removed the cluster from ${res.dir} (kept ${res.keep.length} other entr${res.keep.length === 1 ? 'y' : 'ies'}: ${res.keep.slice(0, 5).join(', ')}${res.keep.length > 5 ? ', ...' : ''}).`,
    );
    return { ok: true, destroyed: true, ...res };
  }
}
