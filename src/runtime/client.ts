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
import { Link, type LinkOptions } from './link.js';
import { FrameBatch, MAX_COALESCED_MESSAGES, clientHelloBytes, sharedFrameMaxBytes, type ChallengeFrame } from './wire.js';

export interface ClientConnectOptions {
  /** a configured client id (its key is read from keys/client-<id>.key unless secretKey is given), or pk:<hex> */
  clientId?: string;
  secretKey?: Hex;
  /** aborting closes the client */
  signal?: AbortSignal;
  /** the view to assume at first (default 0; learnt from replies afterwards) */
  initialView?: number;
  /**
   * Share these connections (one per replica) with the other clients of this process instead of
   * opening the client's own: a replica sends the replies of one turn for all of them as one
   * frame, and their requests of one turn go out as one frame per replica.
   */
  shared?: SharedClientConnections;
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
  /** its own connections, one per replica (none when it uses shared ones) */
  private readonly links: Link[] = [];
  private readonly shared: SharedClientConnections | null;
  /** on shared connections: the replicas that accepted our attach on their current connection */
  private readonly attached: boolean[];
  private readonly n: number;
  private readonly secret: Hex;
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
    this.secret = secret;
    this.shared = o.shared ?? null;
    const cfg = cluster.config;
    this.n = cfg.replicas.length;
    this.attached = cfg.replicas.map(() => false);
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
    for (const r of this.shared ? [] : cfg.replicas) {
      const rid = r.id;
      this.links.push(
        clientLink(cluster, rid, {
          hello: (ch) => ({ type: 'hello', role: 'client', client: this.id, ...this.proof(rid, ch) }),
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
    if (o.shared) {
      if (o.shared.cluster !== cluster) throw new PbftError('BAD_ARGUMENT', 'shared connections belong to another cluster object');
      if (o.shared.closed) throw new PbftError('ABORTED', 'the shared connections are closed');
      if (o.shared.has(id)) throw new PbftError('BAD_ARGUMENT', `client ${id.slice(0, 20)}... already uses these shared connections`);
    }
    const c = new PbftClient(cluster, id, secret, o);
    for (const l of c.links) l.connect();
    c.shared?.add(c);
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
  private proof(rid: ReplicaId, ch: ChallengeFrame): { sig: Hex; dh?: Hex } {
    const secret = this.secret;
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
          return { sig, dh: eph.publicKey };
        }
      }
      this.handshakeFailures++;
    }
    return { sig: cluster.scheme.sign(secret, clientHelloBytes(cfg.name, this.id, rid, ch.nonce)) };
  }

  // Shared connections (SharedClientConnections calls these)

  /** the attach frame for replica rid's current shared connection (whose challenge is ch) */
  attachFrame(rid: ReplicaId, ch: ChallengeFrame): string {
    this.attached[rid] = false;
    this.sessions.set(rid, null);
    return JSON.stringify({ type: 'attach', client: this.id, ...this.proof(rid, ch) });
  }
  /** replica rid accepted our attach: its session key (if any) is in use from now on */
  onAttached(rid: ReplicaId): void {
    this.attached[rid] = true;
    this.sessions.set(rid, this.pendingSessions[rid] ?? null);
  }
  /** replica rid's shared connection closed, or it refused our attach */
  onDetached(rid: ReplicaId): void {
    this.attached[rid] = false;
    this.sessions.set(rid, null);
  }
  /** a reply frame for us on a shared connection */
  deliver(rid: ReplicaId, f: Record<string, unknown>): void {
    this.onFrame(rid, f);
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
    if (this.shared) return this.attached.flatMap((a, i) => (a && this.shared!.isOpen(i) ? [i] : []));
    return this.links.flatMap((l, i) => (l.isOpen ? [i] : []));
  }

  /** Resolves once connections to at least `count` replicas (default f+1) are open. */
  async waitConnected(count = this.q.weak, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const deadline = Date.now() + (o.timeoutMs ?? 5000);
    while (this.connectedReplicas().length < count) {
      if (this.closed) throw new PbftError('ABORTED', 'client closed');
      if (this.shared?.closed) throw new PbftError('ABORTED', 'its shared connections are closed');
      if (o.signal?.aborted) throw abortError(o.signal);
      if (Date.now() > deadline)
        throw new PbftError(
          'NO_QUORUM',
          `connected to ${this.connectedReplicas().length} of ${this.n} replicas, ${count} needed; is the cluster up? check with "pbft status"`,
        );
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), 100);
      if (this.shared) await this.shared.whenChanged(ac.signal);
      else await Promise.race(this.links.filter((l) => !l.isOpen).map((l) => l.whenOpen(ac.signal).catch(() => undefined)));
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
    if (this.shared?.closed) return Promise.reject(new PbftError('ABORTED', 'its shared connections are closed'));
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
            `no quorum: ${answered.length ? `only ${answered.length} replica(s) (${answered.join(',')}) answered` : 'no replica answered'} within ${timeoutMs} ms, ${o.readOnly ? `${this.q.quorum} matching tentative or ` : ''}${this.q.weak} matching replies needed (connected to ${connected.length} of ${this.n} replicas${connected.length ? `: ${connected.join(',')}` : ''}); the outcome is unknown: it may still be executed later`,
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
          if (this.shared) this.shared.send(a.to, JSON.stringify(a.msg));
          else this.links[a.to]?.send(JSON.stringify({ type: 'request', msg: a.msg }));
          break;
        case 'broadcast': {
          if (this.shared) {
            const json = JSON.stringify(a.msg);
            for (let i = 0; i < this.n; i++) this.shared.send(i, json);
            break;
          }
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
    this.shared?.remove(this);
  }
}

/** A client's (or shared) connection to replica rid, reconnecting, with the cluster's runtime settings. */
function clientLink(cluster: LoadedCluster, rid: ReplicaId, o: Pick<LinkOptions, 'hello' | 'maxQueue' | 'onFrame' | 'onOpen' | 'onClose'>): Link {
  const cfg = cluster.config;
  const r = cfg.replicas[rid]!;
  return new Link({
    host: r.host,
    port: r.port,
    expectReplica: rid,
    cluster: cfg.name,
    maxPayload: cfg.runtime.maxFrameBytes,
    heartbeatMs: cfg.runtime.heartbeatMs,
    reconnect: true,
    reconnectMinMs: cfg.runtime.reconnectMinMs,
    reconnectMaxMs: cfg.runtime.reconnectMaxMs,
    ...o,
  });
}

/**
 * One connection per replica shared by many PbftClients of this process (a load generator, a
 * gateway serving many users): each client proves its own identity on it (an attach, signed like
 * a hello, with its own session key), the requests of one turn go out as one frame per replica,
 * and a replica sends the replies of one of its turns for all of them as one frame. Fewer
 * frames, fewer system calls and fewer heartbeats than a connection per client per replica.
 * Every client keeps its own identity, session keys, timestamps and f+1 reply check: sharing
 * changes how bytes travel, not what is authenticated.
 */
export class SharedClientConnections {
  private readonly links: Link[] = [];
  private readonly challenges: (ChallengeFrame | null)[];
  private readonly members = new Map<string, PbftClient>();
  /** requests of this turn, per replica */
  private readonly outbox: FrameBatch[];
  private flushScheduled = false;
  private changeWaiters = new Set<() => void>();
  private _closed = false;
  /**
   * Frames and messages: requests sent and the frames that carried them, replies received and
   * theirs, requests not sent because that replica's connection was down (their clients
   * retransmit).
   */
  readonly counters = { requestFrames: 0, requests: 0, replyFrames: 0, replies: 0, dropped: 0 };

