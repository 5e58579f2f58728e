/**
 * The checks on a chaos history: linearizability (the simulator's checker, src/sim/
 * linearizability.ts) and "no acknowledged write lost" against the values read back after the
 * run. Both rely on every put writing a value no other put writes (the workload makes them
 * unique), so a value read names the write it came from.
 *
 * Indeterminate operations ("info") may have taken effect or not, at any point after their
 * invocation. The checker handles that by giving them no return; before it runs, two rewrites
 * that change no verdict make the search cheaper on long, faulty runs:
 *
 * - an indeterminate put whose value no completed operation returned is dropped: it can always
 *   be placed last, and any linearization that places it earlier has only operations without a
 *   result between it and the next write, so removing it changes nothing observed. The same
 *   holds for an indeterminate del when no operation completing after its invocation returned
 *   null (absent);
 * - an indeterminate put whose value was returned must take effect before the first operation
 *   that returned it completes: it gets that return (and no result of its own).
 */
import type { KvOp } from '../app/kv.js';
import { checkKvHistory, type HistoryOp, type LinearizabilityOptions } from '../sim/linearizability.js';
import type { HistoryEntry } from './history.js';

export type CheckStatus = 'pass' | 'fail' | 'unknown' | 'skipped';

export interface LinearizabilityCheck {
  status: Exclude<CheckStatus, 'skipped'>;
  /** operations given to the checker, and how many indeterminate ones were dropped or bounded */
  checked: number;
  dropped: number;
  bounded: number;
  keys: number;
  message?: string;
  key?: string;
}

const returnedValue = (e: HistoryEntry): string | null | undefined => (e.type === 'ok' && e.result?.ok === true ? e.result.value : undefined);

/** The history as the checker takes it, with the two rewrites above. */
export function checkerHistory(h: readonly HistoryEntry[]): { ops: HistoryOp[]; dropped: number; bounded: number } {
  // per key: the completed operations, for the observers of a value
  const done = new Map<string, HistoryEntry[]>();
  for (const e of h) if (e.type === 'ok') done.set(e.op.key, [...(done.get(e.op.key) ?? []), e]);
  const ops: HistoryOp[] = [];
  let dropped = 0;
  let bounded = 0;
  for (const e of h) {
    if (e.type === 'fail') continue;
    const base: HistoryOp = { client: e.client, op: e.op, invokeMs: e.invokeMs, invokeOrder: e.invokeOrder, label: `${label(e)}#${e.index}` };
    if (e.type === 'ok') {
      ops.push({ ...base, completeMs: e.completeMs!, completeOrder: e.completeOrder!, result: e.result! });
      continue;
    }
    // indeterminate (or still open: the same)
    if (e.op.op === 'get') continue; // constrains nothing (the checker drops it too)
    const observers = (done.get(e.op.key) ?? []).filter((o) => o.completeOrder! > e.invokeOrder);
    if (e.op.op === 'put') {
      const v = e.op.value;
      const seen = observers.filter((o) => returnedValue(o) === v);
      if (seen.length === 0) {
        dropped++;
        continue;
      }
      const first = seen.reduce((a, b) => (b.completeOrder! < a.completeOrder! ? b : a));
      bounded++;
      ops.push({ ...base, completeMs: first.completeMs!, completeOrder: first.completeOrder! - 0.5 });
      continue;
    }
    if (!observers.some((o) => returnedValue(o) === null)) {
      dropped++;
      continue;
    }
    ops.push(base);
  }
  return { ops, dropped, bounded };
}

function label(e: HistoryEntry): string {
  return e.process === 'check' ? 'check' : `c${e.process}`;
}

export function checkLinearizable(h: readonly HistoryEntry[], o: LinearizabilityOptions = {}): LinearizabilityCheck {
  const { ops, dropped, bounded } = checkerHistory(h);
  const keys = new Set(ops.map((x) => x.op.key)).size;
  const r = checkKvHistory(ops, o);
  const base = { checked: ops.length, dropped, bounded, keys };
  if (r.ok === true) return { status: 'pass', ...base };
  if (r.ok === false) return { status: 'fail', ...base, key: r.key, message: r.message };
  return { status: 'unknown', ...base, ...(r.key !== undefined ? { key: r.key } : {}), message: r.message ?? 'the search reached its bound' };
}

export interface LostWrite {
  key: string;
  /** the value read back after the run (null: absent) */
  read: string | null;
  /** the acknowledged writes none of which the value read can follow, by history index */
  lastAcked: { index: number; op: KvOp }[];
  message: string;
}

export interface LostWriteCheck {
  status: Exclude<CheckStatus, 'skipped'>;
  /** keys read back and judged */
  keys: number;
  /** acknowledged writes (put and del) in the history */
  ackedWrites: number;
  lost: LostWrite[];
  /** keys with writes that could not be read back */
  unread: string[];
}

/**
 * No acknowledged write lost: for each key, the value read back after the run must come from a
 * write that may be the last one: an acknowledged write that no other acknowledged write was
 * invoked after (in real time), or an indeterminate one (it may have taken effect at any time).
 * A key no write was acknowledged on may also read absent. `finalReads` maps each key to the
 * value read back (after every operation of the load had completed or been given up on).
 */
