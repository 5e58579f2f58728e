/**
 * A tiny deterministic driver for core unit tests: FIFO delivery, manual virtual time, no
 * randomness. (The full simulator with faults is src/sim; this keeps unit tests readable.)
 */
import { ClientCore } from '../../src/core/client.js';
import { defaultParams, Replica, type BugName } from '../../src/core/replica.js';
import { KeyedAuthenticator, keyringFor, SimScheme } from '../../src/crypto/index.js';
import { SimClientSessions, SimMacs, SimReplicaSessions } from '../../src/sim/sessions.js';
import { KvStore, encodeKvOp, type KvOp } from '../../src/app/kv.js';
import type { ClientResult, PersistRecord, ProtocolParams, ReplicaAction, ReplicaId, ReplicaMessage } from '../../src/core/types.js';

interface Pending {
  at: number;
  order: number;
  run: () => void;
}

export class Harness {
  readonly scheme = new SimScheme();
  readonly params: ProtocolParams;
  readonly replicas: (Replica | null)[] = [];
  readonly apps: KvStore[] = [];
  readonly durable: PersistRecord[][] = [];
  readonly actions: { replica: ReplicaId; action: ReplicaAction }[] = [];
  readonly clients = new Map<string, ClientCore>();
  readonly results = new Map<string, ClientResult[]>();
  /** drop messages when this returns true */
  filter: (from: ReplicaId | string, to: ReplicaId | string, msg: unknown) => boolean = () => false;
  /** how long a message to a replica takes, in virtual ms (default 1) */
  delay: (from: ReplicaId | string, to: ReplicaId, msg: unknown) => number = () => 1;
  now = 0;
  private queue: Pending[] = [];
  private order = 0;
  private timers = new Map<string, number>();
  private readonly secrets: string[];
  private readonly clientSecrets = new Map<string, string>();
  private readonly pubs: string[];
  private readonly clientPubs: Record<string, string> = {};

  constructor(
    n: number,
    overrides: Partial<ProtocolParams> = {},
    readonly bugs: Partial<Record<BugName, boolean>> = {},
    /** session keys between the clients c0..c3 and every replica (MAC authenticators); false: signatures only */
    readonly sessions = true,
  ) {
    this.params = defaultParams(n, { checkpointInterval: 4, logWindow: 8, maxInFlight: 4, maxBatchSize: 4, ...overrides });
    this.secrets = Array.from({ length: n }, (_, i) => (i + 1).toString(16).padStart(64, '0'));
    this.pubs = this.secrets.map((s) => this.scheme.publicKey(s));
    for (let c = 0; c < 4; c++) {
      const sk = (1000 + c).toString(16).padStart(64, '0');
      this.clientSecrets.set(`c${c}`, sk);
      this.clientPubs[`c${c}`] = this.scheme.publicKey(sk);
    }
    for (let i = 0; i < n; i++) {
      this.durable.push([]);
      this.apps.push(new KvStore());
      this.replicas.push(null);
      this.boot(i, []);
    }
  }

  /** the session keys and MACs of this cluster (the simulator's model) */
  readonly macs = new SimMacs('harness');

  auth(secret: string | null, macs?: KeyedAuthenticator['macs']): KeyedAuthenticator {
    return new KeyedAuthenticator(this.scheme, secret, keyringFor(this.pubs, this.clientPubs, false), macs);
  }

  replicaAuth(i: ReplicaId): KeyedAuthenticator {
    return this.auth(this.secrets[i]!, this.sessions ? new SimReplicaSessions(this.macs, i, (c) => c in this.clientPubs) : undefined);
  }

  replicaAuthNoSessions(i: ReplicaId): KeyedAuthenticator {
    return this.auth(this.secrets[i]!);
  }

  clientAuth(id: string): KeyedAuthenticator {
    return this.auth(this.clientSecrets.get(id)!, this.sessions ? new SimClientSessions(this.macs, id, this.params.n) : undefined);
  }

  boot(i: ReplicaId, persisted: PersistRecord[], recover?: { timestamp: number; nonce: string }): void {
    this.apps[i] = new KvStore();
    const r = new Replica({ id: i, params: this.params, auth: this.replicaAuth(i), app: this.apps[i]!, persisted, bugs: this.bugs, recover });
    this.replicas[i] = r;
    this.apply(i, r.start());
  }

  crash(i: ReplicaId): void {
    this.replicas[i] = null;
    for (const k of [...this.timers.keys()]) if (k.startsWith(`r${i}:`)) this.timers.delete(k);
  }

  restart(i: ReplicaId): void {
    this.boot(i, this.durable[i]!);
  }

  /** Restart with the durable log lost (a damaged log is discarded): recovery mode. */
  restartAmnesic(i: ReplicaId, timestamp: number, nonce = 'abcdef0123456789'): void {
    this.durable[i] = [];
    this.boot(i, [], { timestamp, nonce });
  }

