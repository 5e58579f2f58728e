import type { Hook } from '@oclif/core';
import { EXIT, oneLine } from '../../cluster/errors.js';
import { program } from '../../cluster/hints.js';
import { suggestCommand } from '../../cluster/suggest.js';

/** `pbft requst put a b`: one line naming the closest command (a line that runs), exit code 2. */
const hook: Hook<'command_not_found'> = async (opts) => {
  const ids = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id);
  const s = suggestCommand(opts.id, ids);
  const first = s.typed.split(' ')[0] ?? s.typed;
  const hint = s.line
    ? `did you mean "${program()} ${s.line}"? Run \`${program()} --help\` for all commands`
    : `run \`${program()} --help\` for the list of commands`;
  const message = `unknown command "${first}"`;
  if (opts.argv?.includes('--json')) process.stdout.write(`${JSON.stringify({ ok: false, error: { code: 'UNKNOWN_COMMAND', message, hint } })}\n`);
  process.stderr.write(`${oneLine(message, hint)}\n`);
  process.exit(EXIT.usage);
};
export default hook;
