/**
 * Typed errors for everything outside the sans-I/O core: configuration, keys, processes, the
 * network and the client. `message` is one line that says what is wrong and how to fix it;
 * `code` is stable and machine-readable (one of ERROR_CODES); `hint` is an optional extra line
 * of advice; `details` optional machine-readable facts (in `--json` errors).
 */

/** Exit codes of the pbft command, by class of problem. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  down: 4,
  noQuorum: 5,
  process: 6,
  degraded: 7,
  violation: 8,
  unverified: 9,
  interrupted: 130,
} as const;
export type ExitClass = keyof typeof EXIT;

/** What each exit code means (the README prints this table). */
export const EXIT_MEANINGS: Record<ExitClass, string> = {
  ok: 'success (`status`: every replica answers, and none has faults in force)',
  internal: 'an unexpected error (a bug: run again with --debug and report it), or a failed I/O operation',
  usage: 'a bad command line: unknown command or flag, a bad value, an unknown replica id',
  config: 'the cluster directory, cluster.json, replica.json or a key file is missing or invalid, or the operation is refused',
  down: 'the cluster or the replica is not running (or is paused)',
  noQuorum: 'no quorum: too few replicas answered or agreed in time',
  process: 'a replica process could not be started, became not ready, or could not be stopped',
  degraded: '`status` only: a quorum answers, but some replica does not, or has faults in force',
  violation: '`verify` only: a check failed (replicas disagree, a certificate does not verify, a state does not match its ledger)',
  unverified: '`verify` only: nothing failed, but something could not be checked (a damaged or missing ledger, a running replica that does not answer)',
  interrupted: 'interrupted (Ctrl-C or SIGTERM)',
};

/**
 * Every error code, with its exit-code class and a short meaning. Closed: a new code is added
 * here (and so in the README's table, which a unit test keeps in step).
 */
export const ERROR_CODES = {
  USAGE: ['usage', 'the command line could not be parsed (unknown flag, missing flag value)'],
  UNKNOWN_COMMAND: ['usage', 'no such command'],
  BAD_ARGUMENT: ['usage', 'an argument or flag value is invalid'],
  BAD_DIRECTORY: ['usage', 'the directory cannot hold a cluster (/proc, /sys, /dev, not a directory, not writable)'],
  UNKNOWN_REPLICA: ['usage', 'a replica id the cluster does not have'],
  CONFIRMATION_REQUIRED: ['usage', 'a destructive command needs --yes when it cannot ask'],
  CONFIG_MISSING: ['config', 'no cluster.json in the cluster directory'],
  CONFIG_INVALID: ['config', 'cluster.json or a replica.json is unreadable or invalid'],
  KEY_MISSING: ['config', 'a key file is missing'],
  KEY_UNREADABLE: ['config', 'a key file cannot be read'],
  KEY_MALFORMED: ['config', 'a key file does not hold the right key'],
  CLUSTER_EXISTS: ['config', 'the directory already holds a cluster (init without --force)'],
  REPLICA_RUNNING: ['config', 'the operation needs the replicas stopped first'],
  ADMIN_REFUSED: ['config', 'a replica refused an operator command (e.g. fault injection disabled)'],
  CLUSTER_DOWN: ['down', 'no replica of the cluster is running'],
  NOT_RUNNING: ['down', 'the replica is not running'],
  REPLICA_PAUSED: ['down', 'the replica is paused (SIGSTOP) and cannot answer'],
  UNREACHABLE: ['down', 'a replica did not accept a connection'],
  NO_QUORUM: ['noQuorum', 'too few replicas answered or agreed in time (for a request: its outcome is unknown)'],
  NO_PRIMARY: ['noQuorum', 'no primary that a quorum of replicas agree on'],
  TIMEOUT: ['noQuorum', 'a replica did not answer in time'],
  PORT_IN_USE: ['process', 'a replica port is taken by another process'],
  LISTEN_FAILED: ['process', 'a replica could not listen on its address'],
  REPLICA_EXITED: ['process', 'a replica process died during start-up'],
  NOT_READY: ['process', 'a replica did not become ready in time'],
  SPAWN_FAILED: ['process', 'a replica process could not be started'],
  STOP_FAILED: ['process', 'a replica process survived SIGKILL'],
  NOT_BUILT: ['process', 'the replica program is not built (npm run build)'],
  NO_FREE_PORTS: ['process', 'no free ports were found for the replicas'],
  WAL_CORRUPT: ['process', "a replica's durable log is corrupt"],
  WAL_IO: ['process', "a replica's durable log cannot be read or written"],
  WAL_CONFLICT: ['process', 'a replica has both an old-format durable log and segment files, and they differ (the operator chooses)'],
  LEDGER_IO: ['process', "a replica's audit ledger cannot be written (e.g. the disk is full)"],
  IO: ['internal', 'a file-system operation failed'],
  INTERNAL: ['internal', 'an unexpected error (a bug)'],
  DEMO_DIVERGED: ['internal', 'demo: the replicas did not converge'],
  DEMO_NOT_REPAIRED: ['internal', 'demo: the corrupted replica was not repaired'],
  INTERRUPTED: ['interrupted', 'interrupted by Ctrl-C or SIGTERM'],
  ABORTED: ['interrupted', 'the operation was aborted'],
} as const satisfies Record<string, readonly [ExitClass, string]>;

