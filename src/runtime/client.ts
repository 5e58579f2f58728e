/**
 * PbftClient: the sans-I/O ClientCore driven over WebSocket connections to every replica.
 *
 * A request is signed, sent to the primary the client believes in, retransmitted to all on
 * timeout (with back-off), and accepted on f+1 matching signed replies (2f+1 tentative ones for
 * a read-only request). One request at a time per client (closed loop, as in the paper); calls
 * made while one is outstanding wait their turn.
 *
 * Timestamps start at a Date.now()*1000-based value, so separate processes using the same
 * client key never reuse one (they would be taken for retransmissions).
 */
import { ClientCore } from '../core/client.js';
import { quorums } from '../core/quorum.js';
import type { ClientAction, Hex, ReplicaId } from '../core/types.js';
import { KeyedAuthenticator, randomSecretKey, selfCertifyingClientId } from '../crypto/index.js';
import { ClientSessions, clientSessionHelloBytes, deriveSessionKey, ephemeralX25519, replicaSessionBytes, type SessionKey } from '../crypto/sessions.js';
import { PbftError, abortError } from '../errors.js';
import { readClientSecret, type LoadedCluster } from './config.js';
import { Link } from './link.js';
import { clientHelloBytes, type ChallengeFrame, type HelloFrame } from './wire.js';

export interface ClientConnectOptions {
  /** a configured client id (its key is read from keys/client-<id>.key unless secretKey is given), or pk:<hex> */
  clientId?: string;
  secretKey?: Hex;
  /** aborting closes the client */
  signal?: AbortSignal;
  /** the view to assume at first (default 0; learnt from replies afterwards) */
  initialView?: number;
}

export interface RequestOptions {
  /** give up after this long (default 10000 ms) with PbftError NO_QUORUM (details.outcome 'unknown': it may still execute) */
  timeoutMs?: number;
  /** use the read-only path (2f+1 matching tentative replies, falls back to read-write) */
  readOnly?: boolean;
  signal?: AbortSignal;
}

export interface RequestResult {
  result: string;
  /** the replicas whose matching replies formed the quorum */
  replicas: ReplicaId[];
  view: number;
  latencyMs: number;
  timestamp: number;
}

/** An ephemeral self-certifying identity (for `pbft bench`; needs openClients in cluster.json). */
export function ephemeralClientIdentity(cluster: LoadedCluster): { clientId: string; secretKey: Hex } {
  const secretKey = randomSecretKey();
  return { clientId: selfCertifyingClientId(cluster.scheme.publicKey(secretKey)), secretKey };
}

/** the next timestamp floor per client id within this process */
const timestampFloor = new Map<string, number>();

function startTimestamp(clientId: string): number {
  const t = Math.max(Date.now() * 1000, timestampFloor.get(clientId) ?? 0);
  timestampFloor.set(clientId, t + 1);
  return t;
}

interface Pending {
  op: string;
  timestamp: number;
  startedAt: number;
  repliedBy: Set<ReplicaId>;
  resolve: (r: RequestResult) => void;
  reject: (e: Error) => void;
}

export class PbftClient {
  readonly id: string;
  private readonly core: ClientCore;
  private readonly links: Link[] = [];
  private retransmitTimer: NodeJS.Timeout | null = null;
  private pending: Pending | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly q;
  /** session keys with the replicas (MAC authenticators), set when a connection is welcomed */
  private readonly sessions: ClientSessions;
  private readonly pendingSessions: (SessionKey | null)[];
  /** challenges whose ephemeral key did not carry a valid signature of the replica we dialled */
  handshakeFailures = 0;

