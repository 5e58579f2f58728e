/**
 * Linearizability of a client-observed key-value history (Herlihy & Wing 1990), checked with
 * the Wing-Gong search as improved by Lowe ("Testing for linearizability", 2017): a DFS over
 * the call/return entries with "lift"/"unlift" of linearized operations and a cache of
 * (linearized set, model state) already explored, the scheme Porcupine uses.
 *
 * Locality (P-compositionality): the KV store is a set of independent registers, one per key,
 * and a history is linearizable iff each key's sub-history is; so each key is searched alone.
 *
 * The KV model (src/app/kv.ts): a key holds a string or null (absent). put(k,v) and del(k)
 * return the previous value, get(k) the current one; every result is {"ok":true,"value":...}.
 *
 * Operations that never completed may or may not have taken effect: their return is at
 * infinity, so the search may place them anywhere after their call, including after all
 * completed operations (where they affect nothing observed). An incomplete get constrains
 * nothing and is dropped.
 *
 * The search is bounded (steps per key); past the bound the answer is 'unknown', never a hang.
 */
import type { KvOp, KvResult } from '../app/kv.js';
import type { ClientId } from '../core/types.js';

export interface HistoryOp {
  client: ClientId;
  op: KvOp;
  invokeMs: number;
  /** absent: the operation never completed (it may or may not have taken effect) */
  completeMs?: number;
  /** the result the client accepted (absent when incomplete) */
  result?: KvResult;
  /**
   * Optional total order of the invoke/complete events (e.g. a global event counter). When both
   * are given they decide real-time precedence instead of the times, which may tie.
   */
  invokeOrder?: number;
  completeOrder?: number;
  /** shown in messages, e.g. "c1#7" (client and timestamp) */
  label?: string;
}

export type LinearizabilityResult = { ok: true } | { ok: false; key: string; message: string } | { ok: 'unknown'; key?: string; message?: string };

export interface LinearizabilityOptions {
  /** search steps allowed per key before giving up with 'unknown' (default 2,000,000) */
  maxStepsPerKey?: number;
}

export const DEFAULT_MAX_STEPS_PER_KEY = 2_000_000;

type Value = string | null;

interface Op {
  id: number;
  src: HistoryOp;
  kind: 'get' | 'put' | 'del';
  /** put: the value written */
  value?: string;
  /** the value the result claims (previous or current); undefined = unconstrained */
  out: Value | undefined;
  /** ordering keys: call and return; return = Infinity when incomplete */
  call: number;
  ret: number;
}

interface Entry {
  op: Op;
  isCall: boolean;
  /** the matching return entry (for a call) */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

function show(v: Value | undefined): string {
  return v === undefined ? '?' : v === null ? 'null' : JSON.stringify(v);
}

function describe(o: Op): string {
  const h = o.src;
  const what = o.kind === 'put' ? `put(${JSON.stringify(h.op.key)}, ${JSON.stringify(o.value)})` : `${o.kind}(${JSON.stringify(h.op.key)})`;
  const who = h.label ?? h.client;
  const span = h.completeMs === undefined ? `[${h.invokeMs}ms, never completed]` : `[${h.invokeMs}ms, ${h.completeMs}ms]`;
  return `${who} ${what} -> ${o.out === undefined ? '(no result)' : show(o.out)} ${span}`;
}

/** Apply op to state: whether its result is consistent, and the state after it. */
function step(state: Value, o: Op): [boolean, Value] {
  if (o.out !== undefined && o.out !== state) return [false, state];
  switch (o.kind) {
    case 'get':
      return [true, state];
    case 'put':
      return [true, o.value!];
    case 'del':
      return [true, null];
  }
}

/** A growable bitset with a string key for the cache. */
class Bits {
  private readonly words: Uint32Array;
  constructor(n: number) {
    this.words = new Uint32Array(Math.ceil(n / 32) || 1);
  }
  set(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >>> 5]! &= ~(1 << (i & 31));
  }
  key(): string {
    return Array.prototype.join.call(this.words, ',');
  }
}

type KeyResult = { ok: true } | { ok: false; message: string } | { ok: 'unknown'; message: string };