export type PbftErrorCode = keyof typeof ERROR_CODES;

/**
 * The README's tables, generated from EXIT and ERROR_CODES: exit codes with the error codes
 * that lead to each, then every error code with its meaning. A unit test keeps the README equal.
 */
export function exitCodeTables(): string {
  const entries = Object.entries(ERROR_CODES) as [PbftErrorCode, readonly [ExitClass, string]][];
  const byExit = (Object.entries(EXIT) as [ExitClass, number][]).sort((a, b) => a[1] - b[1]);
  const lines = ['| exit | meaning | error codes |', '|---:|---|---|'];
  for (const [cls, exit] of byExit) {
    const codes = entries.filter(([, [c]]) => c === cls).map(([k]) => `\`${k}\``);
    lines.push(`| ${exit} | ${EXIT_MEANINGS[cls]} | ${codes.join(', ') || '—'} |`);
  }
  lines.push('', '| error code | exit | meaning |', '|---|---:|---|');
  for (const [code, [cls, meaning]] of entries) lines.push(`| \`${code}\` | ${EXIT[cls]} | ${meaning} |`);
  return lines.join('\n');
}

export function isErrorCode(code: unknown): code is PbftErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** The exit code for an error code; anything unknown is internal (1). */
export function exitCodeFor(code: string | undefined): number {
  return isErrorCode(code) ? EXIT[ERROR_CODES[code][0]] : EXIT.internal;
}

export class PbftError extends Error {
  override readonly name = 'PbftError';
  readonly code: PbftErrorCode;
  readonly hint?: string;
  /** machine-readable facts, e.g. {outcome: 'unknown'} for a request that may still execute */
  readonly details?: Record<string, unknown>;

  constructor(code: PbftErrorCode, message: string, o: { hint?: string; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, o.cause !== undefined ? { cause: o.cause } : undefined);
    this.code = code;
    if (o.hint !== undefined) this.hint = o.hint;
    if (o.details !== undefined) this.details = o.details;
  }

  toJSON(): { code: string; message: string; hint?: string; details?: Record<string, unknown> } {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint !== undefined ? { hint: this.hint } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
    };
  }
}

export function isPbftError(e: unknown, code?: PbftErrorCode): e is PbftError {
  return e instanceof PbftError && (code === undefined || e.code === code);
}

/** A short description of any thrown value, for one-line messages. */
export function describeError(e: unknown): string {
  if (e instanceof PbftError) return e.message;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}

export function abortError(signal?: AbortSignal): PbftError {
  const reason = signal?.reason;
  if (reason instanceof PbftError) return reason;
  return new PbftError('ABORTED', `aborted${reason instanceof Error ? `: ${reason.message}` : ''}`);
}