  client(id: string): ClientCore {
    let c = this.clients.get(id);
    if (!c) {
      c = new ClientCore({
        id,
        n: this.params.n,
        auth: this.clientAuth(id),
        startTimestamp: 1,
        retransmitTimeoutMs: 500,
        maxRetransmitTimeoutMs: 4000,
      });
      this.clients.set(id, c);
      this.results.set(id, []);
    }
    return c;
  }

  submit(clientId: string, op: KvOp, readOnly = false): void {
    const c = this.client(clientId);
    this.applyClient(clientId, c.submit(encodeKvOp(op), { readOnly }));
  }

  private schedule(delay: number, run: () => void): void {
    this.queue.push({ at: this.now + delay, order: this.order++, run });
  }

  private deliver(from: ReplicaId | string, to: ReplicaId, msg: ReplicaMessage | unknown, asRequest = false): void {
    if (this.filter(from, to, msg)) return;
    const copy = JSON.parse(JSON.stringify(msg)) as unknown;
    this.schedule(this.delay(from, to, msg), () => {
      const r = this.replicas[to];
      if (!r) return;
      this.apply(to, r.step(asRequest ? { type: 'request', msg: copy } : { type: 'message', from: from as number, msg: copy }));
    });
  }

  /** inject a raw request as if from a client connection of replica `to` */
  injectRequest(to: ReplicaId, msg: unknown): void {
    this.deliver('client', to, msg, true);
  }

  /** inject a raw message as if from replica `from` */
  inject(from: ReplicaId, to: ReplicaId, msg: unknown): void {
    this.deliver(from, to, msg);
  }

  apply(i: ReplicaId, actions: ReplicaAction[]): void {
    for (const a of actions) if (a.type === 'persist') this.durable[i]!.push(a.record);
    for (const a of actions) {
      this.actions.push({ replica: i, action: a });
      switch (a.type) {
        case 'send':
          this.deliver(i, a.to, a.msg);
          break;
        case 'multicast':
          for (let j = 0; j < this.params.n; j++) if (j !== i) this.deliver(i, j, a.msg);
          break;
        case 'reply': {
          if (this.filter(i, a.client, a.msg)) break;
          const copy = JSON.parse(JSON.stringify(a.msg)) as unknown;
          this.schedule(1, () => {
            const c = this.clients.get(a.client);
            if (c) this.applyClient(a.client, c.step({ type: 'reply', from: i, msg: copy }));
          });
          break;
        }
        case 'setTimer': {
          const key = `r${i}:${a.name}`;
          const token = this.order++;
          this.timers.set(key, token);
          this.schedule(a.afterMs, () => {
            if (this.timers.get(key) !== token) return;
            this.timers.delete(key);
            const r = this.replicas[i];
            if (r) this.apply(i, r.step({ type: 'timer', name: a.name }));
          });
          break;
        }
        case 'cancelTimer':
          this.timers.delete(`r${i}:${a.name}`);
          break;
        default:
          break;
      }
    }
  }

  private applyClient(id: string, actions: ReturnType<ClientCore['step']>): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          this.deliver(id, a.to, a.msg, true);
          break;
        case 'broadcast':
          for (let j = 0; j < this.params.n; j++) this.deliver(id, j, a.msg, true);
          break;
        case 'setTimer': {
          const key = `c${id}:${a.name}`;
          const token = this.order++;
          this.timers.set(key, token);
          this.schedule(a.afterMs, () => {
            if (this.timers.get(key) !== token) return;
            this.timers.delete(key);
            this.applyClient(id, this.clients.get(id)!.step({ type: 'timer', name: a.name }));
          });
          break;
        }
        case 'cancelTimer':
          this.timers.delete(`c${id}:${a.name}`);
          break;
        case 'done':
          this.results.get(id)!.push(a.outcome);
          break;
        default:
          break;
      }
    }
  }

  /** run until `until()` holds or virtual time passes `maxMs` more; returns whether it held */
  run(until: () => boolean, maxMs = 60_000): boolean {
    const end = this.now + maxMs;
    while (!until()) {
      if (this.queue.length === 0) return false;
      this.queue.sort((a, b) => a.at - b.at || a.order - b.order);
      const next = this.queue.shift()!;
      if (next.at > end) {
        this.queue.unshift(next);
        return false;
      }
      this.now = next.at;
      next.run();
    }
    return true;
  }

  executed(i: ReplicaId): Extract<ReplicaAction, { type: 'executed' }>[] {
    return this.actions.filter((x) => x.replica === i && x.action.type === 'executed').map((x) => x.action as Extract<ReplicaAction, { type: 'executed' }>);
  }

  /** submit ops one after another from one client, waiting for each */
  runOps(clientId: string, ops: KvOp[], maxMs = 60_000): ClientResult[] {
    const out: ClientResult[] = [];
    for (const op of ops) {
      const before = this.results.get(clientId)?.length ?? 0;
      this.submit(clientId, op);
      const ok = this.run(() => (this.results.get(clientId)?.length ?? 0) > before, maxMs);
      if (!ok) throw new Error(`op ${JSON.stringify(op)} did not complete by t=${this.now}`);
      out.push(this.results.get(clientId)![before]!);
    }
    return out;
  }
}
