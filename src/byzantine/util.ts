/** Small helpers shared by the strategies. None of them mutates a message: they build new ones. */
import type { PhaseEvent, ReplicaAction, ReplicaId, ReplicaMessage, SignedRequest } from '../core/types.js';
import type { StrategyName } from './types.js';

export type OutMessage = Extract<ReplicaAction, { type: 'send' | 'multicast' }>;

export function randomHex(rng: () => number, bytes: number): string {
  let s = '';
  for (let i = 0; i < bytes * 2; i++) s += Math.floor(rng() * 16).toString(16);
  return s;
}

/** a random 32-byte digest different from `not` */
export function otherDigest(rng: () => number, not?: string): string {
  for (;;) {
    const d = randomHex(rng, 32);
    if (d !== not) return d;
  }
}

export function randInt(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

export function pick<T>(rng: () => number, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

export function shuffle<T>(rng: () => number, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** the message's body.type, if it has one */
export function typeOf(msg: unknown): string | undefined {
  if (typeof msg !== 'object' || msg === null) return undefined;
  const body = (msg as { body?: unknown }).body;
  if (typeof body !== 'object' || body === null) return undefined;
  const t = (body as { type?: unknown }).type;
  return typeof t === 'string' ? t : undefined;
}

/** the message's body.replica (requests have none) */
export function signerOf(msg: unknown): ReplicaId | undefined {
  if (typeof msg !== 'object' || msg === null) return undefined;
  const body = (msg as { body?: unknown }).body;
  if (typeof body !== 'object' || body === null) return undefined;
  const r = (body as { replica?: unknown }).replica;
  return typeof r === 'number' ? r : undefined;
}

/** Is this outbound action a message of `type` signed by replica `id`? */
export function isOwn(a: ReplicaAction, id: ReplicaId, type?: string): boolean {
  return (a.type === 'send' || a.type === 'multicast') && signerOf(a.msg) === id && (type === undefined || typeOf(a.msg) === type);
}

/** The same send/multicast with another message. */
export function withMsg(a: OutMessage, msg: unknown): ReplicaAction {
  return a.type === 'send' ? { type: 'send', to: a.to, msg: msg as ReplicaMessage } : { type: 'multicast', msg: msg as ReplicaMessage };
}

/** The replicas a send/multicast reaches (multicast: everyone but `self`). */
export function targets(a: OutMessage, n: number, self: ReplicaId): ReplicaId[] {
  if (a.type === 'send') return [a.to];
  const out: ReplicaId[] = [];
  for (let r = 0; r < n; r++) if (r !== self) out.push(r);
  return out;
}

export function faultLog(name: StrategyName, view: number, detail: string, extra: Partial<PhaseEvent> = {}): ReplicaAction {
  return { type: 'log', event: { phase: 'fault', view, reason: `byzantine:${name}`, detail: `${name}: ${detail}`, ...extra } };
}

/** Tracks the replica's current view from what its core says and sends. */
export class ViewTracker {
  view = 0;
  viewChanging = false;
  observe(actions: readonly ReplicaAction[], self: ReplicaId): void {
    for (const a of actions) {
      if ((a.type === 'send' || a.type === 'multicast') && signerOf(a.msg) === self) {
        const b = (a.msg as unknown as { body: Record<string, unknown> }).body;
        if (b.type === 'status' && typeof b.view === 'number') {
          this.view = b.view;
          this.viewChanging = b.viewChanging === true;
        } else if (b.type === 'view-change' && typeof b.newView === 'number' && b.newView >= this.view) {
          this.view = b.newView;
          this.viewChanging = true;
        }
      } else if (a.type === 'view-entered') {
        this.view = a.view;
        this.viewChanging = false;
      } else if (a.type === 'persist' && a.record.kind === 'view') {
        this.view = a.record.view;
        this.viewChanging = a.record.viewChanging;
      }
    }
  }
}

/** A bounded FIFO of recent items. */
export class Ring<T> {
  private items: T[] = [];
  constructor(private readonly capacity: number) {}
  push(x: T): void {
    this.items.push(x);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }
  get size(): number {
    return this.items.length;
  }
  all(): readonly T[] {
    return this.items;
  }
  pick(rng: () => number): T | undefined {
    return this.items.length === 0 ? undefined : this.items[Math.floor(rng() * this.items.length)];
  }
}

/** A bounded insertion-ordered map (oldest evicted first). */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly capacity: number) {
    super();
  }
  override set(k: K, v: V): this {
    if (!this.has(k) && this.size >= this.capacity) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(k, v);
  }
}

/** Shallow structural check that a value looks like a signed request (for pools of real requests). */
export function looksLikeRequest(m: unknown): m is SignedRequest {
  return typeOf(m) === 'request' && typeof (m as { sig?: unknown }).sig === 'string';
}

export function asMessage(x: unknown): ReplicaMessage {
  return x as ReplicaMessage;
}
