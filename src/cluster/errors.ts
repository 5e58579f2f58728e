/**
 * Errors of the cluster tooling and their exit codes. Every error the CLI shows is one line:
 * `Error: <what is wrong>. <how to fix it>.`
 */

import { PbftError } from '../errors.js';

/** A PbftError raised by the cluster tooling: (code, what is wrong, how to fix it). */
export class CliError extends PbftError {
  constructor(code: string, message: string, hint?: string) {
    super(code, message, hint !== undefined ? { hint } : {});
  }
}

/** Exit codes, by class of problem. */
export const EXIT = {
  internal: 1,
  usage: 2,
  config: 3,
  down: 4,
  noQuorum: 5,
  process: 6,
  interrupted: 130,
} as const;

const EXACT: Record<string, number> = {
  USAGE: EXIT.usage,
  INVALID_ARGUMENT: EXIT.usage,
  INVALID_FLAG: EXIT.usage,
  UNKNOWN_REPLICA: EXIT.usage,
  BAD_INPUT: EXIT.usage,
  BAD_ARGUMENT: EXIT.usage,
  REPLICA_RUNNING: EXIT.config,
  ADMIN_REFUSED: EXIT.config,
  LISTEN_FAILED: EXIT.process,
  IO: EXIT.internal,
  NO_CLUSTER: EXIT.config,
  CLUSTER_EXISTS: EXIT.config,
  NO_QUORUM: EXIT.noQuorum,
  NO_PRIMARY: EXIT.noQuorum,
  REPLICA_PAUSED: EXIT.down,
  TIMEOUT: EXIT.noQuorum,
  CLUSTER_DOWN: EXIT.down,
  NOT_RUNNING: EXIT.down,
  UNREACHABLE: EXIT.down,
  PORT_IN_USE: EXIT.process,
  REPLICA_EXITED: EXIT.process,
  NOT_READY: EXIT.process,
  SPAWN_FAILED: EXIT.process,
  STOP_FAILED: EXIT.process,
  NOT_BUILT: EXIT.process,
  NO_FREE_PORTS: EXIT.process,
  INTERRUPTED: EXIT.interrupted,
  ABORTED: EXIT.interrupted,
};

/** The exit code for an error code (config/key problems, usage, quorum, processes...). */
export function exitCodeFor(code: string | undefined): number {
  if (!code) return EXIT.internal;
  const exact = EXACT[code];
  if (exact !== undefined) return exact;
  if (/^(CONFIG|KEY|CLUSTER|CRYPTO|TEMPLATE)_/.test(code) || /_(CONFIG|KEY|KEYS)$/.test(code)) return EXIT.config;
  if (/QUORUM|TIMEOUT/.test(code)) return EXIT.noQuorum;
  if (/^(INVALID|BAD|UNKNOWN)_/.test(code)) return EXIT.usage;
  if (/PORT|SPAWN|PROCESS/.test(code)) return EXIT.process;
  if (/DOWN|UNREACHABLE|CONNECT/.test(code)) return EXIT.down;
  return EXIT.internal;
}

/** The code of an error, if it carries a string one (PbftError, CliError, errno errors). */
export function errorCode(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') return (e as { code: string }).code;
  return undefined;
}

function sentence(s: string): string {
  const t = s.trim().replace(/\s*\n\s*/g, ' ');
  if (t.length === 0) return t;
  return /[.!?]$/.test(t) ? t : t + '.';
}

/** `Error: <message>. <hint>.` on one line. */
export function oneLine(message: string, hint?: string): string {
  const m = sentence(message.replace(/^Error:\s*/i, ''));
  const h = hint ? sentence(hint) : '';
  return `Error: ${m}${h ? ' ' + h.charAt(0).toUpperCase() + h.slice(1) : ''}`;
}