export function checkLostWrites(h: readonly HistoryEntry[], finalReads: ReadonlyMap<string, string | null>): LostWriteCheck {
  const writes = new Map<string, HistoryEntry[]>();
  for (const e of h) if ((e.op.op === 'put' || e.op.op === 'del') && e.type !== 'fail') writes.set(e.op.key, [...(writes.get(e.op.key) ?? []), e]);
  const lost: LostWrite[] = [];
  const unread: string[] = [];
  let ackedWrites = 0;
  let keys = 0;
  for (const [key, ws] of [...writes.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const acked = ws.filter((w) => w.type === 'ok');
    ackedWrites += acked.length;
    if (!finalReads.has(key)) {
      if (acked.length > 0) unread.push(key);
      continue;
    }
    keys++;
    const read = finalReads.get(key)!;
    const mayBeLast = (w: HistoryEntry) => w.type !== 'ok' || !acked.some((x) => x !== w && x.invokeOrder > w.completeOrder!);
    const writes = (w: HistoryEntry) => (w.op.op === 'put' ? w.op.value === read : read === null);
    const explained = (read === null && acked.length === 0) || ws.some((w) => writes(w) && mayBeLast(w));
    if (explained) continue;
    const last = acked.filter((w) => mayBeLast(w)).map((w) => ({ index: w.index, op: w.op }));
    const what = (op: KvOp) => (op.op === 'put' ? `put ${JSON.stringify(op.value)}` : 'del');
    const source = ws.find((w) => writes(w));
    lost.push({
      key,
      read,
      lastAcked: last,
      message:
        `key ${JSON.stringify(key)}: read ${read === null ? 'absent' : JSON.stringify(read)} after the run, but the acknowledged ` +
        `${last.length === 1 ? 'write' : 'writes'} ${last.map((l) => `#${l.index} ${what(l.op)}`).join(', ')} came later` +
        (source
          ? ` (the value read was written by #${source.index}, acknowledged before them)`
          : read === null
            ? ''
            : ' (no write in the history wrote that value)'),
    });
  }
  return { status: lost.length > 0 ? 'fail' : unread.length > 0 ? 'unknown' : 'pass', keys, ackedWrites, lost, unread };
}

/** One replica's state after the run, as its status reports it. */
export interface ReplicaState {
  id: number;
  reachable: boolean;
  lastExecuted: number | null;
  stateDigest: string | null;
  view: number | null;
}

export interface StateCheck {
  status: Exclude<CheckStatus, 'skipped' | 'unknown'>;
  /** the correct replicas (every replica but the run's Byzantine ones) */
  correct: number[];
  /** groups of replicas with the same lastExecuted and state digest, largest first */
  groups: { replicas: number[]; lastExecuted: number | null; stateDigest: string | null }[];
  message: string;
}

/** Every correct replica answers, at the same lastExecuted with the same state digest. */
export function checkSameState(states: readonly ReplicaState[], byzantine: readonly number[]): StateCheck {
  const correct = states.filter((s) => !byzantine.includes(s.id)).map((s) => s.id);
  const groups = new Map<string, { replicas: number[]; lastExecuted: number | null; stateDigest: string | null }>();
  for (const s of states) {
    const k = s.reachable ? `${s.lastExecuted}/${s.stateDigest}` : 'unreachable';
    const g = groups.get(k) ?? { replicas: [], lastExecuted: s.reachable ? s.lastExecuted : null, stateDigest: s.reachable ? s.stateDigest : null };
    g.replicas.push(s.id);
    groups.set(k, g);
  }
  const list = [...groups.values()].sort((a, b) => b.replicas.length - a.replicas.length);
  const unreachable = states.filter((s) => !s.reachable && correct.includes(s.id)).map((s) => s.id);
  const ofCorrect = new Set(states.filter((s) => s.reachable && correct.includes(s.id)).map((s) => `${s.lastExecuted}/${s.stateDigest}`));
  const ok = unreachable.length === 0 && ofCorrect.size === 1;
  const show = (g: (typeof list)[number]) =>
    g.stateDigest === null ? `r${g.replicas.join(',r')} not answering` : `r${g.replicas.join(',r')} at ${g.lastExecuted} with ${g.stateDigest.slice(0, 12)}`;
  return {
    status: ok ? 'pass' : 'fail',
    correct,
    groups: list,
    message: ok
      ? `correct replicas ${correct.join(', ')} at lastExecuted ${list.find((g) => g.replicas.includes(correct[0]!))!.lastExecuted} with the same state digest${byzantineNote(list, correct)}`
      : `the correct replicas differ: ${list.map(show).join('; ')}`,
  };
}

function byzantineNote(groups: StateCheck['groups'], correct: readonly number[]): string {
  const same = groups.find((g) => g.replicas.some((r) => correct.includes(r)));
  const others = groups.flatMap((g) => g.replicas).filter((r) => !correct.includes(r));
  if (others.length === 0) return '';
  const agree = others.filter((r) => same?.replicas.includes(r));
  const differ = others.filter((r) => !same?.replicas.includes(r));
  return `${agree.length ? `; so ${agree.length > 1 ? 'do' : 'does'} r${agree.join(', r')} (Byzantine in this run, cleared)` : ''}${differ.length ? `; r${differ.join(', r')} (Byzantine in this run) differ${differ.length > 1 ? '' : 's'}` : ''}`;
}
