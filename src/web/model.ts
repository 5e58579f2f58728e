/**
 * The model behind `pbft web`'s space-time diagram, shared by the server (Node) and the page
 * (the browser bundle): no Node or DOM imports here.
 *
 * A diagram is drawn from phase records, the same records `pbft logs` merges: one lane per
 * replica plus one for the clients (lane CLIENT_LANE). Arrows join a record that a replica
 * wrote when it sent a message (no `peer`) to the records its peers wrote when they received
 * it (`peer` = the sender). Requests and replies join the client lane: exactly, when the
 * client side is known (a request sent from the page, or a simulator trace); otherwise the
 * arrow is drawn at the replica's time and marked `approx`.
 *
 * Simulator traces (`pbft sim --seed N --trace-file FILE`) are read into the same records, so
 * the page steps through a simulated run in the same diagram.
 */

/** The lane of the clients. */
export const CLIENT_LANE = -1;

/** A phase record as the page uses it: time in ms (wall clock, or virtual for the simulator). */
export interface DiagramRecord {
  ts: number;
  /** replica id, or CLIENT_LANE */
  replica: number;
  view: number;
  phase: string;
  seq?: number;
  digest?: string;
  peer?: number;
  client?: string;
  timestamp?: number;
  reason?: string;
  detail?: string;
}

/** Phases drawn as arrows between replicas (sender logs without peer, receivers with peer = sender). */
export const ARROW_PHASES: ReadonlySet<string> = new Set(['pre-prepare', 'prepare', 'commit', 'view-change', 'new-view']);
/** Phases drawn as marks on a lane. */
export const MARK_PHASES: ReadonlySet<string> = new Set([
  'view-change',
  'new-view',
  'enter-view',
  'checkpoint',
  'stable',
  'state-transfer',
  'catch-up',
  'recovery',
  'fault',
  'start',
  'stop',
  'ready',
  'execute',
  'crash',
  'restart',
  'partition',
  'heal',
  'violation',
]);

export interface Arrow {
  from: number;
  to: number;
  t0: number;
  t1: number;
  phase: string;
  view: number;
  seq?: number;
  /** the request (client/timestamp) it belongs to, for request and reply arrows */
  request?: string;
  /** the sending side's time is not known: drawn at the receiver's time */
  approx?: boolean;
}

export interface Mark {
  lane: number;
  t: number;
  phase: string;
  label: string;
  /** marks the sender of a message (view-change, new-view): no peer */
  own: boolean;
}

export function requestKey(client: string, timestamp: number): string {
  return `${client}/${timestamp}`;
}

const sendKey = (lane: number, r: DiagramRecord) => `${lane}|${r.phase}|${r.view}|${r.seq ?? ''}`;

/** The arrows and marks of a set of records (in time order). */
export function buildDiagram(records: readonly DiagramRecord[]): { arrows: Arrow[]; marks: Mark[] } {
  const sends = new Map<string, number[]>();
  const clientSends = new Map<string, number>();
  const clientReplies = new Map<string, number>();
  for (const r of records) {
    if (r.replica === CLIENT_LANE) {
      if (r.client === undefined || r.timestamp === undefined) continue;
      const k = requestKey(r.client, r.timestamp);
      if (r.phase === 'request' && !clientSends.has(k)) clientSends.set(k, r.ts);
      if (r.phase === 'reply' && r.peer !== undefined) clientReplies.set(`${k}|${r.peer}`, r.ts);
      continue;
    }
    if (ARROW_PHASES.has(r.phase) && r.peer === undefined) {
      const k = sendKey(r.replica, r);
      const list = sends.get(k);
      if (list) list.push(r.ts);
      else sends.set(k, [r.ts]);
    }
  }
  const arrows: Arrow[] = [];
  const marks: Mark[] = [];
  for (const r of records) {
    if (r.replica === CLIENT_LANE) continue;
    if (ARROW_PHASES.has(r.phase) && r.peer !== undefined && r.peer !== r.replica) {
      const list = sends.get(sendKey(r.peer, r));
      if (list) {
        // the latest send at or before the receipt (clocks on one machine, or virtual time). A
        // sender's record can carry a later time than the receipt (it is timestamped when the
        // record is written, which may come after the send): then the message went out no later
        // than it arrived, and the arrow is drawn straight down at the receipt, never backwards.
        let t0 = r.ts;
        for (const t of list) if (t <= r.ts) t0 = t;
        arrows.push({ from: r.peer, to: r.replica, t0, t1: r.ts, phase: r.phase, view: r.view, ...(r.seq !== undefined ? { seq: r.seq } : {}) });
      }
    }
    if (r.phase === 'request' && r.client !== undefined && r.timestamp !== undefined && r.peer === undefined) {
      const k = requestKey(r.client, r.timestamp);
      const t0 = clientSends.get(k);
      arrows.push({
        from: CLIENT_LANE,
        to: r.replica,
        t0: t0 !== undefined && t0 <= r.ts ? t0 : r.ts,
        t1: r.ts,
        phase: 'request',
        view: r.view,
        request: k,
        ...(t0 === undefined || t0 > r.ts ? { approx: true } : {}),
      });
    }
    if (r.phase === 'reply' && r.client !== undefined && r.timestamp !== undefined) {
      const k = requestKey(r.client, r.timestamp);
      const t1 = clientReplies.get(`${k}|${r.replica}`);
      arrows.push({
        from: r.replica,
        to: CLIENT_LANE,
        t0: r.ts,
        t1: t1 !== undefined && t1 >= r.ts ? t1 : r.ts,
        phase: 'reply',
        view: r.view,
        request: k,
        ...(r.seq !== undefined ? { seq: r.seq } : {}),
        ...(t1 === undefined || t1 < r.ts ? { approx: true } : {}),
      });
    }
    if (MARK_PHASES.has(r.phase) && !(r.phase === 'checkpoint' && r.peer !== undefined)) {
      const own = r.peer === undefined;
      if ((r.phase === 'view-change' || r.phase === 'new-view') && !own) continue; // drawn as arrows
      marks.push({ lane: r.replica, t: r.ts, phase: r.phase, label: markLabel(r), own });
    }
  }
  return { arrows, marks };
}

