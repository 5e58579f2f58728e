/**
 * The frames that travel on a replica's WebSocket port (JSON text frames).
 *
 * Every connection starts with a challenge from the server:
 *   server -> {type:'challenge', replica, cluster, nonce, dh, dhSig}
 * (dh: a fresh ephemeral X25519 public key, dhSig: the replica's signature binding it to the
 * cluster, the replica and the nonce: replicaSessionBytes in src/crypto/sessions.ts)
 * and a hello from the connecting side, in one of three roles:
 *   replica: {type:'hello', role:'replica', replica, sig}  sig by that replica over the nonce
 *   client:  {type:'hello', role:'client', client, dh, sig}  sig by that client over the nonce and
 *            both ephemerals (clientSessionHelloBytes): both sides then derive the session key
 *            (deriveSessionKey) for MAC authenticators; without dh, sig is over the nonce alone
 *            (clientHelloBytes) and there is no session (everything signed)
 *   admin:   {type:'hello', role:'admin'}                  read-only until a command is signed
 *   clients: {type:'hello', role:'clients'}                a shared client connection: no one until
 *            clients attach to it, each with {type:'attach', client, dh, sig} (the client hello's
 *            fields and signed bytes, on this connection's nonce and ephemeral), answered by
 *            {type:'attached', client} or {type:'attach-refused', client, reason}; many clients of
 *            one process (a load generator, a gateway) then share one connection per replica
 * answered by {type:'welcome', replica} or {type:'refused', reason} (then closed).
 * The nonce is fresh per connection, so a recorded hello cannot be replayed.
 *
 * Then: a replica sends {type:'message', msg}, or {type:'messages', msgs: [msg, ...]} (at most
 * MAX_COALESCED_MESSAGES, what it had for that peer in one turn), on its own outbound connection (a replica never
 * sends protocol messages on connections it accepted, so `from` is the proven identity of the
 * connection); a client sends {type:'request', msg} and receives {type:'reply', msg} (on a shared
 * connection, also {type:'requests', msgs} and {type:'replies', msgs}: what one turn had, at most
 * MAX_COALESCED_MESSAGES, each request naming a client attached to it); an admin
 * sends {type:'status', rid} or {type:'command', rid, command} and receives
 * {type:'status', rid, status} / {type:'result', rid, ok, result | error}.
 */
import { canonicalBytes } from '../core/canonical.js';
import type { ClientId, Hex, ReplicaId } from '../core/types.js';

export type Role = 'replica' | 'client' | 'admin';

export interface ChallengeFrame {
  type: 'challenge';
  replica: ReplicaId;
  cluster: string;
  nonce: Hex;
  /** the replica's ephemeral X25519 public key for this connection, and its signature over it */
  dh?: Hex;
  dhSig?: Hex;
}
export type HelloFrame =
  | { type: 'hello'; role: 'replica'; replica: ReplicaId; sig: Hex }
  | { type: 'hello'; role: 'client'; client: ClientId; sig: Hex; dh?: Hex }
  | { type: 'hello'; role: 'admin' }
  | { type: 'hello'; role: 'clients' };

/** A client proving its identity on a shared client connection (the fields of its hello). */
export interface AttachFrame {
  type: 'attach';
  client: ClientId;
  sig: Hex;
  dh?: Hex;
}

export const NONCE_BYTES = 32;
export const NONCE_RE = /^[0-9a-f]{64}$/;
export const SIG_RE = /^[0-9a-f]{64,128}$/;
/** most protocol messages in one {type:'messages'} frame from a replica */
export const MAX_COALESCED_MESSAGES = 256;

/** largest hello frame accepted before authentication */
export const MAX_HELLO_BYTES = 4096;
/** largest frame accepted on an admin connection */
export const MAX_ADMIN_FRAME_BYTES = 64 * 1024;
/** WebSocket close codes used by pbft */
export const CLOSE = {
  refused: 4001,
  helloTimeout: 4002,
  replaced: 4003,
  overload: 4004,
  shutdown: 1001,
  tooLarge: 1009,
} as const;

/** The bytes a replica signs to prove its identity on a connection. */
export function replicaHelloBytes(cluster: string, from: ReplicaId, to: ReplicaId, nonce: Hex): Uint8Array {
  return canonicalBytes({ purpose: 'pbft-replica-hello', cluster, from, to, nonce });
}

/** The bytes a client signs to prove its identity on a connection. */
export function clientHelloBytes(cluster: string, client: ClientId, to: ReplicaId, nonce: Hex): Uint8Array {
  return canonicalBytes({ purpose: 'pbft-client-hello', cluster, client, to, nonce });
}

