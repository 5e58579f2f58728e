/** Terminal formatting: colours (NO_COLOR respected), phase-log lines, tables, durations. */
import type { PhaseRecord } from '../phaselog/index.js';
import { recordTimeMs } from '../phaselog/index.js';

export interface Palette {
  enabled: boolean;
  paint(code: string, s: string): string;
}

/**
 * Colour is on for a terminal unless NO_COLOR is set (https://no-color.org); FORCE_COLOR
 * (not "0") turns it on for pipes. NO_COLOR wins.
 */
export function colourEnabled(env: NodeJS.ProcessEnv = process.env, isTTY = Boolean(process.stdout.isTTY)): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  return isTTY && env.TERM !== 'dumb';
}

export function palette(enabled: boolean): Palette {
  return { enabled, paint: (code, s) => (enabled && code ? `\x1b[${code}m${s}\x1b[0m` : s) };
}

/** SGR codes, one per replica (cycled). */
const REPLICA_COLOURS = ['36', '35', '33', '32', '34', '91', '96', '95', '93', '92', '94', '31'];

const PHASE_COLOURS: Record<string, string> = {
  ready: '32',
  request: '1',
  'pre-prepare': '34',
  prepare: '36',
  prepared: '1;36',
  commit: '35',
  committed: '1;35',
  execute: '32',
  reply: '1;32',
  checkpoint: '33',
  stable: '1;33',
  'view-change': '31',
  'new-view': '1;31',
  'enter-view': '1;31',
  'state-transfer': '1;33',
  'catch-up': '33',
  recovery: '7;33',
  drop: '2',
  fault: '7;31',
  connect: '2',
  disconnect: '2;31',
  start: '2',
  stop: '2',
  admin: '7;33',
};

export function replicaColour(id: number): string {
  return REPLICA_COLOURS[id % REPLICA_COLOURS.length]!;
}
export function phaseColour(phase: string): string {
  return PHASE_COLOURS[phase] ?? '';
}

const pad2 = (n: number) => String(n).padStart(2, '0');
const pad3 = (n: number) => String(n).padStart(3, '0');

/** HH:MM:SS.mmm in local time. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${pad3(d.getMilliseconds())}`;
}

export function shortHex(h: string | undefined, chars = 8): string {
  return h === undefined ? '' : h.length > chars ? h.slice(0, chars) : h;
}

/** Clip a client id for display: `pk:<64 hex>` becomes `pk:abcd1234…`. */
export function shortClient(c: string): string {
  return c.startsWith('pk:') && c.length > 11 ? `${c.slice(0, 11)}…` : c;
}

/** The details of a record after the fixed columns. */
export function recordDetails(rec: PhaseRecord): string {
  const parts: string[] = [];
  if (rec.digest !== undefined) parts.push(`d=${shortHex(String(rec.digest))}`);
  if (rec.peer !== undefined) parts.push(`peer=r${rec.peer}`);
  if (rec.client !== undefined) parts.push(`client=${shortClient(String(rec.client))}`);
  if (rec.timestamp !== undefined) parts.push(`t=${rec.timestamp}`);
  if (rec.reason !== undefined) parts.push(`reason=${rec.reason}`);
  if (rec.detail !== undefined) parts.push(String(rec.detail));
  return parts.join(' ');
}

/** "+12.0 ms", right-aligned to the width of a clock time (12 characters). */
export function relTime(deltaMs: number): string {
  return `+${deltaMs.toFixed(1)} ms`.padStart(12);
}

/** One merged-log line: time, replica, view, seq, phase, details. */
export function formatRecord(rec: PhaseRecord, p: Palette, o: { relativeToMs?: number } = {}): string {
  const ms = recordTimeMs(rec);
  const time = o.relativeToMs !== undefined ? relTime(ms - o.relativeToMs) : clockTime(ms);
  const who = p.paint(replicaColour(rec.replica), `r${rec.replica}`.padEnd(3));
  const view = `v${rec.view}`.padEnd(4);
  const seq = (rec.seq !== undefined ? `#${rec.seq}` : '').padEnd(7);
  const phase = p.paint(phaseColour(rec.phase), rec.phase.padEnd(14));
  return `${time}  ${who} ${view} ${seq} ${phase} ${recordDetails(rec)}`.trimEnd();
}

/** A plain text table; `align` per column ('l' or 'r'). Cells may contain colour codes. */
export function table(headers: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: it matches ANSI colour codes (ESC [ ... m) on purpose
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = headers.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => {
        const padding = ' '.repeat(Math.max(0, widths[i]! - visible(c)));
        return align?.[i] === 'r' ? padding + c : c + padding;
      })
      .join('  ')
      .trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}

export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

// ---------------------------------------------------------------------------------------
// User data on a terminal
// ---------------------------------------------------------------------------------------

/**
 * Characters that must never reach a terminal raw: C0 and C1 controls (escape sequences, line
 * breaks), DEL, line/paragraph separators and the bidirectional overrides and isolates.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: it finds control characters in order to escape them
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Always quoted, JSON-style, with every unsafe character escaped (\n, \u001b...). */
export function quoteText(s: string): string {
  return JSON.stringify(s).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A key: bare when it is a plain word (letters, digits, _ . : / @ + = -), quoted otherwise. */
export function showKey(k: string): string {
  return /^[A-Za-z0-9_.:/@+=-]+$/.test(k) ? k : quoteText(k);
}

/** Values longer than this many bytes are shown cut, with their length. */
export const SHOW_VALUE_MAX_BYTES = 200;
/** How many characters of a long value are shown. */
export const SHOW_VALUE_HEAD_CHARS = 60;

/** A value, quoted; a long one cut to its first characters plus its length in bytes. */
export function showValue(v: string, maxBytes = SHOW_VALUE_MAX_BYTES): string {
  const bytes = Buffer.byteLength(v, 'utf8');
  if (bytes <= maxBytes) return quoteText(v);
  const head = Array.from(v).slice(0, SHOW_VALUE_HEAD_CHARS).join('');
  return `${quoteText(head).slice(0, -1)}…" (${bytes} bytes)`;
}
