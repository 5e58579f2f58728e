/**
 * The timeline of one request across replicas, reconstructed from the phase logs: the
 * records that name the request (client, timestamp), and the protocol records of the
 * sequence number(s) it was ordered at (pre-prepare, prepares, commits, execute).
 */
import { CORE_PHASES } from '../core/types.js';
import type { PhaseFile, PhaseRecord } from '../phaselog/index.js';
import { mergePhaseLogs, offsetAtTime, recordTimeMs } from '../phaselog/index.js';
import { formatRecord, formatMs, relTime, shortClient, type Palette } from './format.js';

/** The normal-case phases of CORE_PHASES, request through reply. */
export const TRACE_PHASES: ReadonlySet<string> = new Set(CORE_PHASES.slice(0, CORE_PHASES.indexOf('reply') + 1));

export interface RequestKey {
  client: string;
  timestamp: number;
}

export interface Trace {
  client: string;
  timestamp: number;
  /** sequence numbers the request was ordered at (normally one) */
  seqs: number[];
  /** replicas that logged its execution */
  executedBy: number[];
  records: PhaseRecord[];
}

function namesRequest(r: PhaseRecord, k: RequestKey): boolean {
  return r.client === k.client && r.timestamp === k.timestamp;
}

/** One pass over the logs (from sinceMs on) collecting the request's timeline. */
export async function collectTrace(files: readonly PhaseFile[], key: RequestKey, o: { sinceMs?: number } = {}): Promise<Trace> {
  const filter = o.sinceMs !== undefined ? { sinceMs: o.sinceMs } : {};
  // skip straight to the records from sinceMs on: the logs may be large
  const startOffsets = new Map<string, number>();
  if (o.sinceMs !== undefined) for (const f of files) startOffsets.set(f.path, await offsetAtTime(f.path, o.sinceMs));
  const opts = { startOffsets };
  // pass 1: the records naming the request give its sequence number(s)
  const seqs = new Set<number>();
  for await (const r of mergePhaseLogs(files, filter, opts)) {
    if (namesRequest(r, key) && r.seq !== undefined) seqs.add(r.seq);
  }
  // pass 2: those records, and the protocol records of those sequence numbers
  const records: PhaseRecord[] = [];
  const executedBy = new Set<number>();
  for await (const r of mergePhaseLogs(files, filter, opts)) {
    const mine = namesRequest(r, key);
    const ofSeq = r.seq !== undefined && seqs.has(r.seq) && TRACE_PHASES.has(r.phase) && (r.client === undefined || mine);
    if (!mine && !ofSeq) continue;
    records.push(r);
    if (r.phase === 'execute' && (mine || r.client === undefined)) executedBy.add(r.replica);
  }
  return { ...key, seqs: [...seqs].sort((a, b) => a - b), executedBy: [...executedBy].sort((a, b) => a - b), records };
}

/**
 * Collect the trace, waiting (polling) until every replica in `expect` has logged the
 * execution or `timeoutMs` passes: replies reach the client before slower replicas finish.
 */
export async function traceRequest(
  files: readonly PhaseFile[],
  key: RequestKey,
  o: { expect?: readonly number[]; timeoutMs?: number; sinceMs?: number; signal?: AbortSignal; pollMs?: number } = {},
): Promise<Trace> {
  const until = performance.now() + (o.timeoutMs ?? 2000);
  for (;;) {
    const t = await collectTrace(files, key, o);
    const missing = (o.expect ?? []).filter((id) => !t.executedBy.includes(id));
    if (missing.length === 0 || performance.now() >= until || o.signal?.aborted) return t;
    await new Promise((r) => setTimeout(r, o.pollMs ?? 100));
  }
}

export interface ClientSide {
  sentAtMs: number;
  doneAtMs: number;
  replicas: number[];
  view: number;
  /** sent on the read-only path (accepted on 2f+1 matching tentative replies, unless it fell back) */
  readOnly?: boolean;
  /** 2f+1, to tell a read-only answer from one that fell back to the ordered path */
  quorum?: number;
}

/** What the client's answer rested on: "f+1 matching replies" or "2f+1 matching tentative replies". */
export function replyRule(c: Pick<ClientSide, 'readOnly' | 'quorum' | 'replicas'>): string {
  const tentative = c.readOnly === true && (c.quorum === undefined || c.replicas.length >= c.quorum);
  return tentative ? '2f+1 matching tentative replies' : 'f+1 matching replies';
}

/**
 * Human-readable timeline, times relative to the first event. `compact` leaves out the
 * records of messages received from peers, keeping what each replica itself did.
 */
export function formatTrace(t: Trace, p: Palette, client?: ClientSide, o: { compact?: boolean } = {}): string {
  const lines: string[] = [];
  const head = `Timeline of request (client ${shortClient(t.client)}, timestamp ${t.timestamp}${t.seqs.length ? `, seq ${t.seqs.join(',')}` : ''}):`;
  lines.push(head);
  if (t.records.length === 0 && !client) {
    lines.push('  (no phase-log records found for this request)');
    return lines.join('\n');
  }
  const first = Math.min(...t.records.map(recordTimeMs), client?.sentAtMs ?? Infinity);
  const rel = (ms: number) => relTime(ms - first);
  const shown = o.compact ? t.records.filter((r) => r.peer === undefined) : t.records;
  const rows: { ms: number; text: string }[] = shown.map((r) => ({ ms: recordTimeMs(r), text: `  ${formatRecord(r, p, { relativeToMs: first })}` }));
  if (client) {
    rows.push({ ms: client.sentAtMs, text: `  ${rel(client.sentAtMs)}  ${p.paint('1', 'cli')}              ${p.paint('1', 'request'.padEnd(14))} sent` });
    rows.push({
      ms: client.doneAtMs,
      text: `  ${rel(client.doneAtMs)}  ${p.paint('1', 'cli')}              ${p.paint('1;32', 'result'.padEnd(14))} ${replyRule(client)} from r${client.replicas.join(', r')} (view ${client.view})`,
    });
  }
  rows.sort((a, b) => a.ms - b.ms);
  for (const r of rows) lines.push(r.text);
  const byPhase = new Map<string, Set<number>>();
  for (const r of t.records) {
    const s = byPhase.get(r.phase) ?? new Set<number>();
    s.add(r.replica);
    byPhase.set(r.phase, s);
  }
  const summary = [...TRACE_PHASES].filter((ph) => byPhase.has(ph)).map((ph) => `${ph} r${[...byPhase.get(ph)!].sort((a, b) => a - b).join(',r')}`);
  if (o.compact && shown.length < t.records.length)
    lines.push(`  (${t.records.length - shown.length} records of messages received from peers not shown; see pbft logs --seq ${t.seqs.join(',') || 'N'})`);
  if (summary.length) lines.push(`  phases seen: ${summary.join('; ')}`);
  if (client) lines.push(`  end-to-end latency at the client: ${formatMs(client.doneAtMs - client.sentAtMs)}`);
  return lines.join('\n');
}