export function parseChallenge(v: unknown): ChallengeFrame | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.type !== 'challenge' || typeof o.nonce !== 'string' || !NONCE_RE.test(o.nonce)) return null;
  if (typeof o.replica !== 'number' || !Number.isSafeInteger(o.replica) || o.replica < 0) return null;
  if (typeof o.cluster !== 'string' || o.cluster.length > 256) return null;
  const ch: ChallengeFrame = { type: 'challenge', replica: o.replica, cluster: o.cluster, nonce: o.nonce };
  if (typeof o.dh === 'string' && NONCE_RE.test(o.dh) && typeof o.dhSig === 'string' && SIG_RE.test(o.dhSig)) {
    ch.dh = o.dh;
    ch.dhSig = o.dhSig;
  }
  return ch;
}

export function parseHello(v: unknown): HelloFrame | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'hello is not an object';
  const o = v as Record<string, unknown>;
  if (o.type !== 'hello') return 'expected a hello';
  switch (o.role) {
    case 'replica':
      if (typeof o.replica !== 'number' || !Number.isSafeInteger(o.replica) || o.replica < 0) return 'hello.replica is not a replica id';
      if (typeof o.sig !== 'string' || !SIG_RE.test(o.sig)) return 'hello.sig is not a signature';
      return { type: 'hello', role: 'replica', replica: o.replica, sig: o.sig };
    case 'client':
      if (typeof o.client !== 'string' || o.client.length === 0 || o.client.length > 256) return 'hello.client is not a client id';
      if (typeof o.sig !== 'string' || !SIG_RE.test(o.sig)) return 'hello.sig is not a signature';
      if (o.dh !== undefined && (typeof o.dh !== 'string' || !NONCE_RE.test(o.dh))) return 'hello.dh is not an X25519 public key';
      return { type: 'hello', role: 'client', client: o.client, sig: o.sig, ...(o.dh !== undefined ? { dh: o.dh as Hex } : {}) };
    case 'admin':
      return { type: 'hello', role: 'admin' };
    case 'clients':
      return { type: 'hello', role: 'clients' };
    default:
      return 'hello.role must be replica, client, clients or admin';
  }
}

export function parseAttach(o: Record<string, unknown>): AttachFrame | string {
  if (o.type !== 'attach') return 'expected an attach';
  if (typeof o.client !== 'string' || o.client.length === 0 || o.client.length > 256) return 'attach.client is not a client id';
  if (typeof o.sig !== 'string' || !SIG_RE.test(o.sig)) return 'attach.sig is not a signature';
  if (o.dh !== undefined && (typeof o.dh !== 'string' || !NONCE_RE.test(o.dh))) return 'attach.dh is not an X25519 public key';
  return { type: 'attach', client: o.client, sig: o.sig, ...(o.dh !== undefined ? { dh: o.dh as Hex } : {}) };
}

/**
 * Serialized messages gathered into one frame ({type: one, msg} for a single one, {type: many,
 * msgs} for more): at most MAX_COALESCED_MESSAGES and `maxBytes` of messages per frame (a single
 * message larger than that still makes a frame of its own). Shared client connections use it for
 * requests (client side) and replies (replica side).
 */
export class FrameBatch {
  private parts: string[] = [];
  private bytes = 0;
  constructor(
    private readonly one: string,
    private readonly many: string,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.parts.length;
  }

  /** Add a message; when it would not fit, the frame of what was gathered before it is returned (send it first). */
  add(json: string): string | null {
    const full = this.parts.length > 0 && (this.parts.length >= MAX_COALESCED_MESSAGES || this.bytes + json.length > this.maxBytes);
    const out = full ? this.take() : null;
    this.parts.push(json);
    this.bytes += json.length + 1;
    return out;
  }

  /** The frame of everything gathered (null when empty), and an empty batch. */
  take(): string | null {
    const p = this.parts;
    if (p.length === 0) return null;
    this.parts = [];
    this.bytes = 0;
    return p.length === 1 ? `{"type":"${this.one}","msg":${p[0]}}` : `{"type":"${this.many}","msgs":[${p.join(',')}]}`;
  }

  /** Forget what was gathered; how many messages that was. */
  clear(): number {
    const n = this.parts.length;
    this.parts = [];
    this.bytes = 0;
    return n;
  }
}

/** the most bytes of messages coalesced into one frame on a shared client connection (and at most half of maxFrameBytes) */
export function sharedFrameMaxBytes(maxFrameBytes: number): number {
  return Math.min(256 * 1024, Math.floor(maxFrameBytes / 2));
}

const REPLY_PREFIX = '{"type":"reply","msg":';

/** The {type:'reply'} frame around one serialized reply. */
export function replyFrame(msgJson: string): string {
  return `${REPLY_PREFIX}${msgJson}}`;
}

/** The serialized reply inside a frame made by replyFrame (null: not one). */
export function replyMsgJson(frame: string): string | null {
  return frame.startsWith(REPLY_PREFIX) && frame.endsWith('}') ? frame.slice(REPLY_PREFIX.length, -1) : null;
}