  private constructor(
    readonly cluster: LoadedCluster,
    id: string,
    secret: Hex,
    o: ClientConnectOptions,
  ) {
    this.id = id;
    const cfg = cluster.config;
    this.q = quorums(cluster.params.n, cluster.params.f);
    this.sessions = new ClientSessions(cluster.params.n);
    this.pendingSessions = cfg.replicas.map(() => null);
    const auth = new KeyedAuthenticator(cluster.scheme, secret, cluster.keyring, this.sessions);
    this.core = new ClientCore({
      id,
      n: cluster.params.n,
      f: cluster.params.f,
      auth,
      startTimestamp: startTimestamp(id),
      initialView: o.initialView ?? 0,
      retransmitTimeoutMs: cfg.runtime.clientRetransmitMs,
      maxRetransmitTimeoutMs: Math.max(cfg.runtime.clientRetransmitMs, cfg.runtime.clientRetransmitMs * 8),
      maxOpBytes: cfg.protocol.maxOpBytes,
    });
    for (const r of cfg.replicas) {
      const rid = r.id;
      this.links.push(
        new Link({
          host: r.host,
          port: r.port,
          expectReplica: rid,
          cluster: cfg.name,
          hello: (ch) => this.hello(rid, ch, secret),
          maxPayload: cfg.runtime.maxFrameBytes,
          heartbeatMs: cfg.runtime.heartbeatMs,
          reconnect: true,
          reconnectMinMs: cfg.runtime.reconnectMinMs,
          reconnectMaxMs: cfg.runtime.reconnectMaxMs,
          maxQueue: 4,
          onFrame: (f) => this.onFrame(rid, f),
          onOpen: () => this.sessions.set(rid, this.pendingSessions[rid] ?? null),
          onClose: () => this.sessions.set(rid, null),
        }),
      );
    }
    o.signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  /**
   * Create a client for a cluster. Without clientId, the first configured client (its key file
   * in keys/) is used, or an ephemeral pk: identity when none is configured and openClients is on.
   * Connections are opened at once, in the background, and kept (reconnecting) until close().
   */
  static async connect(cluster: LoadedCluster, o: ClientConnectOptions = {}): Promise<PbftClient> {
    if (o.signal?.aborted) throw abortError(o.signal);
    let id = o.clientId;
    let secret = o.secretKey;
    if (secret !== undefined && !/^[0-9a-f]{64}$/.test(secret))
      throw new PbftError('KEY_MALFORMED', 'the client secret key must be 32 bytes of lower-case hex (64 characters)');
    if (id === undefined && secret !== undefined) id = selfCertifyingClientId(cluster.scheme.publicKey(secret));
    if (id === undefined) {
      const first = cluster.config.clients[0];
      if (first) id = first.id;
      else if (cluster.config.openClients) ({ clientId: id, secretKey: secret } = ephemeralClientIdentity(cluster));
      else throw new PbftError('BAD_ARGUMENT', 'this cluster has no configured clients and openClients is false; add a client with "pbft init --clients 1"');
    }
    if (secret === undefined) {
      if (id.startsWith('pk:')) throw new PbftError('BAD_ARGUMENT', `client ${id.slice(0, 20)}... needs its secret key`);
      secret = await readClientSecret(cluster, id);
    }
    if (id.startsWith('pk:')) {
      if (!cluster.config.openClients) throw new PbftError('BAD_ARGUMENT', 'self-certifying client ids (pk:...) need "openClients": true in cluster.json');
      if (id !== selfCertifyingClientId(cluster.scheme.publicKey(secret)))
        throw new PbftError('KEY_MALFORMED', `client id ${id.slice(0, 20)}... does not match its secret key`);
    } else if (cluster.keyring.clientKey(id) === undefined) {
      throw new PbftError(
        'BAD_ARGUMENT',
        `unknown client "${id}": cluster.json lists ${cluster.config.clients.map((c) => `"${c.id}"`).join(', ') || 'no clients'}`,
      );
    }
    const c = new PbftClient(cluster, id, secret, o);
    for (const l of c.links) l.connect();
    return c;
  }

  /**
   * The hello for replica `rid`'s challenge. When the challenge carries an ephemeral X25519 key
   * signed by that replica's key (from cluster.json), ours goes in the hello under our signature
   * (over both ephemerals), and both sides derive the session key; it is used once the replica
   * welcomes us. Otherwise (no key, or a signature that does not verify: an impostor, or a
   * replica with another key) no session: requests carry no MAC for it and its replies must be
   * signed.
   */
  private hello(rid: ReplicaId, ch: ChallengeFrame, secret: Hex): HelloFrame {
    const cluster = this.cluster;
    const cfg = cluster.config;
    this.sessions.set(rid, null);
    this.pendingSessions[rid] = null;
    const replicaKey = cfg.replicas[rid]!.publicKey;
    if (ch.dh !== undefined && ch.dhSig !== undefined) {
      if (cluster.scheme.verify(replicaKey, replicaSessionBytes(cfg.name, rid, ch.nonce, ch.dh), ch.dhSig)) {
        const eph = ephemeralX25519();
        const key = deriveSessionKey(eph, ch.dh, {
          cluster: cfg.name,
          client: this.id,
          clientKey: cluster.scheme.publicKey(secret),
          replica: rid,
          replicaKey,
          nonce: ch.nonce,
          replicaDh: ch.dh,
          clientDh: eph.publicKey,
        });
        if (key) {
          this.pendingSessions[rid] = key;
          const sig = cluster.scheme.sign(secret, clientSessionHelloBytes(cfg.name, this.id, rid, ch.nonce, ch.dh, eph.publicKey));
          return { type: 'hello', role: 'client', client: this.id, sig, dh: eph.publicKey };
        }
      }
      this.handshakeFailures++;
    }
    return { type: 'hello', role: 'client', client: this.id, sig: cluster.scheme.sign(secret, clientHelloBytes(cfg.name, this.id, rid, ch.nonce)) };
  }

  /** Replicas with a session key now (their replies may be MAC'd; requests carry their MAC). */
  sessionReplicas(): ReplicaId[] {
    return this.sessions.established;
  }

  /** Replies dropped by the client core, by reason (bad-mac, bad-signature, stale, ...). */
  get droppedReplies(): Readonly<Record<string, number>> {
    return this.core.dropped;
  }

  /** Replicas this client is connected to now. */
  connectedReplicas(): ReplicaId[] {
    return this.links.flatMap((l, i) => (l.isOpen ? [i] : []));
  }

  /** Resolves once connections to at least `count` replicas (default f+1) are open. */
  async waitConnected(count = this.q.weak, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const deadline = Date.now() + (o.timeoutMs ?? 5000);
    while (this.connectedReplicas().length < count) {
      if (this.closed) throw new PbftError('ABORTED', 'client closed');
      if (o.signal?.aborted) throw abortError(o.signal);
      if (Date.now() > deadline)
        throw new PbftError(
          'NO_QUORUM',
          `connected to ${this.connectedReplicas().length} of ${this.links.length} replicas, ${count} needed; is the cluster up? check with "pbft status"`,
        );
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), 100);
      await Promise.race(this.links.filter((l) => !l.isOpen).map((l) => l.whenOpen(ac.signal).catch(() => undefined)));
      clearTimeout(t);
    }
  }

  get view(): number {
    return this.core.view;
  }

  /** Send one operation; resolves with the result agreed by f+1 replicas. */
  request(op: string, o: RequestOptions = {}): Promise<RequestResult> {
    const run = this.chain.then(() => this.runRequest(op, o));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private runRequest(op: string, o: RequestOptions): Promise<RequestResult> {
    if (this.closed) return Promise.reject(new PbftError('ABORTED', 'client closed'));
    if (o.signal?.aborted) return Promise.reject(abortError(o.signal));
    const maxOp = this.cluster.config.protocol.maxOpBytes;
    if (Buffer.byteLength(op) > maxOp)
      return Promise.reject(new PbftError('BAD_ARGUMENT', `operation is ${Buffer.byteLength(op)} bytes, more than protocol.maxOpBytes (${maxOp})`));
    const timeoutMs = o.timeoutMs ?? 10_000;
    return new Promise<RequestResult>((resolve, reject) => {
      let deadline: NodeJS.Timeout | null = null;
      const onAbort = () => finish(abortError(o.signal));
      const finish = (e: Error | null, r?: RequestResult) => {
        if (deadline) clearTimeout(deadline);
        o.signal?.removeEventListener('abort', onAbort);
        if (this.pending === p) {
          this.pending = null;
          this.perform(this.core.abandon());
        }
        if (e) reject(e);
        else resolve(r!);
      };
      const p: Pending = {
        op,
        timestamp: 0,
        startedAt: performance.now(),
        repliedBy: new Set(),
        resolve: (r) => finish(null, r),
        reject: (e) => finish(e),
      };
      this.pending = p;
      o.signal?.addEventListener('abort', onAbort, { once: true });
      deadline = setTimeout(() => {
        const connected = this.connectedReplicas();
        const answered = [...p.repliedBy].sort((a, b) => a - b);
        // The request was sent: the replicas may still execute it once they agree, so its
        // outcome is unknown (Jepsen's "info"), not failed.
        const reach =
          connected.length >= this.q.quorum
            ? 'the replicas are reachable but did not agree in time (a partition between them, a view change, or faults); check with "pbft status"'
            : 'is the cluster up? check with "pbft status"';
        finish(
          new PbftError(
            'NO_QUORUM',
            `no quorum: ${answered.length ? `only ${answered.length} replica(s) (${answered.join(',')}) answered` : 'no replica answered'} within ${timeoutMs} ms, ${o.readOnly ? `${this.q.quorum} matching tentative or ` : ''}${this.q.weak} matching replies needed (connected to ${connected.length} of ${this.links.length} replicas${connected.length ? `: ${connected.join(',')}` : ''}); the outcome is unknown: it may still be executed later`,
            { hint: reach, details: { outcome: 'unknown', answered, connected } },
          ),
        );
      }, timeoutMs);
      const actions = this.core.submit(op, { readOnly: o.readOnly });
      p.timestamp = this.core.pendingTimestamp ?? 0;
      timestampFloor.set(this.id, Math.max(timestampFloor.get(this.id) ?? 0, p.timestamp + 2));
      this.perform(actions);
    });
  }

  private onFrame(from: ReplicaId, f: Record<string, unknown>): void {
    if (f.type !== 'reply' || typeof f.msg !== 'object' || f.msg === null) return;
    const p = this.pending;
    if (!p) return;
    const body = (f.msg as { body?: { timestamp?: unknown } }).body;
    if (body && typeof body === 'object' && body.timestamp === this.core.pendingTimestamp) p.repliedBy.add(from);
    this.perform(this.core.step({ type: 'reply', from, msg: f.msg }));
  }

  private perform(actions: ClientAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          this.links[a.to]?.send(JSON.stringify({ type: 'request', msg: a.msg }));
          break;
        case 'broadcast': {
          const frame = JSON.stringify({ type: 'request', msg: a.msg });
          for (const l of this.links) l.send(frame);
          break;
        }
        case 'setTimer':
          if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
          this.retransmitTimer = setTimeout(() => {
            this.retransmitTimer = null;
            this.perform(this.core.step({ type: 'timer', name: 'retransmit' }));
          }, a.afterMs);
          break;
        case 'cancelTimer':
          if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
          this.retransmitTimer = null;
          break;
        case 'done': {
          const p = this.pending;
          if (p && a.outcome.timestamp >= p.timestamp) {
            p.resolve({
              result: a.outcome.result,
              replicas: a.outcome.replicas,
              view: a.outcome.view,
              latencyMs: Math.round((performance.now() - p.startedAt) * 1000) / 1000,
              timestamp: a.outcome.timestamp,
            });
          }
          break;
        }
        case 'log':
          break;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
    this.retransmitTimer = null;
    this.pending?.reject(new PbftError('ABORTED', 'client closed'));
    for (const l of this.links) l.close();
  }
}
