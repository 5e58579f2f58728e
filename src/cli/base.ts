/**
 * The base of every pbft command: shared flags, one-line errors with exit codes, --json,
 * --debug, and interruption (Ctrl-C) as an AbortSignal.
 *
 * Every error becomes `Error: <what is wrong>. <how to fix it>.` on stderr and a non-zero
 * exit code (see EXIT in src/cluster/errors.ts); a stack trace only with --debug or DEBUG.
 * With --json, stdout also gets `{"ok":false,"error":{"code","message","hint"}}`.
 */
import { Command, Errors, Flags, ux, type Interfaces } from '@oclif/core';
import { loadCluster, type LoadedCluster } from '../runtime/config.js';
import { PbftError, describeError, type PbftErrorCode } from '../errors.js';
import { EXIT, exitCodeFor, oneLine } from '../cluster/errors.js';
import { colourEnabled, palette, type Palette } from '../cluster/format.js';
import { program } from '../cluster/hints.js';

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof PbftCommand)['baseFlags'] & T['flags']>;
export type Args<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/** --dir, for every command that works on a cluster directory. */
export const dirFlag = Flags.string({
  char: 'd',
  summary: 'Cluster directory.',
  description: 'Also read from the PBFT_DIR environment variable.',
  env: 'PBFT_DIR',
  default: './pbft-cluster',
});

type IntFlagOptions = { summary: string; min: number; max: number; default?: number; char?: 'c' | 'n' | 'f' | 't' };

/** An integer flag with bounds; a bad value is a one-line usage error. */
export function intFlag(o: IntFlagOptions & { default: number }): Interfaces.OptionFlag<number>;
export function intFlag(o: IntFlagOptions): Interfaces.OptionFlag<number | undefined>;
export function intFlag(o: IntFlagOptions): Interfaces.OptionFlag<number | undefined> {
  return Flags.custom<number>({
    summary: o.summary,
    ...(o.char ? { char: o.char } : {}),
    ...(o.default !== undefined ? { default: o.default } : {}),
    parse: async (input: string, _ctx, opts) => parseIntArg(input, `--${opts.name}`, o.min, o.max),
  })() as Interfaces.OptionFlag<number | undefined>;
}

/** A non-negative decimal flag with bounds (e.g. seconds). */
export function numberFlag(o: { summary: string; min: number; max: number; default: number }): Interfaces.OptionFlag<number> {
  return Flags.custom<number>({
    summary: o.summary,
    ...(o.default !== undefined ? { default: o.default } : {}),
    parse: async (input: string, _ctx, opts) => {
      const t = input.trim();
      const v = /^\d+(\.\d+)?$/.test(t) ? Number(t) : NaN;
      if (!(v >= o.min && v <= o.max)) {
        throw new PbftError('BAD_ARGUMENT', `--${opts.name} must be a number from ${o.min} to ${o.max}, got "${input}"`);
      }
      return v;
    },
  })() as Interfaces.OptionFlag<number>;
}

export function parseIntArg(input: string, what: string, min: number, max: number): number {
  const t = input.trim();
  const v = /^-?\d{1,16}$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new PbftError('BAD_ARGUMENT', `${what} must be an integer from ${min} to ${max}, got "${input}"`);
  }
  return v;
}

/** Pull a readable one-liner out of an oclif parse error (which spans several lines). */
function parseErrorLine(message: string): string {
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^See more help with/.test(l))
    .join('; ')
    .replace(/:;/g, ':');
}

export interface DescribedError {
  code: PbftErrorCode;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
  exitCode: number;
}