function markLabel(r: DiagramRecord): string {
  const parts = [r.phase];
  if (r.phase === 'enter-view' || r.phase === 'view-change' || r.phase === 'new-view') parts.push(`v${r.view}`);
  if (r.seq !== undefined) parts.push(`#${r.seq}`);
  if (r.detail) parts.push(r.detail);
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------
// Requests: what a click on the diagram selects
// ---------------------------------------------------------------------------------------

/** The normal-case phases, request through reply (as src/cluster/trace.ts TRACE_PHASES). */
export const TRACE_PHASES: ReadonlySet<string> = new Set(['request', 'pre-prepare', 'prepare', 'prepared', 'commit', 'committed', 'execute', 'reply']);

export interface RequestSummary {
  key: string;
  client: string;
  timestamp: number;
  seqs: number[];
  firstMs: number;
  lastMs: number;
}

/** The requests named by the records (client + timestamp), with the sequence numbers they were ordered at. */
export function requestsOf(records: readonly DiagramRecord[]): Map<string, RequestSummary> {
  const out = new Map<string, RequestSummary>();
  for (const r of records) {
    if (r.client === undefined || r.timestamp === undefined) continue;
    const k = requestKey(r.client, r.timestamp);
    let s = out.get(k);
    if (!s) {
      s = { key: k, client: r.client, timestamp: r.timestamp, seqs: [], firstMs: r.ts, lastMs: r.ts };
      out.set(k, s);
    }
    if (r.seq !== undefined && !s.seqs.includes(r.seq)) s.seqs.push(r.seq);
    s.firstMs = Math.min(s.firstMs, r.ts);
    s.lastMs = Math.max(s.lastMs, r.ts);
  }
  return out;
}

/**
 * The timeline of one request from records in memory, by the rule of src/cluster/trace.ts: the
 * records naming it, and the normal-case records of the sequence numbers it was ordered at.
 */
export function timelineOf(records: readonly DiagramRecord[], client: string, timestamp: number): DiagramRecord[] {
  const names = (r: DiagramRecord) => r.client === client && r.timestamp === timestamp;
  const seqs = new Set<number>();
  for (const r of records) if (names(r) && r.seq !== undefined) seqs.add(r.seq);
  return records.filter(
    (r) => names(r) || (r.seq !== undefined && seqs.has(r.seq) && TRACE_PHASES.has(r.phase) && r.client === undefined && r.replica !== CLIENT_LANE),
  );
}

// ---------------------------------------------------------------------------------------
// Simulator trace files
// ---------------------------------------------------------------------------------------

export const SIM_TRACE_FORMAT = 'pbft-sim-trace';

export interface SimTraceEntry {
  /** virtual ms */
  t: number;
  /** r2, c1, sim, net ... */
  who: string;
  kind: string;
  text: string;
}

export interface SimTraceViolation {
  invariant: string;
  message: string;
  replica?: number;
  seq?: number;
  timeMs?: number;
}

export interface SimTraceFile {
  format: typeof SIM_TRACE_FORMAT;
  version: 1;
  seed: number;
  n: number;
  f: number;
  ok: boolean;
  scenario: string;
  replay: string;
  violations: SimTraceViolation[];
  entries: SimTraceEntry[];
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Largest trace accepted (entries). */
export const MAX_TRACE_ENTRIES = 2_000_000;
/** Largest replica count drawn. */
export const MAX_LANES = 64;

/** Check a parsed JSON value is a simulator trace; throws an Error with a one-line reason. */
export function parseSimTrace(v: unknown): SimTraceFile {
  const o = v as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not a simulator trace: expected a JSON object');
  if (o.format !== SIM_TRACE_FORMAT)
    throw new Error(`not a simulator trace: "format" is not "${SIM_TRACE_FORMAT}" (write one with pbft sim --seed N --trace-file FILE)`);
  if (o.version !== 1) throw new Error(`unsupported simulator trace version ${JSON.stringify(o.version)} (this page reads version 1)`);
  if (!isInt(o.seed) || o.seed < 0) throw new Error('bad simulator trace: "seed" must be a non-negative integer');
  if (!isInt(o.n) || o.n < 1 || o.n > MAX_LANES) throw new Error(`bad simulator trace: "n" must be an integer from 1 to ${MAX_LANES}`);
  if (!isInt(o.f) || o.f < 0) throw new Error('bad simulator trace: "f" must be a non-negative integer');
  if (typeof o.ok !== 'boolean') throw new Error('bad simulator trace: "ok" must be true or false');
  if (typeof o.scenario !== 'string' || typeof o.replay !== 'string') throw new Error('bad simulator trace: "scenario" and "replay" must be strings');
  if (!Array.isArray(o.violations)) throw new Error('bad simulator trace: "violations" must be a list');
  const violations: SimTraceViolation[] = o.violations.map((x, i) => {
    const w = x as Record<string, unknown>;
    if (typeof w !== 'object' || w === null || typeof w.invariant !== 'string' || typeof w.message !== 'string')
      throw new Error(`bad simulator trace: violation ${i} needs "invariant" and "message"`);
    return {
      invariant: w.invariant,
      message: w.message,
      ...(isInt(w.replica) ? { replica: w.replica } : {}),
      ...(isInt(w.seq) ? { seq: w.seq } : {}),
      ...(isNum(w.timeMs) ? { timeMs: w.timeMs } : {}),
    };
  });
  if (!Array.isArray(o.entries)) throw new Error('bad simulator trace: "entries" must be a list');
  if (o.entries.length > MAX_TRACE_ENTRIES) throw new Error(`bad simulator trace: more than ${MAX_TRACE_ENTRIES} entries`);
  const entries: SimTraceEntry[] = o.entries.map((x, i) => {
    const e = x as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || !isNum(e.t) || typeof e.who !== 'string' || typeof e.kind !== 'string' || typeof e.text !== 'string')
      throw new Error(`bad simulator trace: entry ${i} needs t (a number), who, kind and text (strings)`);
    return { t: e.t, who: e.who, kind: e.kind, text: e.text };
  });
  return { format: SIM_TRACE_FORMAT, version: 1, seed: o.seed, n: o.n, f: o.f, ok: o.ok, scenario: o.scenario, replay: o.replay, violations, entries };
}

/** "r2" -> 2, "r2A"/"r2B"/"r2'" (twins) -> 2, anything else -> null */
function replicaOf(who: string): number | null {
  const m = /^r(\d{1,4})(?:[AB']?)$/.exec(who);
  return m ? Number(m[1]) : null;
}

/**
 * A phase event as the simulator's trace prints it (src/sim/trace.ts describePhase):
 * `phase v=V [s=S] [d=D] [peer=P] [client/ts] [reason=R] [detail...]`.
 */
export function parseSimPhase(text: string): Omit<DiagramRecord, 'ts' | 'replica'> | null {
  const words = text.split(' ');
  const phase = words[0];
  const v = /^v=(\d+)$/.exec(words[1] ?? '');
  if (!phase || !v) return null;
  const out: Omit<DiagramRecord, 'ts' | 'replica'> = { phase, view: Number(v[1]) };
  let i = 2;
  const take = (re: RegExp) => {
    const m = re.exec(words[i] ?? '');
    if (m) i++;
    return m;
  };
  const s = take(/^s=(\d+)$/);
  if (s) out.seq = Number(s[1]);
  const d = take(/^d=(\S+)$/);
  if (d) out.digest = d[1]!;
  const p = take(/^peer=(\d+)$/);
  if (p) out.peer = Number(p[1]);
  const c = take(/^([^\s/=]+)\/(\d+|\?)$/);
  if (c) {
    out.client = c[1]!;
    if (c[2] !== '?') out.timestamp = Number(c[2]);
  }
  const r = take(/^reason=(\S+)$/);
  if (r) out.reason = r[1]!;
  if (i < words.length) out.detail = words.slice(i).join(' ');
  return out;
}

/** Turn a simulator trace into diagram records, in trace order (one per drawable entry; `entry` = its index). */
export function simRecords(t: SimTraceFile): (DiagramRecord & { entry: number })[] {
  const out: (DiagramRecord & { entry: number })[] = [];
  let view = 0;
  t.entries.forEach((e, entry) => {
    const rep = replicaOf(e.who);
    const isClient = /^c\d+$/.test(e.who);
    if (e.kind === 'log' && (rep !== null || isClient)) {
      const p = parseSimPhase(e.text);
      if (!p) return;
      if (rep !== null) {
        view = Math.max(view, p.view);
        out.push({ ...p, ts: e.t, replica: rep, entry });
      } else if (p.phase === 'request') out.push({ ...p, ts: e.t, replica: CLIENT_LANE, entry });
      return;
    }
    if (e.kind === 'deliver' && isClient) {
      // <- r1 reply v=0 c1/3 => ...
      const m = /^<- r(\d+) reply v=(\d+) (\S+)\/(\d+)/.exec(e.text);
      if (m) out.push({ ts: e.t, replica: CLIENT_LANE, view: Number(m[2]), phase: 'reply', peer: Number(m[1]), client: m[3]!, timestamp: Number(m[4]), entry });
      return;
    }
    if (e.kind === 'complete' && isClient) {
      const m = /^(\S+)\/(\d+) => /.exec(e.text);
      if (m) out.push({ ts: e.t, replica: CLIENT_LANE, view, phase: 'result', client: m[1]!, timestamp: Number(m[2]), detail: e.text, entry });
      return;
    }
    if (rep !== null && e.kind === 'exec') {
      // v=0 s=3 d=... [c1/4 {op} => result; c0/2 ...]: the replies this execution sends (the core logs none in the simulator)
      const m = /^v=(\d+) s=(\d+)/.exec(e.text);
      const open = e.text.indexOf('[');
      if (!m || open < 0 || e.text.endsWith('(replayed)')) return;
      for (const item of e.text.slice(open + 1).split('; ')) {
        const q = /^([^\s/]+)\/(\d+) /.exec(item);
        if (q) out.push({ ts: e.t, replica: rep, view: Number(m[1]), phase: 'reply', seq: Number(m[2]), client: q[1]!, timestamp: Number(q[2]), entry });
      }
      return;
    }
    if (rep !== null) {
      // the simulator's own notes about a replica (the core's execute and enter-view are logged as phases)
      const phase: Record<string, string> = {
        crash: 'crash',
        restart: 'restart',
        state: 'state-transfer',
        storage: 'recovery',
        byzantine: 'fault',
        violation: 'violation',
        exception: 'violation',
      };
      const ph = phase[e.kind];
      if (ph && !(e.kind === 'state' && e.text === 'down') && !(e.kind === 'state' && !e.text.startsWith('installed'))) {
        out.push({ ts: e.t, replica: rep, view, phase: ph, detail: e.text, entry });
      }
      return;
    }
    if (e.who === 'net' && (e.kind === 'partition' || e.kind === 'heal')) {
      for (let i = 0; i < t.n; i++) out.push({ ts: e.t, replica: i, view, phase: e.kind, detail: e.text, entry });
    }
  });
  return out;
}

/** The index of the entry at which the first violation is reported (its time), or null. */
export function violationEntry(t: SimTraceFile): number | null {
  const times = t.violations.map((v) => v.timeMs).filter((x): x is number => x !== undefined);
  if (times.length === 0) return t.ok ? null : t.entries.length - 1;
  const at = Math.min(...times);
  let idx = 0;
  for (let i = 0; i < t.entries.length; i++) if (t.entries[i]!.t <= at) idx = i;
  return idx;
}