/** Check one key's sub-history. `ops` all touch the same key. */
function checkKey(key: string, ops: Op[], maxSteps: number): KeyResult {
  if (ops.length === 0) return { ok: true };
  // entries sorted by time; at equal times calls first (equal times = concurrent)
  const entries: Entry[] = [];
  for (const o of ops) {
    const call: Entry = { op: o, isCall: true, match: null, prev: null, next: null };
    const ret: Entry = { op: o, isCall: false, match: null, prev: null, next: null };
    call.match = ret;
    entries.push(call, ret);
  }
  entries.sort((a, b) => {
    const ta = a.isCall ? a.op.call : a.op.ret;
    const tb = b.isCall ? b.op.call : b.op.ret;
    if (ta !== tb) return ta < tb ? -1 : 1;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.op.id - b.op.id;
  });
  const head: Entry = { op: ops[0]!, isCall: false, match: null, prev: null, next: null };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const lift = (e: Entry): void => {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Entry): void => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  };

  const bits = new Bits(ops.length);
  const cache = new Set<string>();
  const calls: { entry: Entry; state: Value }[] = [];
  let state: Value = null;
  let entry: Entry | null = head.next;
  let steps = 0;
  // the deepest point reached, for the failure message
  let best = { depth: -1, state: null as Value, done: new Set<number>() };

  while (head.next !== null) {
    if (++steps > maxSteps) {
      return {
        ok: 'unknown',
        message: `key ${JSON.stringify(key)}: search gave up after ${maxSteps} steps (${ops.length} operations; ${best.depth} linearized at most)`,
      };
    }
    if (entry === null) break; // cannot happen: the list always ends with a return entry
    if (entry.isCall) {
      const [ok, next] = step(state, entry.op);
      if (ok) {
        bits.set(entry.op.id);
        const k = `${bits.key()}|${next === null ? 'N' : `S${next}`}`;
        if (!cache.has(k)) {
          cache.add(k);
          calls.push({ entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          if (calls.length > best.depth) best = { depth: calls.length, state, done: new Set(calls.map((c) => c.entry.op.id)) };
          continue;
        }
        bits.clear(entry.op.id);
      }
      entry = entry.next;
    } else {
      // reached the return of an operation not yet linearized: backtrack
      if (calls.length === 0) return { ok: false, message: failure(key, ops, best) };
      const top = calls.pop()!;
      entry = top.entry;
      state = top.state;
      bits.clear(entry.op.id);
      unlift(entry);
      entry = entry.next;
    }
  }
  return { ok: true };
}

function failure(key: string, ops: Op[], best: { depth: number; state: Value; done: Set<number> }): string {
  const depth = Math.max(0, best.depth);
  const done = best.done;
  const pending = ops.filter((o) => !done.has(o.id) && o.ret !== Infinity).sort((a, b) => a.ret - b.ret);
  const lines = [
    `key ${JSON.stringify(key)}: the ${ops.length} operations on it have no linearization.`,
    `At best ${depth} of them can be ordered, leaving the value ${show(depth > 0 ? best.state : null)}; then none of these fits next:`,
  ];
  for (const o of pending.slice(0, 6)) lines.push(`  ${describe(o)}${o.out !== undefined ? ` (needs the value to be ${show(o.out)})` : ''}`);
  if (pending.length > 6) lines.push(`  ... and ${pending.length - 6} more`);
  const shown = ops.slice().sort((a, b) => a.call - b.call);
  lines.push(`History on this key (${ops.length} ops${ops.length > 20 ? ', first 20' : ''}):`);
  for (const o of shown.slice(0, 20)) lines.push(`  ${describe(o)}`);
  return lines.join('\n');
}

/**
 * Convert and check a KV history. Returns the first key without a linearization, or 'unknown'
 * when some key's search hit the step bound (and none failed).
 */
export function checkKvHistory(history: HistoryOp[], o: LinearizabilityOptions = {}): LinearizabilityResult {
  const maxSteps = o.maxStepsPerKey ?? DEFAULT_MAX_STEPS_PER_KEY;
  const byKey = new Map<string, Op[]>();
  const useOrder = history.every((h) => h.invokeOrder !== undefined && (h.completeMs === undefined || h.completeOrder !== undefined));
  for (const h of history) {
    const completed = h.completeMs !== undefined;
    if (completed && h.result !== undefined && h.result.ok === false) {
      // a valid operation never fails in the KV store: a result no correct execution gives
      return {
        ok: false,
        key: h.op.key,
        message: `key ${JSON.stringify(h.op.key)}: ${h.label ?? h.client} ${h.op.op} returned an error (${JSON.stringify(h.result.error)}), which the KV store never returns for a valid operation`,
      };
    }
    const out: Value | undefined = completed && h.result?.ok ? h.result.value : undefined;
    if (!completed && h.op.op === 'get') continue; // constrains nothing
    const call = useOrder ? h.invokeOrder! : h.invokeMs;
    // a return recorded before its call (clock skew in a caller) is taken as concurrent
    const ret = completed ? Math.max(call, useOrder ? h.completeOrder! : h.completeMs!) : Infinity;
    const op: Op = { id: 0, src: h, kind: h.op.op, value: h.op.op === 'put' ? h.op.value : undefined, out, call, ret };
    const list = byKey.get(h.op.key) ?? [];
    op.id = list.length;
    list.push(op);
    byKey.set(h.op.key, list);
  }
  let unknown: LinearizabilityResult | null = null;
  for (const key of [...byKey.keys()].sort()) {
    const r = checkKey(key, byKey.get(key)!, maxSteps);
    if (r.ok === false) return { ok: false, key, message: r.message };
    if (r.ok === 'unknown' && !unknown) unknown = { ok: 'unknown', key, message: r.message };
  }
  return unknown ?? { ok: true };
}
