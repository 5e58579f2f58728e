/**
 * Typed errors for everything outside the sans-I/O core: configuration, keys, processes, the
 * network and the client. `message` is one line that says what is wrong and how to fix it;
 * `code` is stable and machine-readable; `hint` is an optional extra line of advice.
 */
export type PbftErrorCode =
  | 'CONFIG_MISSING'
  | 'CONFIG_INVALID'
  | 'KEY_MISSING'
  | 'KEY_UNREADABLE'
  | 'KEY_MALFORMED'
  | 'CLUSTER_EXISTS'
  | 'REPLICA_RUNNING'
  | 'UNKNOWN_REPLICA'
  | 'PORT_IN_USE'
  | 'LISTEN_FAILED'
  | 'WAL_CORRUPT'
  | 'WAL_IO'
  | 'NO_QUORUM'
  | 'UNREACHABLE'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'ADMIN_REFUSED'
  | 'BAD_ARGUMENT'
  | 'IO'
  // the CLI may add its own codes
  | (string & {});

export class PbftError extends Error {
  override readonly name = 'PbftError';
  readonly code: PbftErrorCode;
  readonly hint?: string;

  constructor(code: PbftErrorCode, message: string, o: { hint?: string; cause?: unknown } = {}) {
    super(message, o.cause !== undefined ? { cause: o.cause } : undefined);
    this.code = code;
    if (o.hint !== undefined) this.hint = o.hint;
  }

  toJSON(): { code: string; message: string; hint?: string } {
    return this.hint === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, hint: this.hint };
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
  return new PbftError('ABORTED', `aborted${reason instanceof Error ? ': ' + reason.message : ''}`);
}
