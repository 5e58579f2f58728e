/**
 * The phase log's one record type, its line encoding and parsing, and its file names: what the
 * writer (replica processes: writer.ts), the operator's own records (pbft fault) and the reader
 * (pbft logs, request --trace, demo: reader.ts) share. One JSON object per line in
 * replicas/<i>/phases.jsonl, rotated to phases.1.jsonl:
 * {ts, replica, view, phase, seq?, digest?, peer?, client?, timestamp?, reason?, detail?, ...}.
 */
import { CORE_PHASES } from '../core/types.js';

/** The file a phase log rotates to (phases.jsonl -> phases.1.jsonl). */
export function rotatedPhaseLog(file: string): string {
  return `${file.replace(/\.jsonl$/, '')}.1.jsonl`;
}

/**
 * What a replica logs: a core PhaseEvent, or one of the runtime's own phases (ready, connect,
 * stop, fault...). The writer stamps it with the time and the replica.
 */
export interface PhaseLine {
  phase: string;
  view: number;
  seq?: number;
  digest?: string;
  peer?: number;
  client?: string;
  timestamp?: number;
  reason?: string;
  detail?: string;
}

/** A phase-log record as written to (and read from) phases.jsonl. Extra fields pass through. */
export interface PhaseRecord extends PhaseLine {
  /** milliseconds since the epoch (a number), or an ISO-8601 string */
  ts: number | string;
  replica: number;
  [k: string]: unknown;
}

/** Longest line we try to interpret; longer ones are skipped as malformed. */
export const MAX_LINE_CHARS = 1 << 20;

/** The phases the core (CORE_PHASES) and the runtime write (for validation and colour). */
export const KNOWN_PHASES = ['ready', ...CORE_PHASES, 'connect', 'disconnect', 'start', 'stop', 'admin'] as const;

export function recordTimeMs(rec: PhaseRecord): number {
  return typeof rec.ts === 'number' ? rec.ts : Date.parse(rec.ts);
}

const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parse one line; null for anything that is not a phase record. */
export function parsePhaseLine(line: string): PhaseRecord | null {
  if (line.length === 0 || line.length > MAX_LINE_CHARS) return null;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const r = v as Record<string, unknown>;
  if (typeof r.phase !== 'string' || !isNonNegInt(r.replica)) return null;
  if (typeof r.ts === 'number') {
    if (!Number.isFinite(r.ts)) return null;
  } else if (typeof r.ts === 'string') {
    if (!Number.isFinite(Date.parse(r.ts))) return null;
  } else return null;
  if (r.view !== undefined && !isNonNegInt(r.view)) return null;
  if (r.seq !== undefined && !isNonNegInt(r.seq)) return null;
  if (r.view === undefined) r.view = 0;
  return r as PhaseRecord;
}

/** One line (without its newline): ts, replica, view and phase first, then the rest. */
export function encodePhaseRecord(rec: PhaseRecord): string {
  return encodePhaseLine(rec.ts, rec.replica, rec);
}

/**
 * The line of `line` stamped with `ts` and `replica` (which replace any the line has): the same
 * text as encodePhaseRecord({ ...line, ts, replica }), built in one pass without the two object
 * copies (a replica writes one of these per executed request).
 */
export function encodePhaseLine(ts: number | string, replica: number, line: object): string {
  const r = line as Record<string, unknown>;
  let s = `{"ts":${JSON.stringify(ts)},"replica":${JSON.stringify(replica)}`;
  if (r.view !== undefined) s += `,"view":${JSON.stringify(r.view)}`;
  if (r.phase !== undefined) s += `,"phase":${JSON.stringify(r.phase)}`;
  for (const k in r) {
    if (!Object.hasOwn(r, k) || k === 'ts' || k === 'replica' || k === 'view' || k === 'phase') continue;
    const v = r[k];
    // JSON.stringify leaves out what has no JSON (undefined, functions, symbols)
    const j = JSON.stringify(v) as string | undefined;
    if (j !== undefined) s += `,${JSON.stringify(k)}:${j}`;
  }
  return `${s}}`;
}