  constructor(
    readonly cluster: LoadedCluster,
    private readonly o: { signal?: AbortSignal; closeWhenEmpty?: boolean } = {},
  ) {
    const cfg = cluster.config;
    this.challenges = cfg.replicas.map(() => null);
    this.outbox = cfg.replicas.map(() => new FrameBatch('request', 'requests', sharedFrameMaxBytes(cfg.runtime.maxFrameBytes)));
    for (const r of cfg.replicas) {
      const rid = r.id;
      this.links.push(
        clientLink(cluster, rid, {
          hello: (ch) => {
            this.challenges[rid] = ch;
            return { type: 'hello', role: 'clients' };
          },
          maxQueue: 0, // nothing is sent before the attaches: flush() holds requests until then
          onFrame: (f) => this.onFrame(rid, f),
          onOpen: () => this.onOpen(rid),
          onClose: () => this.onClose(rid),
        }),
      );
    }
    o.signal?.addEventListener('abort', () => this.close(), { once: true });
    for (const l of this.links) l.connect();
  }

  get closed(): boolean {
    return this._closed;
  }

  has(client: string): boolean {
    return this.members.has(client);
  }

  /** clients using these connections */
  get size(): number {
    return this.members.size;
  }

  isOpen(rid: ReplicaId): boolean {
    return this.links[rid]?.isOpen ?? false;
  }

