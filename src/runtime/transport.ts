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
  /** unauthenticated connections must say hello within this time (default 5000) */
  helloTimeoutMs?: number;
  /** the replica's session-key table: a client hello with an ephemeral key sets its entry */
  sessions?: ReplicaSessions;
}

interface Conn {
  ws: WebSocket;
  nonce: Hex;
  role: 'replica' | 'client' | 'admin' | null;
  replica?: ReplicaId;
  client?: ClientId;
  alive: boolean;
  helloTimer: NodeJS.Timeout | null;
  remote: string;
  openedAt: number;
  /** this connection's ephemeral X25519 key (until the hello) */
  eph?: Ephemeral;
  /** the session key agreed with the client on this connection */
  session?: SessionKey;
}

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
    const c: Conn = { ws, nonce: randomBytes(NONCE_BYTES).toString('hex'), role: null, alive: true, helloTimer: null, remote, openedAt: Date.now() };
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
      c.alive = true;
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
      if (c.session) this.o.sessions?.clear(c.client, c.session, [...list].reverse().find((x) => x.session)?.session);
    }
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
      } else if (h.role === 'client') {
        const key = this.cluster.keyring.clientKey(h.client);
        if (key === undefined) return this.refuse(c, 'not-member', `client "${h.client.slice(0, 80)}" is not known to this cluster`);
        const eph = c.eph;
        const withSession = h.dh !== undefined && eph !== undefined;
        const signed = withSession
          ? clientSessionHelloBytes(this.cfg.name, h.client, this.id, c.nonce, eph.publicKey, h.dh!)
          : clientHelloBytes(this.cfg.name, h.client, this.id, c.nonce);
        if (!this.cluster.scheme.verify(key, signed, h.sig))
          return this.refuse(c, 'bad-signature', `hello signature does not prove client "${h.client.slice(0, 80)}"`);
        if (withSession) {
          const session = deriveSessionKey(eph, h.dh!, {
            cluster: this.cfg.name,
            client: h.client,
            clientKey: key,
            replica: this.id,
            replicaKey: this.cfg.replicas[this.id]!.publicKey,
            nonce: c.nonce,
            replicaDh: eph.publicKey,
            clientDh: h.dh!,
          });
          if (!session) return this.refuse(c, 'bad-hello', 'hello.dh is not a usable X25519 public key');
          c.session = session;
          this.sessionCounters.sessions++;
        } else {
          this.sessionCounters.withoutSession++;
        }
        c.role = 'client';
        c.client = h.client;
        if (c.session) this.o.sessions?.set(h.client, c.session);
        const list = this.clientConns.get(h.client) ?? [];
        list.push(c);
        while (list.length > (this.o.maxPerClient ?? 16)) list.shift()!.ws.close(CLOSE.replaced, 'replaced by a newer connection');
        this.clientConns.set(h.client, list);
      } else {
        c.role = 'admin';
      }
      if (c.helloTimer) clearTimeout(c.helloTimer);
      c.helloTimer = null;
      c.eph = undefined;
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
    // admin
    if (size > MAX_ADMIN_FRAME_BYTES) return this.drop('too-large', `admin frame of ${size} bytes`);
    const f = parseFrame(data);
    if (!f) return this.drop('malformed', 'admin frame is not a JSON object');
    this.o.events.onAdminFrame(f, (reply) => this.sendConn(c, JSON.stringify(reply)));
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
      // (a MAC this table did not make is sent as it is: what a Byzantine strategy put there)
      const made = reply?.mac !== undefined ? this.o.sessions?.keyOfReplyMac(reply.mac) : undefined;
      if (reply && made !== undefined && c.session !== made) {
        bytes ??= canonicalBytes(reply.body);
        const mac = c.session ? macHex(c.session.rep, bytes) : null;
        if (mac !== reply.mac) {
          this.sessionCounters.repliesReauthenticated++;
          const { type: _t, ...body } = reply.body;
          out = JSON.stringify({ type: 'reply', msg: mac !== null ? { body: reply.body, mac } : makeReply(this.replyAuth, body) });
        }
      }
      ok = this.sendConn(c, out) || ok;
    }
    return ok;
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
