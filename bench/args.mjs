/**
 * Flags for the bench/ scripts, strictly: `--help` (or -h) prints the script's usage and exits 0;
 * an unknown flag, a flag without its value, or a value that is not what the flag takes prints
 * what is wrong and the usage, and exits 2. (A mistyped flag, or `--help`, used to start a run
 * of many minutes with the defaults.)
 *
 *   const a = benchArgs(USAGE, {
 *     rounds: { kind: 'count', default: 3 },          // an integer >= 1
 *     warmup: { kind: 'seconds', default: 5 },        // a number >= 0 (also kind 'number')
 *     clients: { kind: 'counts', default: [1, 10, 50] }, // comma-separated integers >= 1
 *     fsync: { kind: 'choices', of: ['on', 'off'], default: ['on', 'off'] }, // comma-separated
 *     mode: { kind: 'choice', of: ['a', 'b'], default: 'a' },
 *     a: { kind: 'string', default: '.' },
 *     'no-sim': { kind: 'flag' },                     // true when given
 *   });
 *
 * Flag names are used as given (a['value-size']); `positionals` lists the arguments that are not
 * flags, for scripts that take some (others reject them).
 */
import { parseArgs } from 'node:util';

function fail(usage, message) {
  process.stderr.write(`error: ${message}\n\n${usage.trim()}\n`);
  process.exit(2);
}

function convert(name, spec, raw) {
  const bad = (what) => `--${name} ${JSON.stringify(raw)}: expected ${what}`;
  const int = (s, min) => {
    const v = Number(s);
    return /^\d+$/.test(s) && Number.isSafeInteger(v) && v >= min ? v : null;
  };
  switch (spec.kind) {
    case 'string':
      if (raw === '') throw new Error(bad('a value'));
      return raw;
    case 'count': {
      const v = int(raw, spec.min ?? 1);
      if (v === null) throw new Error(bad(`an integer >= ${spec.min ?? 1}`));
      return v;
    }
    case 'counts': {
      const vs = raw.split(',').map((s) => int(s.trim(), spec.min ?? 1));
      if (vs.length === 0 || vs.some((v) => v === null)) throw new Error(bad(`comma-separated integers >= ${spec.min ?? 1}`));
      return vs;
    }
    case 'seconds':
    case 'number': {
      const v = Number(raw);
      if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !Number.isFinite(v))
        throw new Error(bad(spec.kind === 'seconds' ? 'a number of seconds >= 0' : 'a number >= 0'));
      return v;
    }
    case 'choice':
      if (!spec.of.includes(raw)) throw new Error(bad(`one of ${spec.of.join(', ')}`));
      return raw;
    case 'choices': {
      const vs = raw.split(',').map((s) => s.trim());
      if (vs.length === 0 || vs.some((v) => !spec.of.includes(v))) throw new Error(bad(`comma-separated values of ${spec.of.join(', ')}`));
      return vs;
    }
    default:
      throw new Error(`bench/args.mjs: unknown kind ${spec.kind} for --${name}`);
  }
}

/** The usage with an error line first, on stderr, and exit code 2 (for checks of a script's own). */
export function usageError(usage, message) {
  fail(usage, message);
}

export function benchArgs(usage, specs, { argv = process.argv.slice(2), positionals = false } = {}) {
  const options = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of Object.entries(specs)) options[name] = { type: spec.kind === 'flag' ? 'boolean' : 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
  } catch (e) {
    fail(usage, e.message);
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  const out = { positionals: parsed.positionals };
  for (const [name, spec] of Object.entries(specs)) {
    const raw = parsed.values[name];
    if (spec.kind === 'flag') out[name] = raw === true;
    else if (raw === undefined) out[name] = spec.default;
    else {
      try {
        out[name] = convert(name, spec, raw);
      } catch (e) {
        fail(usage, e.message);
      }
    }
  }
  return out;
}
