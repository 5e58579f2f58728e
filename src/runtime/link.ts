/**
 * One outbound WebSocket connection to a replica, with the hello handshake, heartbeats,
 * a bounded send queue while (re)connecting, and reconnection with exponential backoff and
 * jitter. Used by replicas (to their peers), clients and admin tools.
 */
import WebSocket from 'ws';
import type { ReplicaId } from '../core/types.js';
import { backoffMs, parseChallenge, parseFrame, type ChallengeFrame, type HelloFrame } from './wire.js';

export function wsUrl(host: string, port: number): string {
  return `ws://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface LinkOptions {
  host: string;
  port: number;
  /** the replica id we expect to reach (checked against the challenge) */
  expectReplica: ReplicaId;
  cluster: string;
  hello: (challenge: ChallengeFrame) => HelloFrame;
  maxPayload: number;
  heartbeatMs: number;
  reconnect: boolean;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** the connection must be welcomed within this time (default 5000) */
  handshakeTimeoutMs?: number;
  /** frames kept while not connected (oldest dropped first); default 256 */
  maxQueue?: number;
  /** bytes buffered in the socket beyond which sends are dropped; default 64 MiB */
  maxBufferedBytes?: number;
  onFrame: (frame: Record<string, unknown>) => void;
  onOpen?: () => void;
  onClose?: (why: string) => void;
  /** the server refused our hello */
  onRefused?: (reason: string) => void;
  /** a send was dropped (queue full, back-pressure) */
  onDrop?: (reason: 'queue-full' | 'backpressure' | 'closed') => void;
  random?: () => number;
}

export type LinkState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

/**
 * WebSocket masks (RFC 6455 §5.3) of all zeros, which ws then skips applying: masking protects
 * proxies from frames a browser script crafts, and nothing here runs in a browser or crosses a
 * proxy, while XORing every byte sent (a pre-prepare carries a whole batch) cost the primary about
 * 2% of its CPU. Integrity and authenticity come from signatures and MACs, never from the mask.
 */
function zeroMask(mask: Uint8Array): void {
  mask[0] = 0;
  mask[1] = 0;
  mask[2] = 0;
  mask[3] = 0;
}

export class Link {
  private ws: WebSocket | null = null;
  private _state: LinkState = 'idle';
  private attempt = 0;
  private queue: string[] = [];
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** a frame arrived since the last heartbeat */
  private heard = false;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private alive = true;
  private openWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  lastError = '';
  /** how many times this link became open */
  opens = 0;

  constructor(private readonly o: LinkOptions) {}

  get state(): LinkState {
    return this._state;
  }
  get isOpen(): boolean {
    return this._state === 'open';
  }

  /**
   * The peer is known to be up (it just connected to us): if this link is waiting out a
   * reconnect backoff, dial now with the backoff reset, instead of after up to reconnectMaxMs.
   */
  retryNow(): void {
    if (this._state !== 'waiting') return;
    this.attempt = 0;
    this.connect();
  }

  /** Start connecting if not already. */
  connect(): void {
    if (this._state === 'closed' || this._state === 'connecting' || this._state === 'open') return;
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    this._state = 'connecting';
    let ws: WebSocket;
    try {
      ws = new WebSocket(wsUrl(this.o.host, this.o.port), {
        maxPayload: this.o.maxPayload,
        perMessageDeflate: false,
        handshakeTimeout: this.o.handshakeTimeoutMs ?? 5000,
        generateMask: zeroMask,
      });
    } catch (e) {
      this.lastError = (e as Error).message;
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.alive = true;
    this.heard = false;
    let welcomed = false;
    this.handshakeTimer = setTimeout(() => {
      this.lastError = 'handshake timed out';
      ws.terminate();
    }, this.o.handshakeTimeoutMs ?? 5000);
    ws.on('message', (data, isBinary) => {
      this.heard = true;
      if (isBinary) return;
      const f = parseFrame(data);
      if (!f) return;
      if (!welcomed) {
        if (f.type === 'challenge') {
          const ch = parseChallenge(f);
          if (!ch || ch.replica !== this.o.expectReplica || ch.cluster !== this.o.cluster) {
            this.lastError = ch
              ? `reached replica ${ch.replica} of cluster "${ch.cluster}", expected replica ${this.o.expectReplica} of "${this.o.cluster}"`
              : 'bad challenge';
            this.o.onRefused?.(this.lastError);
            ws.close();
            return;
          }
          try {
            ws.send(JSON.stringify(this.o.hello(ch)));
          } catch (e) {
            this.lastError = (e as Error).message;
            ws.terminate();
          }
          return;
        }
        if (f.type === 'welcome') {
          welcomed = true;
          if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
          this.handshakeTimer = null;
          this._state = 'open';
          this.attempt = 0;
          this.opens++;
          this.startHeartbeat(ws);
          const q = this.queue;
          this.queue = [];
          for (const t of q) this.rawSend(t);
          this.o.onOpen?.();
          const w = this.openWaiters;
          this.openWaiters = [];
          for (const x of w) x.resolve();
          return;
        }
        if (f.type === 'refused') {
          this.lastError = `refused: ${typeof f.reason === 'string' ? f.reason.slice(0, 200) : 'no reason'}`;
          this.o.onRefused?.(this.lastError);
          return;
        }
        return;
      }
      try {
        this.o.onFrame(f);
      } catch {
        /* a handler bug must not kill the link */
      }
    });
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (e) => {
      this.lastError = (e as NodeJS.ErrnoException).code ?? e.message;
    });
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      const wasOpen = this._state === 'open';
      const why = this.lastError || `closed (${code}${reason.length ? ` ${reason.toString().slice(0, 100)}` : ''})`;
      if (this._state === 'closed') return;
      if (wasOpen) this.o.onClose?.(why);
      this.scheduleReconnect();
    });
  }

  private startHeartbeat(ws: WebSocket): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (this.heard) {
        // a frame came since the last beat: the replica is alive, no ping needed
        this.heard = false;
        this.alive = true;
        return;
      }
      if (!this.alive) {
        this.lastError = 'heartbeat lost';
        ws.terminate();
        return;
      }
      this.alive = false;
      try {
        ws.ping();
      } catch {
        /* closing */
      }
    }, this.o.heartbeatMs);
    this.heartbeat.unref?.();
  }

  private scheduleReconnect(): void {
    if (this._state === 'closed') return;
    if (!this.o.reconnect) {
      this._state = 'idle';
      this.dropQueue();
      this.rejectWaiters(new Error(this.lastError || 'connection failed'));
      return;
    }
    this._state = 'waiting';
    const delay = backoffMs(this.attempt++, this.o.reconnectMinMs, this.o.reconnectMaxMs, this.o.random);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this._state === 'waiting') {
        this._state = 'idle';
        this.connect();
      }
    }, delay);
  }

  private rejectWaiters(e: Error): void {
    const w = this.openWaiters;
    this.openWaiters = [];
    for (const x of w) x.reject(e);
  }

  private dropQueue(): void {
    for (let i = 0; i < this.queue.length; i++) this.o.onDrop?.('closed');
    this.queue = [];
  }

  private rawSend(text: string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      this.o.onDrop?.('closed');
      return false;
    }
    if (ws.bufferedAmount > (this.o.maxBufferedBytes ?? 64 * 1024 * 1024)) {
      this.o.onDrop?.('backpressure');
      return false;
    }
    ws.send(text);
    return true;
  }

  /** Send a text frame now, or queue it until the link opens (starting a connection). */
  send(text: string): boolean {
    if (this._state === 'closed') {
      this.o.onDrop?.('closed');
      return false;
    }
    if (this._state === 'open') return this.rawSend(text);
    const max = this.o.maxQueue ?? 256;
    if (max === 0) {
      this.o.onDrop?.('queue-full');
    } else {
      if (this.queue.length >= max) {
        this.queue.shift();
        this.o.onDrop?.('queue-full');
      }
      this.queue.push(text);
    }
    if (this._state === 'idle') this.connect();
    return false;
  }

  /** Resolves when the link is open; rejects on abort. */
  whenOpen(signal?: AbortSignal): Promise<void> {
    if (this._state === 'open') return Promise.resolve();
    if (this._state === 'idle') this.connect();
    if (this._state === 'closed') return Promise.reject(new Error('link closed'));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.openWaiters = this.openWaiters.filter((x) => x !== w);
        reject(signal!.reason ?? new Error('aborted'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.openWaiters.push(w);
    });
  }

  close(): void {
    if (this._state === 'closed') return;
    this._state = 'closed';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.reconnectTimer = this.heartbeat = this.handshakeTimer = null;
    this.queue = [];
    this.rejectWaiters(new Error('link closed'));
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        /* ignore */
      }
      // do not wait for the closing handshake forever
      setTimeout(() => ws.terminate(), 1000).unref?.();
    }
  }
}
