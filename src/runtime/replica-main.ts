#!/usr/bin/env node
/**
 * The replica process: `node dist/runtime/replica-main.js --dir D --id I [--no-faults]`.
 *
 * Prints exactly one JSON line {"event":"ready",...} on stdout once it listens and is connected
 * to a quorum (diagnostics go to stderr). SIGTERM / SIGINT stop it cleanly (exit 0). A bad
 * config, key or port gives one line on stderr and exit code 1 (2 for bad arguments).
 */
import { pathToFileURL } from 'node:url';
import { realpathSync } from 'node:fs';
import { PbftError, describeError } from '../errors.js';
import { loadCluster, parseReplicaId, replicaEntry } from './config.js';
import { ReplicaNode, type ReadyInfo } from './replica-node.js';

export interface RunReplicaOptions {
  dir: string;
  id: number;
  /** aborting stops the replica cleanly */
  signal?: AbortSignal;
  /** false refuses fault commands (--no-faults) */
  faultInjection?: boolean;
  /** where the ready line goes (default: stdout) */
  out?: (line: string) => void;
  onReady?: (info: ReadyInfo) => void;
}

/**
 * Run one replica until `signal` aborts. Rejects with a PbftError if it cannot start (bad
 * config, key, log or port) or if its durable log fails later.
 */
export async function runReplicaProcess(o: RunReplicaOptions): Promise<void> {
  const cluster = await loadCluster(o.dir);
  replicaEntry(cluster, o.id);
  const out = o.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  let fail!: (e: PbftError) => void;
  const fatal = new Promise<never>((_, reject) => (fail = reject));
  fatal.catch(() => undefined);
  const node = await ReplicaNode.start({
    cluster,
    id: o.id,
    faultInjection: o.faultInjection,
    onReady: (info) => {
      out(JSON.stringify(info));
      o.onReady?.(info);
    },
    onFatal: (e) => fail(e),
  });
  const stopped = new Promise<void>((resolve) => {
    if (o.signal?.aborted) return resolve();
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  try {
    await Promise.race([stopped, fatal]);
  } finally {
    await node.stop(o.signal?.aborted ? 'signal' : 'fatal error');
  }
}

const USAGE = 'usage: replica-main --dir <cluster dir> --id <replica id> [--no-faults]';

export function parseArgs(argv: string[]): { dir: string; id: number; faultInjection: boolean; debug: boolean } {
  let dir = process.env.PBFT_DIR || './pbft-cluster';
  let id: string | undefined;
  let faultInjection = true;
  let debug = !!process.env.DEBUG;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined;
    const value = () => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new PbftError('BAD_ARGUMENT', `${flag} needs a value; ${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--dir':
        dir = value();
        break;
      case '--id':
        id = value();
        break;
      case '--no-faults':
        faultInjection = false;
        break;
      case '--debug':
        debug = true;
        break;
      case '--help':
      case '-h':
        throw new PbftError('BAD_ARGUMENT', USAGE);
      default:
        throw new PbftError('BAD_ARGUMENT', `unknown argument "${a}"; ${USAGE}`);
    }
  }
  if (id === undefined) throw new PbftError('BAD_ARGUMENT', `--id is required; ${USAGE}`);
  return { dir, id: parseReplicaId(id), faultInjection, debug };
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`error: ${describeError(e)}\n`);
    return 2;
  }
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!ac.signal.aborted) ac.abort(new Error(sig));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onSignal);
  // Never crash on a stray exception from a socket or a handler: report it and keep going.
  process.on('uncaughtException', (e) => process.stderr.write(`${new Date().toISOString()} replica ${args.id}: uncaught: ${e.stack ?? e.message}\n`));
  process.on('unhandledRejection', (e) =>
    process.stderr.write(`${new Date().toISOString()} replica ${args.id}: unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`),
  );
  try {
    await runReplicaProcess({ dir: args.dir, id: args.id, signal: ac.signal, faultInjection: args.faultInjection });
    return 0;
  } catch (e) {
    const msg = e instanceof PbftError ? e.message : `replica ${args.id}: ${describeError(e)}`;
    process.stderr.write(`error: ${msg}\n`);
    if (args.debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(arg)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().then(
    (code) => {
      process.exitCode = code;
      // sockets are closed; do not let a straggling timer hold the process
      setTimeout(() => process.exit(code), 200).unref();
    },
    (e) => {
      process.stderr.write(`error: ${describeError(e)}\n`);
      process.exit(1);
    },
  );
}
