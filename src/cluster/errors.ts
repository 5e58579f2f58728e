/**
 * Errors of the cluster tooling and their exit codes. Every error the CLI shows is one line:
 * `Error: <what is wrong>. <how to fix it>.`
 */

import { PbftError, type PbftErrorCode } from '../errors.js';

/** A PbftError raised by the cluster tooling: (code, what is wrong, how to fix it). */
export class CliError extends PbftError {
  constructor(code: PbftErrorCode, message: string, hint?: string, details?: Record<string, unknown>) {
    super(code, message, { ...(hint !== undefined ? { hint } : {}), ...(details !== undefined ? { details } : {}) });
  }
}

/** Exit codes and the error-code table live in src/errors.ts (one closed list). */
export { EXIT, ERROR_CODES, EXIT_MEANINGS, exitCodeFor } from '../errors.js';

/** The code of an error, if it carries a string one (PbftError, CliError, errno errors). */
export function errorCode(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') return (e as { code: string }).code;
  return undefined;
}

function sentence(s: string): string {
  const t = s.trim().replace(/\s*\n\s*/g, ' ');
  if (t.length === 0) return t;
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** `Error: <message>. <hint>.` on one line. */
export function oneLine(message: string, hint?: string): string {
  const m = sentence(message.replace(/^Error:\s*/i, ''));
  const h = hint ? sentence(hint) : '';
  return `Error: ${m}${h ? ` ${h.charAt(0).toUpperCase()}${h.slice(1)}` : ''}`;
}
