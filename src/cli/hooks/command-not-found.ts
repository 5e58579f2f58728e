import type { Hook } from '@oclif/core';
import { EXIT, oneLine } from '../../cluster/errors.js';

/** `pbft frobnicate`: one line, the closest command, exit code 2. */
const hook: Hook<'command_not_found'> = async function (opts) {
  const ids = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id);
  const closest = ids
    .map((id) => ({ id, d: distance(id, opts.id) }))
    .sort((a, b) => a.d - b.d)[0];
  const hint = closest && closest.d <= 2 ? `did you mean "pbft ${closest.id}"? Run \`pbft --help\` for all commands` : 'run `pbft --help` for the list of commands';
  process.stderr.write(oneLine(`unknown command "${opts.id}"`, hint) + '\n');
  process.exit(EXIT.usage);
};
export default hook;

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}
