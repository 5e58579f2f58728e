/**
 * The simulator's trace: a bounded ring buffer of the last events of a run (deliveries,
 * drops, timer fires, phase logs, crashes, partitions), stored as small records and only
 * formatted - one line each, with virtual time - when a run fails or a full trace is asked for.
 */
import type { PhaseEvent } from '../core/types.js';

export interface TraceEntry {
  timeMs: number;
  /** short tag: deliver, drop, timer, log, exec, crash, restart, partition, heal, client, phase ... */
  kind: string;
  /** who acted (replica id as "r2", client as "c1") */
  who: string;
  /** lazily formatted payload */
  detail: string | (() => string);
}

export class TraceRing {
  private readonly buf: (TraceEntry | undefined)[];
  private next = 0;
  private count = 0;
  /** every entry, formatted, when a full trace was asked for */
  readonly full: string[] | null;

  constructor(
    readonly capacity: number,
    keepAll = false,
  ) {
    this.buf = new Array<TraceEntry | undefined>(Math.max(1, capacity));
    this.full = keepAll ? [] : null;
  }

  add(timeMs: number, kind: string, who: string, detail: string | (() => string)): void {
    const e: TraceEntry = { timeMs, kind, who, detail };
    if (this.full) this.full.push(formatEntry(e));
    this.buf[this.next] = e;
    this.next = (this.next + 1) % this.buf.length;
    if (this.count < this.buf.length) this.count++;
  }

  /** the buffered entries, oldest first, formatted */
  lines(): string[] {
    const out: string[] = [];
    const start = (this.next - this.count + this.buf.length) % this.buf.length;
    for (let i = 0; i < this.count; i++) out.push(formatEntry(this.buf[(start + i) % this.buf.length]!));
    return out;
  }
}

export function formatEntry(e: TraceEntry): string {
  let d: string;
  try {
    d = typeof e.detail === 'function' ? e.detail() : e.detail;
  } catch (err) {
    d = `<unformattable: ${(err as Error).message}>`;
  }
  return `${e.timeMs.toFixed(3).padStart(11)}ms ${e.who.padEnd(4)} ${e.kind.padEnd(9)} ${d}`;
}

export function short(h: unknown): string {
  return typeof h === 'string' ? h.slice(0, 8) : String(h);
}

function clip(s: string, max = 160): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// biome-ignore lint/suspicious/noExplicitAny: trace records are read loosely, field by field, for display only
type Any = Record<string, any>;

function reqTag(r: Any): string {
  const b = r?.body ?? {};
  return `${b.client}/${b.timestamp}`;
}

function batchTag(batch: unknown): string {
  if (!Array.isArray(batch)) return 'batch=?';
  if (batch.length === 0) return 'null';
  const tags = batch.slice(0, 6).map(reqTag).join(',');
  return `[${tags}${batch.length > 6 ? `,+${batch.length - 6}` : ''}]`;
}

/** One line describing any message (defensive: Byzantine senders send anything). */
export function describeMessage(msg: unknown): string {
  try {
    const m = msg as Any;
    const b = m?.body as Any | undefined;
    if (!b || typeof b !== 'object') return clip(`garbage ${JSON.stringify(msg) ?? String(msg)}`);
    switch (b.type) {
      case 'request':
        return clip(`request ${b.client}/${b.timestamp}${b.readOnly ? ' ro' : ''} ${b.op}`);
      case 'reply':
        return clip(`reply v=${b.view} ${b.client}/${b.timestamp}${b.tentative ? ' tentative' : ''} => ${b.result}`);
      case 'pre-prepare':
        return `pre-prepare v=${b.view} s=${b.seq} d=${short(b.digest)} ${batchTag(m.batch)}`;
      case 'prepare':
      case 'commit':
        return `${b.type} v=${b.view} s=${b.seq} d=${short(b.digest)}`;
      case 'checkpoint':
        return `checkpoint s=${b.seq} d=${short(b.digest)}`;
      case 'view-change': {
        const p = Array.isArray(b.prepared)
          ? b.prepared.map((c: Any) => `s${c?.prePrepare?.body?.seq}@v${c?.prePrepare?.body?.view}:${short(c?.prePrepare?.body?.digest)}`).join(',')
          : '?';
        return clip(`view-change nv=${b.newView} stable=${b.stableSeq} P=[${p}]`, 240);
      }
      case 'new-view': {
        const v = Array.isArray(b.viewChanges) ? b.viewChanges.map((x: Any) => x?.body?.replica).join(',') : '?';
        const o = Array.isArray(b.prePrepares)
          ? b.prePrepares.map((x: Any) => `s${x?.body?.seq}:${x?.batch?.length === 0 ? 'null' : short(x?.body?.digest)}`).join(',')
          : '?';
        return clip(`new-view nv=${b.newView} V=[${v}] O=[${o}]`, 240);
      }
      case 'status':
        return `status v=${b.view}${b.viewChanging ? ' (changing)' : ''} exec=${b.lastExecuted} stable=${b.stableSeq}`;
      case 'catch-up': {
        const e = Array.isArray(b.entries) ? b.entries.map((x: Any) => `s${x?.seq}`).join(',') : '?';
        return clip(`catch-up [${e}]`);
      }
      case 'fetch-state':
        return `fetch-state s=${b.seq}`;
      case 'state':
        return `state s=${b.seq} d=${short(b.digest)} (${typeof b.snapshot === 'string' ? b.snapshot.length : '?'} bytes)`;
      default:
        return clip(`garbage ${JSON.stringify(msg)}`);
    }
  } catch {
    return 'garbage <unprintable>';
  }
}

export function describePhase(ev: PhaseEvent): string {
  const parts: string[] = [ev.phase, `v=${ev.view}`];
  if (ev.seq !== undefined) parts.push(`s=${ev.seq}`);
  if (ev.digest !== undefined) parts.push(`d=${short(ev.digest)}`);
  if (ev.peer !== undefined) parts.push(`peer=${ev.peer}`);
  if (ev.client !== undefined) parts.push(`${ev.client}/${ev.timestamp ?? '?'}`);
  if (ev.reason !== undefined) parts.push(`reason=${ev.reason}`);
  if (ev.detail !== undefined) parts.push(ev.detail);
  return clip(parts.join(' '), 200);
}