  /** @internal a client joins (PbftClient.connect): it attaches on every open connection */
  add(c: PbftClient): void {
    if (this._closed) return;
    this.members.set(c.id, c);
    for (let rid = 0; rid < this.links.length; rid++) {
      const ch = this.challenges[rid];
      if (ch && this.links[rid]!.isOpen) this.links[rid]!.send(c.attachFrame(rid, ch));
    }
  }

  /** @internal a client leaves (PbftClient.close): replicas stop routing its replies here */
  remove(c: PbftClient): void {
    if (this.members.get(c.id) !== c) return;
    this.members.delete(c.id);
    if (!this._closed) {
      const frame = JSON.stringify({ type: 'detach', client: c.id });
      for (const l of this.links) if (l.isOpen) l.send(frame);
    }
    if (this.o.closeWhenEmpty && this.members.size === 0) this.close();
  }

  /** @internal queue a serialized request for replica rid: one frame per replica per turn */
  send(rid: ReplicaId, msgJson: string): void {
    const box = this.outbox[rid];
    if (!box || this._closed) return;
    if (!this.links[rid]!.isOpen) {
      // not kept for later: its client retransmits (to every replica) when its timer fires, and
      // by then the connection may be back with the clients attached again
      this.counters.dropped++;
      return;
    }
    const gathered = box.size;
    const full = box.add(msgJson);
    if (full) this.sendRequests(rid, full, gathered);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushAll());
    }
  }

  /** @internal resolves on the next connection or attach change, or when signal aborts */
  whenChanged(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.changeWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      if (signal?.aborted || this._closed) return resolve();
      this.changeWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private changed(): void {
    for (const w of [...this.changeWaiters]) w();
  }

  private flushAll(): void {
    this.flushScheduled = false;
    for (let rid = 0; rid < this.outbox.length; rid++) this.flush(rid);
  }

  private flush(rid: ReplicaId): void {
    const box = this.outbox[rid]!;
    const n = box.size;
    const frame = box.take();
    if (frame) this.sendRequests(rid, frame, n);
  }

  private sendRequests(rid: ReplicaId, frame: string, count: number): void {
    const link = this.links[rid]!;
    if (!link.isOpen) {
      this.counters.dropped += count; // it closed during this turn (see send)
      return;
    }
    this.counters.requestFrames++;
    this.counters.requests += count;
    link.send(frame);
  }

  private onOpen(rid: ReplicaId): void {
    const ch = this.challenges[rid];
    const link = this.links[rid]!;
    if (ch) for (const c of this.members.values()) link.send(c.attachFrame(rid, ch));
    this.changed();
  }

  private onClose(rid: ReplicaId): void {
    this.challenges[rid] = null;
    this.counters.dropped += this.outbox[rid]!.clear();
    for (const c of this.members.values()) c.onDetached(rid);
    this.changed();
  }

  private onFrame(rid: ReplicaId, f: Record<string, unknown>): void {
    switch (f.type) {
      case 'reply':
        this.counters.replyFrames++;
        return this.route(rid, f.msg);
      case 'replies':
        if (!Array.isArray(f.msgs) || f.msgs.length > MAX_COALESCED_MESSAGES) return;
        this.counters.replyFrames++;
        for (const m of f.msgs) this.route(rid, m);
        return;
      case 'attached':
      case 'attach-refused':
      case 'detached': {
        const c = typeof f.client === 'string' ? this.members.get(f.client) : undefined;
        if (!c) return;
        if (f.type === 'attached') c.onAttached(rid);
        else c.onDetached(rid);
        this.changed();
        return;
      }
    }
  }

  /** hand a reply to the client it names (the client checks everything else: MAC, timestamp, sender) */
  private route(rid: ReplicaId, msg: unknown): void {
    if (typeof msg !== 'object' || msg === null) return;
    const body = (msg as { body?: { client?: unknown } }).body;
    const c = typeof body === 'object' && body !== null && typeof body.client === 'string' ? this.members.get(body.client) : undefined;
    if (!c) return;
    this.counters.replies++;
    c.deliver(rid, { type: 'reply', msg });
  }

  /** Close every connection (clients still using them get no more replies: close them first). */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    for (const l of this.links) l.close();
    for (const c of this.members.values()) for (let rid = 0; rid < this.links.length; rid++) c.onDetached(rid);
    this.changed();
  }
}