/** Parse a text frame as a JSON object; null when it is not one. */
export function parseFrame(data: unknown): Record<string, unknown> | null {
  let text: string;
  if (typeof data === 'string') text = data;
  else if (Buffer.isBuffer(data)) text = data.toString('utf8');
  else if (Array.isArray(data)) text = Buffer.concat(data as Buffer[]).toString('utf8');
  else if (data instanceof ArrayBuffer) text = Buffer.from(data).toString('utf8');
  else return null;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function frameBytes(data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (Buffer.isBuffer(data)) return data.length;
  if (Array.isArray(data)) return (data as Buffer[]).reduce((s, b) => s + b.length, 0);
  if (data instanceof ArrayBuffer) return data.byteLength;
  return 0;
}

/** Exponential backoff with jitter: uniformly in [d/2, d] with d = min(max, min * 2^attempt). */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(d / 2 + random() * (d / 2)));
}

/** Admin/operator command vocabulary (issue 4). */
export type NetAction = 'isolate' | 'partition' | 'delay' | 'drop' | 'heal';
/** Which links a delay or drop applies to (absent: both). */
export type NetLink = 'replicas' | 'clients';
export type AdminCommand =
  | { kind: 'net'; action: NetAction; peers?: ReplicaId[]; clients?: boolean; link?: NetLink; ms?: number; jitterMs?: number; rate?: number }
  | { kind: 'byzantine'; strategy: string | null }
  | { kind: 'clear' }
  | { kind: 'faults' };

export interface AdminCommandBody {
  type: 'admin';
  cluster: string;
  /** the replica the command is for (a command for another replica is refused) */
  replica: ReplicaId;
  /** random, never reused */
  nonce: Hex;
  /** the operator's clock, ms since the epoch */
  timestampMs: number;
  command: AdminCommand;
}
export interface SignedAdminCommand {
  body: AdminCommandBody;
  sig: Hex;
}

const MAX_DELAY_MS = 60_000;

/** Validate an admin command; a string says what is wrong. */
export function parseAdminCommand(v: unknown, n: number): AdminCommand | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'command is not an object';
  const o = v as Record<string, unknown>;
  const allowed = (ks: string[]) => Object.keys(o).every((k) => ks.includes(k));
  switch (o.kind) {
    case 'clear':
    case 'faults':
      if (!allowed(['kind'])) return 'unexpected fields';
      return { kind: o.kind };
    case 'byzantine':
      if (!allowed(['kind', 'strategy'])) return 'unexpected fields';
      if (o.strategy !== null && (typeof o.strategy !== 'string' || !/^[a-z][a-z0-9-]{0,63}$/.test(o.strategy)))
        return 'strategy must be a strategy name or null';
      return { kind: 'byzantine', strategy: o.strategy as string | null };
    case 'net': {
      if (!allowed(['kind', 'action', 'peers', 'clients', 'link', 'ms', 'jitterMs', 'rate'])) return 'unexpected fields';
      const action = o.action;
      if (action !== 'isolate' && action !== 'partition' && action !== 'delay' && action !== 'drop' && action !== 'heal')
        return 'net action must be isolate, partition, delay, drop or heal';
      const c: AdminCommand = { kind: 'net', action };
      if (o.peers !== undefined) {
        if (!Array.isArray(o.peers) || o.peers.length > n || !o.peers.every((p) => typeof p === 'number' && Number.isSafeInteger(p) && p >= 0 && p < n))
          return `peers must be a list of replica ids 0-${n - 1}`;
        c.peers = [...new Set(o.peers as number[])].sort((a, b) => a - b);
      }
      if (o.clients !== undefined) {
        if (o.clients !== true || (action !== 'partition' && action !== 'heal')) return 'clients: true is for partition and heal only';
        c.clients = true;
      }
      if (o.link !== undefined) {
        if ((o.link !== 'replicas' && o.link !== 'clients') || (action !== 'delay' && action !== 'drop'))
          return 'link (replicas or clients) is for delay and drop only';
        c.link = o.link;
      }
      if (o.ms !== undefined) {
        if (typeof o.ms !== 'number' || !Number.isSafeInteger(o.ms) || o.ms < 0 || o.ms > MAX_DELAY_MS) return `ms must be an integer 0-${MAX_DELAY_MS}`;
        c.ms = o.ms;
      }
      if (o.jitterMs !== undefined) {
        if (typeof o.jitterMs !== 'number' || !Number.isSafeInteger(o.jitterMs) || o.jitterMs < 0 || o.jitterMs > MAX_DELAY_MS)
          return `jitterMs must be an integer 0-${MAX_DELAY_MS}`;
        c.jitterMs = o.jitterMs;
      }
      if (o.rate !== undefined) {
        if (typeof o.rate !== 'number' || !Number.isFinite(o.rate) || o.rate < 0 || o.rate > 1) return 'rate must be a number 0-1';
        c.rate = o.rate;
      }
      if (action === 'partition' && (!c.peers || c.peers.length === 0) && !c.clients) return 'partition needs peers (the replicas to cut off) or clients';
      if (action === 'delay' && c.ms === undefined) return 'delay needs ms';
      if (action === 'drop' && c.rate === undefined) return 'drop needs rate';
      return c;
    }
    default:
      return 'command kind must be net, byzantine, clear or faults';
  }
}