/** Map anything thrown to code, one-line message, hint and exit code. */
export function describeForUser(err: unknown, commandId?: string): DescribedError {
  const help = `run \`${program()} ${commandId ? `${commandId.replace(/:/g, ' ')} ` : ''}--help\` for usage`;
  if (err instanceof PbftError) {
    // oclif rewrites the message of an error thrown by a flag parser:
    // "Parsing --x \n\t<message>\nSee more help with --help"
    const wrapped = /^Parsing --[\w-]+\s*\n\s*([^\n]*)/.exec(err.message);
    const message = wrapped ? wrapped[1]! : err.message;
    const hint = wrapped ? help : err.hint?.split('\n')[0];
    return { code: err.code, message, ...(hint ? { hint } : {}), ...(err.details ? { details: err.details } : {}), exitCode: exitCodeFor(err.code) };
  }
  const e = err as Error & { parse?: unknown; oclif?: { exit?: number }; cause?: unknown; code?: unknown };
  if (e && e.cause instanceof PbftError) return describeForUser(e.cause, commandId);
  if (e instanceof Errors.CLIError) {
    // oclif wraps errors thrown by custom flag parsers: "Parsing --x \n\t<our message>"
    const m = /Parsing --[\w-]+\s*\n\s*(.*)/.exec(e.message);
    if (m) return { code: 'BAD_ARGUMENT', message: m[1]!.replace(/^Error:\s*/, ''), hint: help, exitCode: EXIT.usage };
    return { code: 'USAGE', message: parseErrorLine(e.message), hint: help, exitCode: EXIT.usage };
  }
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code === 'ABORT_ERR' || e?.name === 'AbortError') return { code: 'INTERRUPTED', message: 'interrupted', exitCode: EXIT.interrupted };
  return {
    // an errno error (EACCES, ENOSPC...) is an I/O failure; anything else is a bug
    code: code !== undefined && /^E[A-Z]+$/.test(code) ? 'IO' : 'INTERNAL',
    message: `unexpected error: ${describeError(err)}`,
    hint: 'run again with --debug for the stack trace, and please report it',
    ...(code !== undefined ? { details: { errno: code } } : {}),
    exitCode: EXIT.internal,
  };
}

export abstract class PbftCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ summary: 'Show stack traces on errors (also: DEBUG=1).', helpGroup: 'GLOBAL' }),
  };

  protected flags!: CommandFlags<T>;
  protected args!: Args<T>;
  /** extra positional arguments of non-strict commands */
  protected rest: string[] = [];
  private interrupt = new AbortController();
  private onSignal?: () => void;
  private signals = 0;

  override async init(): Promise<void> {
    await super.init();
    const { args, flags, argv } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof PbftCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as CommandFlags<T>;
    this.args = args as Args<T>;
    this.rest = (argv as string[]).slice(Object.keys(this.ctor.args ?? {}).length);
  }

  /** Aborted on the first Ctrl-C / SIGTERM; a second one exits at once. */
  protected get signal(): AbortSignal {
    if (!this.onSignal) {
      this.onSignal = () => {
        this.signals++;
        if (this.signals > 1) process.exit(EXIT.interrupted);
        this.interrupt.abort(new PbftError('INTERRUPTED', 'interrupted'));
      };
      process.on('SIGINT', this.onSignal);
      process.on('SIGTERM', this.onSignal);
    }
    return this.interrupt.signal;
  }

  protected get debugEnabled(): boolean {
    const d = process.env.DEBUG;
    return this.argv.includes('--debug') || (d !== undefined && d !== '' && d !== '0' && d !== 'false');
  }

  protected get palette(): Palette {
    return palette(colourEnabled());
  }

  /** Load and validate the cluster in --dir. */
  protected async cluster(dir: string): Promise<LoadedCluster> {
    return loadCluster(dir);
  }

  /** Write a line to stderr (progress, context), even in --json mode. */
  protected note(line: string): void {
    process.stderr.write(`${line}\n`);
  }

  override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err;
    try {
      if (ux.action.running) ux.action.stop('failed');
    } catch {
      /* no spinner */
    }
    // whatever broke because of Ctrl-C (a closed client, an aborted wait) is an interruption
    const d: DescribedError = this.interrupt.signal.aborted
      ? { code: 'INTERRUPTED', message: 'interrupted', exitCode: EXIT.interrupted }
      : describeForUser(err, this.id);
    if (this.jsonEnabled()) {
      const error = { code: d.code, message: d.message, ...(d.hint ? { hint: d.hint } : {}), ...(d.details ? { details: d.details } : {}) };
      process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
    }
    process.stderr.write(`${oneLine(d.message, d.hint)}\n`);
    if (this.debugEnabled && err?.stack) process.stderr.write(`${err.stack}\n`);
    this.exit(d.exitCode);
    return undefined;
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    if (this.onSignal) {
      process.off('SIGINT', this.onSignal);
      process.off('SIGTERM', this.onSignal);
    }
    await super.finally(err);
  }
}
