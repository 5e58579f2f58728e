/**
 * A replica's network: one WebSocket server (peers, clients and admin tools all connect to it)
 * and one outbound Link to every peer.
 *
 * Trust: a peer proves its replica identity by signing the server's fresh nonce (hello), so the
 * `from` of every message received on an inbound peer connection is that proven identity; a
 * replica sends protocol messages only on its outbound links and ignores anything else on them.
 * Clients prove their client identity the same way; requests naming another client are dropped.
 * Everything that is oversized, malformed or unexpected is dropped and counted; sockets survive
 * where that makes sense (not after a frame above maxFrameBytes: ws closes those with 1009).
 */
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { canonicalBytes } from '../core/canonical.js';
import { makeReply } from '../core/messages.js';
import type { ClientId, Hex, ReplicaId, SignedReply } from '../core/types.js';
import { KeyedAuthenticator } from '../crypto/index.js';
import {
  clientSessionHelloBytes,
  deriveSessionKey,
  ephemeralX25519,
  macHex,
  replicaSessionBytes,
  type Ephemeral,
  type ReplicaSessions,
  type SessionKey,
} from '../crypto/sessions.js';
import { PbftError, describeError } from '../errors.js';
import type { LoadedCluster } from './config.js';
import { Link } from './link.js';
import {
  CLOSE,
  MAX_ADMIN_FRAME_BYTES,
  MAX_HELLO_BYTES,
  NONCE_BYTES,
  clientHelloBytes,
  frameBytes,
  parseFrame,
  parseHello,
  replicaHelloBytes,
  type ChallengeFrame,
  MAX_COALESCED_MESSAGES,
  parseAttach,
  FrameBatch,
  sharedFrameMaxBytes,
  replyFrame,
  replyMsgJson,
} from './wire.js';

export type TransportDropReason =
  | 'too-large'
  | 'malformed'
  | 'bad-hello'
  | 'not-member'
  | 'bad-signature'
  | 'wrong-sender'
  | 'unexpected'
  | 'too-many-connections'
  | 'hello-timeout'
  | 'backpressure'
  | 'queue-full'
  | 'peer-down'
  | 'no-client-connection';

export interface TransportEvents {
  /** a protocol message on an authenticated inbound peer connection */
  onPeerMessage(from: ReplicaId, msg: unknown): void;
  /** a request on an authenticated client connection (its body names `client`) */
  onClientRequest(client: ClientId, msg: unknown): void;
  /** a frame on an admin connection; `respond` sends a frame back on it */
  onAdminFrame(frame: Record<string, unknown>, respond: (frame: unknown) => void): void;
  /** connection changes, for the phase log and readiness */
  onConnectionEvent?(e: {
    kind: 'connect' | 'disconnect';
    direction: 'in' | 'out';
    peer?: ReplicaId;
    client?: ClientId;
    role: 'replica' | 'client' | 'admin';
    detail?: string;
  }): void;
  /** a drop, for the phase log (rate-limited by the caller) */
  onDrop?(reason: TransportDropReason, detail: string): void;
}

export interface TransportOptions {
  cluster: LoadedCluster;
  id: ReplicaId;
  secret: Hex;
  events: TransportEvents;
  /** total inbound connections (default 1024) */
  maxConnections?: number;
  /** inbound connections kept per peer replica (default 4) or per client id (default 16) */
  maxPerPeer?: number;
  maxPerClient?: number;
  /** identities one shared client connection may carry (default 1024), and all shared connections together (default 4096) */
  maxClientsPerConnection?: number;
  maxSharedClients?: number;
  /** unauthenticated connections must say hello within this time (default 5000) */
  helloTimeoutMs?: number;
  /** the replica's session-key table: a client hello with an ephemeral key sets its entry */
  sessions?: ReplicaSessions;
}

