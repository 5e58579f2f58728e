/**
 * The commands that hints tell people to run, written so that they run as printed:
 *
 * - the program: `pbft` when a `pbft` on PATH is this very program (after `npm link` or a
 *   global install), `npx pbft` inside the package's checkout (npm runs the package's own bin
 *   there), and `node <path>/bin/run.js` anywhere else;
 * - the cluster: `--dir D` whenever D is not the directory the next command would use anyway
 *   (PBFT_DIR, or ./pbft-cluster).
 */
import { accessSync, constants, realpathSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './processes.js';

/** The default cluster directory (the --dir default). */
export const DEFAULT_DIR = './pbft-cluster';

/** Quote a word for a POSIX shell only when it needs it. */
export function shellQuote(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function realpathOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

export interface ProgramEnv {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** the package root (default: this package's) */
  root?: string;
}

/** How to run this pbft from a shell here: "pbft", "npx pbft" or "node <path>/bin/run.js". */
export function pbftProgram(o: ProgramEnv = {}): string {
  const env = o.env ?? process.env;
  const cwd = o.cwd ?? process.cwd();
  const root = o.root ?? packageRoot();
  const bin = path.join(root, 'bin', 'run.js');
  const mine = realpathOrNull(bin);
  const rel = path.relative(root, cwd);
  const insideRoot = rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  // started by npx here: npx put its own bin directories on PATH, the user's shell has not
  if (env.npm_command === 'exec' && insideRoot) return 'npx pbft';
  for (const d of (env.PATH ?? '').split(path.delimiter)) {
    if (d === '') continue;
    const candidate = path.join(d, 'pbft');
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    // the first pbft on PATH is the one a shell runs: is it this one?
    return mine !== null && realpathOrNull(candidate) === mine ? 'pbft' : fallback();
  }
  return fallback();

  function fallback(): string {
    if (insideRoot) return 'npx pbft';
    const relBin = path.relative(cwd, bin);
    return `node ${shellQuote(relBin.length < bin.length ? relBin : bin)}`;
  }
}

let cachedProgram: string | undefined;

/** pbftProgram() for this process (computed once). */
export function program(): string {
  cachedProgram ??= pbftProgram();
  return cachedProgram;
}

/** For tests: forget the cached program name. */
export function resetProgramCache(): void {
  cachedProgram = undefined;
}

/**
 * ` --dir D` when the next command would not find the cluster in `dir` by itself, else ''.
 * `dir` may be relative (to cwd) or absolute; a path under cwd is shown relative.
 */
export function dirArg(dir: string | undefined, o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  if (dir === undefined) return '';
  const env = o.env ?? process.env;
  const cwd = o.cwd ?? process.cwd();
  const abs = path.resolve(cwd, dir);
  const implied = path.resolve(cwd, env.PBFT_DIR !== undefined && env.PBFT_DIR !== '' ? env.PBFT_DIR : DEFAULT_DIR);
  if (abs === implied) return '';
  const rel = path.relative(cwd, abs);
  const shown = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? (rel.startsWith('.') ? rel : `./${rel}`) : abs;
  return ` --dir ${shellQuote(shown)}`;
}

/** A command line to suggest, e.g. cmd('up 2', '/tmp/c') = "npx pbft up 2 --dir /tmp/c". */
export function cmd(args: string, dir?: string): string {
  return `${program()} ${args}${dirArg(dir)}`;
}