interface Conn {
  ws: WebSocket;
  nonce: Hex;
  role: 'replica' | 'client' | 'clients' | 'admin' | null;
  replica?: ReplicaId;
  client?: ClientId;
  alive: boolean;
  /** a frame arrived since the last heartbeat (traffic proves the peer alive: no ping needed) */
  heard: boolean;
  helloTimer: NodeJS.Timeout | null;
  remote: string;
  openedAt: number;
  /** this connection's ephemeral X25519 key (until the hello) */
  eph?: Ephemeral;
  /** the session key agreed with the client on this connection */
  session?: SessionKey;
  /** a shared client connection ('clients'): the identities attached to it, each with its session key (null: none) */
  attached?: Map<ClientId, SessionKey | null>;
  /** replies waiting to go out on a shared connection as one frame (flushClients) */
  replies?: FrameBatch;
}

/** identities one shared client connection may carry, and all of them together (before, one connection was one identity: maxConnections bounded them) */
export const MAX_CLIENTS_PER_CONNECTION = 1024;
export const MAX_SHARED_CLIENTS = 4096;

export class ReplicaTransport {
  readonly drops: Partial<Record<TransportDropReason, number>> = {};
  private wss: WebSocketServer | null = null;
  private readonly conns = new Set<Conn>();
  private readonly peerConns = new Map<ReplicaId, Conn[]>();
  private readonly clientConns = new Map<ClientId, Conn[]>();
  private readonly links = new Map<ReplicaId, Link>();
  private heartbeat: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly clientMaxFrameBytes: number;
  /** identities attached to shared connections, all together */
  private sharedAttached = 0;
  private readonly cfg;
  private readonly cluster: LoadedCluster;
  private readonly id: ReplicaId;
  /** frames sent and received, for status */
  readonly counters = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 };
  /** client connections that agreed a session key, and replies re-authenticated for an older connection */
  readonly sessionCounters = { sessions: 0, withoutSession: 0, repliesReauthenticated: 0 };
  private readonly replyAuth: KeyedAuthenticator;

  constructor(private readonly o: TransportOptions) {
    this.cluster = o.cluster;
    this.id = o.id;
    this.cfg = o.cluster.config;
    this.replyAuth = new KeyedAuthenticator(o.cluster.scheme, o.secret, o.cluster.keyring);
    this.clientMaxFrameBytes = Math.min(this.cfg.runtime.maxFrameBytes, this.cfg.protocol.maxOpBytes * 2 + 16 * 1024);
  }

  private drop(reason: TransportDropReason, detail: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    this.o.events.onDrop?.(reason, detail);
  }

  get address(): { host: string; port: number } {
    const r = this.cfg.replicas[this.id]!;
    return { host: r.host, port: r.port };
  }

  /** Bind the server. Throws PbftError PORT_IN_USE / LISTEN_FAILED with a one-line fix. */
  async listen(): Promise<void> {
    const { host, port } = this.address;
    const wss = new WebSocketServer({
      host,
      port,
      maxPayload: this.cfg.runtime.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        wss.off('listening', onListening);
        try {
          wss.close();
        } catch {
          /* ignore */
        }
        if (e.code === 'EADDRINUSE')
          reject(
            new PbftError(
              'PORT_IN_USE',
              `replica ${this.id}: port ${port} on ${host} is in use (EADDRINUSE); stop what holds it or change replicas[${this.id}].port in cluster.json`,
              { cause: e },
            ),
          );
        else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN')
          reject(
            new PbftError(
              'LISTEN_FAILED',
              `replica ${this.id}: cannot listen on ${host}:${port} (${e.code}): ${host} is not an address of this machine; change replicas[${this.id}].host in cluster.json`,
              { cause: e },
            ),
          );
        else if (e.code === 'EACCES')
          reject(
            new PbftError(
              'LISTEN_FAILED',
              `replica ${this.id}: not allowed to listen on ${host}:${port} (EACCES); use a port above 1023 in replicas[${this.id}].port in cluster.json`,
              { cause: e },
            ),
          );
        else reject(new PbftError('LISTEN_FAILED', `replica ${this.id}: cannot listen on ${host}:${port}: ${describeError(e)}`, { cause: e }));
      };
      const onListening = () => {
        wss.off('error', onError);
        resolve();
      };
      wss.once('error', onError);
      wss.once('listening', onListening);
    });
    wss.on('error', () => {
      /* after listening, server errors are per-connection and handled there */
    });
    wss.on('connection', (ws, req) => this.onConnection(ws, `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`));
    this.wss = wss;
    this.heartbeat = setInterval(() => this.beat(), this.cfg.runtime.heartbeatMs);
    this.heartbeat.unref?.();
  }

  private beat(): void {
    for (const c of this.conns) {
      if (c.heard) {
        // it spoke since the last beat: alive, no ping (under load, pings would cost a frame
        // each way per connection per period for nothing)
        c.heard = false;
        c.alive = true;
        continue;
      }
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      try {
        c.ws.ping();
      } catch {
        /* closing */
      }
    }
  }

  private onConnection(ws: WebSocket, remote: string): void {
    if (this.closed) {
      ws.terminate();
      return;
    }
    if (this.conns.size >= (this.o.maxConnections ?? 1024)) {
      this.drop('too-many-connections', remote);
      ws.close(CLOSE.overload, 'too many connections');
      setTimeout(() => ws.terminate(), 1000).unref?.();
      return;
    }
    const c: Conn = {
      ws,
      nonce: randomBytes(NONCE_BYTES).toString('hex'),
      role: null,
      alive: true,
      heard: false,
      helloTimer: null,
      remote,
      openedAt: Date.now(),
    };
    this.conns.add(c);
    c.helloTimer = setTimeout(() => {
      if (c.role === null) {
        this.drop('hello-timeout', remote);
        ws.close(CLOSE.helloTimeout, 'no hello');
        setTimeout(() => ws.terminate(), 1000).unref?.();
      }
    }, this.o.helloTimeoutMs ?? 5000);
    ws.on('pong', () => {
      c.alive = true;
    });
    ws.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
        this.drop('too-large', `frame above ${this.cfg.runtime.maxFrameBytes} bytes from ${this.describe(c)}; connection closed`);
      else if (code?.startsWith('WS_ERR_')) this.drop('malformed', `invalid WebSocket frame from ${this.describe(c)} (${code})`);
    });
    ws.on('close', () => this.onClose(c));
    ws.on('message', (data, isBinary) => {
      c.heard = true;
      try {
        this.onFrame(c, data, isBinary);
      } catch (e) {
        this.drop('malformed', `handler error: ${describeError(e)}`);
      }
    });
    // an ephemeral X25519 key for a session with a client, signed with this replica's key
    c.eph = ephemeralX25519();
    const dhSig = this.cluster.scheme.sign(this.o.secret, replicaSessionBytes(this.cfg.name, this.id, c.nonce, c.eph.publicKey));
    const challenge: ChallengeFrame = { type: 'challenge', replica: this.id, cluster: this.cfg.name, nonce: c.nonce, dh: c.eph.publicKey, dhSig };
    this.sendConn(c, JSON.stringify(challenge));
  }

  private describe(c: Conn): string {
    if (c.role === 'replica') return `replica ${c.replica}`;
    if (c.role === 'client') return `client ${c.client}`;
    if (c.role === 'clients') return `shared client connection ${c.remote} (${c.attached?.size ?? 0} clients)`;
    if (c.role === 'admin') return `admin ${c.remote}`;
    return c.remote;
  }

  private onClose(c: Conn): void {
    this.conns.delete(c);
    if (c.helloTimer) clearTimeout(c.helloTimer);
    if (c.role === 'replica' && c.replica !== undefined) {
      const list = (this.peerConns.get(c.replica) ?? []).filter((x) => x !== c);
      if (list.length) this.peerConns.set(c.replica, list);
      else this.peerConns.delete(c.replica);
      if (!this.closed) this.o.events.onConnectionEvent?.({ kind: 'disconnect', direction: 'in', peer: c.replica, role: 'replica' });
    } else if (c.role === 'client' && c.client !== undefined) {
      const list = (this.clientConns.get(c.client) ?? []).filter((x) => x !== c);
      if (list.length) this.clientConns.set(c.client, list);
      else this.clientConns.delete(c.client);
      // its session goes with it (an older connection of the same client takes over, if any)
      if (c.session) this.o.sessions?.clear(c.client, c.session, this.newestSession(c.client, list));
    } else if (c.role === 'clients' && c.attached) {
      for (const client of [...c.attached.keys()]) this.detach(c, client);
    }
  }

  /** the session key of a client's newest connection that has one */
  private newestSession(client: ClientId, list: readonly Conn[]): SessionKey | undefined {
    for (let i = list.length - 1; i >= 0; i--) {
      const s = sessionOf(list[i]!, client);
      if (s) return s;
    }
    return undefined;
  }

  /** Route `client`'s replies over connection c too (newest last; the oldest beyond maxPerClient are closed or detached). */
  private addClientConn(client: ClientId, c: Conn): void {
    const list = this.clientConns.get(client) ?? [];
    list.push(c);
    while (list.length > (this.o.maxPerClient ?? 16)) {
      const old = list.shift()!;
      if (old.role === 'clients') {
        this.detach(old, client, list);
        this.sendConn(old, JSON.stringify({ type: 'detached', client, reason: 'replaced by a newer connection' }));
      } else old.ws.close(CLOSE.replaced, 'replaced by a newer connection');
    }
    this.clientConns.set(client, list);
  }

  /** Stop carrying `client` on shared connection c (its session key there is forgotten). */
  private detach(c: Conn, client: ClientId, list = this.clientConns.get(client)): void {
    if (!c.attached?.has(client)) return;
    const session = c.attached.get(client) ?? null;
    c.attached.delete(client);
    this.sharedAttached--;
    const rest = (list ?? []).filter((x) => x !== c);
    if (rest.length) this.clientConns.set(client, rest);
    else this.clientConns.delete(client);
    if (session) this.o.sessions?.clear(client, session, this.newestSession(client, rest));
  }

  /**
   * Check a client's proof of identity on connection c (a hello, or an attach on a shared
   * connection: the same signed bytes), and agree its session key when it sent an ephemeral key.
   * A string says what is wrong.
   */
  private proveClient(
    c: Conn,
    client: ClientId,
    sig: Hex,
    dh: Hex | undefined,
  ): { session: SessionKey | null } | { refused: TransportDropReason; why: string } {
    const key = this.cluster.keyring.clientKey(client);
    if (key === undefined) return { refused: 'not-member', why: `client "${client.slice(0, 80)}" is not known to this cluster` };
    const eph = c.eph;
    const withSession = dh !== undefined && eph !== undefined;
    const signed = withSession
      ? clientSessionHelloBytes(this.cfg.name, client, this.id, c.nonce, eph.publicKey, dh)
      : clientHelloBytes(this.cfg.name, client, this.id, c.nonce);
    if (!this.cluster.scheme.verify(key, signed, sig))
      return { refused: 'bad-signature', why: `hello signature does not prove client "${client.slice(0, 80)}"` };
    if (!withSession) {
      this.sessionCounters.withoutSession++;
      return { session: null };
    }
    const session = deriveSessionKey(eph, dh, {
      cluster: this.cfg.name,
      client,
      clientKey: key,
      replica: this.id,
      replicaKey: this.cfg.replicas[this.id]!.publicKey,
      nonce: c.nonce,
      replicaDh: eph.publicKey,
      clientDh: dh,
    });
    if (!session) return { refused: 'bad-hello', why: 'hello.dh is not a usable X25519 public key' };
    this.sessionCounters.sessions++;
    return { session };
  }

  private refuse(c: Conn, reason: TransportDropReason, message: string): void {
    this.drop(reason, `${c.remote}: ${message}`);
    this.sendConn(c, JSON.stringify({ type: 'refused', reason: message }));
    c.ws.close(CLOSE.refused, message.slice(0, 100));
    setTimeout(() => c.ws.terminate(), 1000).unref?.();
  }

  private onFrame(c: Conn, data: unknown, isBinary: boolean): void {
    const size = frameBytes(data);
    this.counters.framesIn++;
    this.counters.bytesIn += size;
    if (c.role === null) {
      if (size > MAX_HELLO_BYTES) return this.refuse(c, 'too-large', `hello larger than ${MAX_HELLO_BYTES} bytes`);
      const f = isBinary ? null : parseFrame(data);
      if (!f) return this.refuse(c, 'malformed', 'hello is not a JSON object');
      const h = parseHello(f);
      if (typeof h === 'string') return this.refuse(c, 'bad-hello', h);
      if (h.role === 'replica') {
        if (h.replica >= this.cfg.replicas.length) return this.refuse(c, 'not-member', `replica ${h.replica} is not a member of this cluster`);
        if (h.replica === this.id) return this.refuse(c, 'bad-hello', `replica ${h.replica} is this replica`);
        if (!this.cluster.scheme.verify(this.cfg.replicas[h.replica]!.publicKey, replicaHelloBytes(this.cfg.name, h.replica, this.id, c.nonce), h.sig))
          return this.refuse(c, 'bad-signature', `hello signature does not prove replica ${h.replica}`);
        c.role = 'replica';
        c.replica = h.replica;
        const list = this.peerConns.get(h.replica) ?? [];
        list.push(c);
        while (list.length > (this.o.maxPerPeer ?? 4)) list.shift()!.ws.close(CLOSE.replaced, 'replaced by a newer connection');
        this.peerConns.set(h.replica, list);
        this.o.events.onConnectionEvent?.({ kind: 'connect', direction: 'in', peer: h.replica, role: 'replica' });
        // it is up: our link to it need not wait out its backoff
        this.links.get(h.replica)?.retryNow();
      } else if (h.role === 'client') {
        const proof = this.proveClient(c, h.client, h.sig, h.dh);
        if ('refused' in proof) return this.refuse(c, proof.refused, proof.why);
        if (proof.session) c.session = proof.session;
        c.role = 'client';
        c.client = h.client;
        if (c.session) this.o.sessions?.set(h.client, c.session);
        this.addClientConn(h.client, c);
      } else if (h.role === 'clients') {
        // identities come later, each proved by its own attach (the connection itself is no one)
        c.role = 'clients';
        c.attached = new Map();
        c.replies = new FrameBatch('reply', 'replies', sharedFrameMaxBytes(this.cfg.runtime.maxFrameBytes));
      } else {
        c.role = 'admin';
      }
      if (c.helloTimer) clearTimeout(c.helloTimer);
      c.helloTimer = null;
      if (c.role !== 'clients') c.eph = undefined; // a shared connection keeps it for its attaches
      this.sendConn(c, JSON.stringify({ type: 'welcome', replica: this.id }));
      return;
    }
    if (isBinary) return this.drop('malformed', `binary frame from ${this.describe(c)}`);
    if (c.role === 'replica') {
      const f = parseFrame(data);
      if (f && f.type === 'message' && 'msg' in f) return this.o.events.onPeerMessage(c.replica!, f.msg);
      if (f && f.type === 'messages' && Array.isArray(f.msgs) && f.msgs.length >= 1 && f.msgs.length <= MAX_COALESCED_MESSAGES) {
        for (const m of f.msgs as unknown[]) this.o.events.onPeerMessage(c.replica!, m);
        return;
      }
      return this.drop('malformed', `frame from ${this.describe(c)} is not {type:'message', msg} or {type:'messages', msgs} (1 to ${MAX_COALESCED_MESSAGES})`);
    }
    if (c.role === 'client') {
      if (size > this.clientMaxFrameBytes) return this.drop('too-large', `frame of ${size} bytes from ${this.describe(c)} (limit ${this.clientMaxFrameBytes})`);
      const f = parseFrame(data);
      if (f?.type !== 'request' || typeof f.msg !== 'object' || f.msg === null)
        return this.drop('malformed', `frame from ${this.describe(c)} is not {type:'request', msg}`);
      const body = (f.msg as { body?: unknown }).body;
      const named = typeof body === 'object' && body !== null ? (body as { client?: unknown }).client : undefined;
      if (named !== c.client)
        return this.drop('wrong-sender', `request on ${this.describe(c)}'s connection names client ${JSON.stringify(named)?.slice(0, 80)}`);
      this.o.events.onClientRequest(c.client!, f.msg);
      return;
    }
    if (c.role === 'clients') return this.onSharedFrame(c, data, size);
    // admin
    if (size > MAX_ADMIN_FRAME_BYTES) return this.drop('too-large', `admin frame of ${size} bytes`);
    const f = parseFrame(data);
    if (!f) return this.drop('malformed', 'admin frame is not a JSON object');
    this.o.events.onAdminFrame(f, (reply) => this.sendConn(c, JSON.stringify(reply)));
  }

  /**
   * A frame on a shared client connection: an attach (a client proving its identity, as in a
   * hello), a detach, or requests ({type:'request', msg} or {type:'requests', msgs}) of clients
   * attached to it.
   */
  private onSharedFrame(c: Conn, data: unknown, size: number): void {
    const attached = c.attached!;
    // nobody is proven on it yet: nothing larger than a hello is read
    if (size > MAX_HELLO_BYTES && attached.size === 0) return this.drop('too-large', `frame of ${size} bytes on ${this.describe(c)} before any attach`);
    const f = parseFrame(data);
    if (f?.type === 'attach') {
      if (size > MAX_HELLO_BYTES) return this.drop('too-large', `attach of ${size} bytes on ${this.describe(c)}`);
      const a = parseAttach(f);
      if (typeof a === 'string') return this.drop('bad-hello', `${this.describe(c)}: ${a}`);
      const perConn = this.o.maxClientsPerConnection ?? MAX_CLIENTS_PER_CONNECTION;
      const total = this.o.maxSharedClients ?? MAX_SHARED_CLIENTS;
      if (!attached.has(a.client) && (attached.size >= perConn || this.sharedAttached >= total)) {
        const why = attached.size >= perConn ? `at most ${perConn} clients per shared connection` : `at most ${total} clients on shared connections`;
        this.drop('too-many-connections', `${this.describe(c)}: ${why}`);
        this.sendConn(c, JSON.stringify({ type: 'attach-refused', client: a.client, reason: why }));
        return;
      }
      const proof = this.proveClient(c, a.client, a.sig, a.dh);
      if ('refused' in proof) {
        this.drop(proof.refused, `${this.describe(c)}: ${proof.why}`);
        this.sendConn(c, JSON.stringify({ type: 'attach-refused', client: a.client, reason: proof.why }));
        return;
      }
      if (attached.has(a.client)) this.detach(c, a.client); // attached again: the newer key wins
      attached.set(a.client, proof.session);
      this.sharedAttached++;
      if (proof.session) this.o.sessions?.set(a.client, proof.session);
      this.addClientConn(a.client, c);
      this.sendConn(c, JSON.stringify({ type: 'attached', client: a.client }));
      return;
    }
    if (f?.type === 'detach' && typeof f.client === 'string') return this.detach(c, f.client);
    let msgs: unknown[];
    if (f?.type === 'request' && typeof f.msg === 'object' && f.msg !== null) msgs = [f.msg];
    else if (f?.type === 'requests' && Array.isArray(f.msgs) && f.msgs.length >= 1 && f.msgs.length <= MAX_COALESCED_MESSAGES) msgs = f.msgs;
    else
      return this.drop(
        'malformed',
        `frame from ${this.describe(c)} is not an attach, a detach, {type:'request', msg} or {type:'requests', msgs} (1 to ${MAX_COALESCED_MESSAGES})`,
      );
    for (const m of msgs) {
      const body = typeof m === 'object' && m !== null ? (m as { body?: unknown }).body : undefined;
      const named = typeof body === 'object' && body !== null ? (body as { client?: unknown }).client : undefined;
      if (typeof named !== 'string' || !attached.has(named)) {
        this.drop('wrong-sender', `request on ${this.describe(c)} names client ${JSON.stringify(named)?.slice(0, 80)}, not attached to it`);
        continue;
      }
      this.o.events.onClientRequest(named, m);
    }
  }

  private sendConn(c: Conn, text: string): boolean {
    if (c.ws.readyState !== c.ws.OPEN) return false;
    if (c.ws.bufferedAmount > 64 * 1024 * 1024) {
      this.drop('backpressure', `to ${this.describe(c)}`);
      return false;
    }
    this.counters.framesOut++;
    this.counters.bytesOut += text.length;
    c.ws.send(text);
    return true;
  }

  /** Open (and keep open) an outbound link to every peer. */
  connectPeers(): void {
    const rt = this.cfg.runtime;
    for (const r of this.cfg.replicas) {
      if (r.id === this.id || this.links.has(r.id)) continue;
      const peer = r.id;
      const link = new Link({
        host: r.host,
        port: r.port,
        expectReplica: peer,
        cluster: this.cfg.name,
        hello: (ch) => ({
          type: 'hello',
          role: 'replica',
          replica: this.id,
          sig: this.cluster.scheme.sign(this.o.secret, replicaHelloBytes(this.cfg.name, this.id, peer, ch.nonce)),
        }),
        maxPayload: rt.maxFrameBytes,
        heartbeatMs: rt.heartbeatMs,
        reconnect: true,
        reconnectMinMs: rt.reconnectMinMs,
        reconnectMaxMs: rt.reconnectMaxMs,
        handshakeTimeoutMs: Math.max(2000, rt.heartbeatMs * 3),
        maxQueue: 256,
        onFrame: () => {
          /* peers send nothing to us on our own outbound links */
        },
        onOpen: () => this.o.events.onConnectionEvent?.({ kind: 'connect', direction: 'out', peer, role: 'replica' }),
        onClose: (why) => {
          if (!this.closed) this.o.events.onConnectionEvent?.({ kind: 'disconnect', direction: 'out', peer, role: 'replica', detail: why });
        },
        onRefused: (why) => this.o.events.onConnectionEvent?.({ kind: 'disconnect', direction: 'out', peer, role: 'replica', detail: why }),
        onDrop: (reason) => this.drop(reason === 'closed' ? 'peer-down' : reason, `to replica ${peer}`),
      });
      this.links.set(peer, link);
      link.connect();
    }
  }

  /** Send a serialized {type:'message'} frame to a peer (queued briefly while reconnecting). */
  sendToPeer(to: ReplicaId, frame: string): boolean {
    const link = this.links.get(to);
    if (!link) return false;
    this.counters.framesOut++;
    this.counters.bytesOut += frame.length;
    return link.send(frame);
  }

  /**
   * Send a serialized {type:'reply'} frame to every connection of a client. A reply MAC'd under
   * one session key is re-authenticated for a connection with another key (an older connection
   * of the same client, or a key that changed since the core made it), or signed for one
   * without a session; `reply` is the message inside `frame`. Only MACs made by the session
   * table are re-made (ReplicaSessions.keyOfReplyMac).
   */
  sendToClient(client: ClientId, frame: string, reply?: SignedReply): boolean {
    const list = this.clientConns.get(client);
    if (!list || list.length === 0) {
      this.drop('no-client-connection', `reply for client ${client.slice(0, 80)}`);
      return false;
    }
    let ok = false;
    let bytes: Uint8Array | null = null;
    for (const c of list) {
      let out = frame;
      let msgJson: string | null = null;
      const session = sessionOf(c, client);
      // (a MAC this table did not make is sent as it is: what a Byzantine strategy put there)
      const made = reply?.mac !== undefined ? this.o.sessions?.keyOfReplyMac(reply.mac) : undefined;
      if (reply && made !== undefined && session !== made) {
        bytes ??= canonicalBytes(reply.body);
        const mac = session ? macHex(session.rep, bytes) : null;
        if (mac !== reply.mac) {
          this.sessionCounters.repliesReauthenticated++;
          const { type: _t, ...body } = reply.body;
          msgJson = JSON.stringify(mac !== null ? { body: reply.body, mac } : makeReply(this.replyAuth, body));
          out = replyFrame(msgJson);
        }
      }
      if (c.role === 'clients') {
        if (c.ws.readyState !== c.ws.OPEN) continue;
        msgJson ??= replyMsgJson(frame);
        if (msgJson === null) {
          this.drop('malformed', `reply frame for client ${client.slice(0, 80)} is not {type:'reply', msg}`);
          continue;
        }
        this.queueShared(c, msgJson);
        ok = true;
      } else ok = this.sendConn(c, out) || ok;
    }
    return ok;
  }

  private readonly sharedDirty = new Set<Conn>();
  private sharedFlushScheduled = false;

  /** Queue a reply on a shared connection: they go out as one frame per connection (flushClients). */
  private queueShared(c: Conn, msgJson: string): void {
    const full = c.replies!.add(msgJson);
    if (full) this.sendConn(c, full);
    this.sharedDirty.add(c);
    if (!this.sharedFlushScheduled) {
      // the owner flushes at the end of its turn (flushClients); this is the backstop
      this.sharedFlushScheduled = true;
      setImmediate(() => this.flushClients());
    }
  }

  /** Send the replies queued on shared client connections (one frame each). */
  flushClients(): void {
    this.sharedFlushScheduled = false;
    if (this.sharedDirty.size === 0) return;
    for (const c of this.sharedDirty) {
      const frame = c.replies!.take();
      if (frame) this.sendConn(c, frame);
    }
    this.sharedDirty.clear();
  }

  /** Peers our outbound links are open to. */
  connectedPeers(): ReplicaId[] {
    return [...this.links]
      .filter(([, l]) => l.isOpen)
      .map(([id]) => id)
      .sort((a, b) => a - b);
  }

  /** Peers with an authenticated inbound connection. */
  inboundPeers(): ReplicaId[] {
    return [...this.peerConns.keys()].sort((a, b) => a - b);
  }

  /** shared client connections, and the identities attached to them */
  get sharedClientConnections(): { connections: number; clients: number } {
    let connections = 0;
    let clients = 0;
    for (const c of this.conns)
      if (c.role === 'clients') {
        connections++;
        clients += c.attached?.size ?? 0;
      }
    return { connections, clients };
  }

  get clientCount(): number {
    return this.clientConns.size;
  }
  get connectionCount(): number {
    return this.conns.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const l of this.links.values()) l.close();
    for (const c of this.conns) {
      if (c.helloTimer) clearTimeout(c.helloTimer);
      try {
        c.ws.close(CLOSE.shutdown, 'replica shutting down');
      } catch {
        /* ignore */
      }
    }
    // give close frames a moment, then cut what is left
    if (this.conns.size) await new Promise((r) => setTimeout(r, 50));
    for (const c of this.conns) c.ws.terminate();
    const wss = this.wss;
    this.wss = null;
    if (wss)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        wss.close(() => {
          clearTimeout(t);
          resolve();
        });
      });
  }
}

/** the session key `client` has on connection c (its own, or its attachment to a shared one) */
function sessionOf(c: Conn, client: ClientId): SessionKey | undefined {
  if (c.role === 'clients') return c.attached?.get(client) ?? undefined;
  return c.session;
}
