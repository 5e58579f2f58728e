/**
 * The strategies against real honest cores, end to end: a small seeded driver (random delays,
 * so messages reorder) runs n = 4 replicas, one of them Byzantine, and closed-loop KV clients,
 * with every replica and client event fed to the InvariantChecker. Each strategy must leave
 * safety intact and requests completing; a core with a deliberate bug must be caught.
 * (The full simulator, with loss, partitions and crashes, is src/sim.)
 */
import { describe, expect, it } from 'vitest';
import { ByzantineLayer, CorruptibleApp, STRATEGY_NAMES, type StrategyName } from '../../src/byzantine/index.js';
import { InvariantChecker, type Violation } from '../../src/sim/checkers.js';
import { ClientCore } from '../../src/core/client.js';
import { defaultParams, Replica, type BugName } from '../../src/core/replica.js';
import { KeyedAuthenticator, keyringFor, SimScheme } from '../../src/crypto/index.js';
import { SimClientSessions, SimMacs, SimReplicaSessions } from '../../src/sim/sessions.js';
import { encodeKvOp, KvStore, type KvOp } from '../../src/app/kv.js';
import type { ClientAction, PersistRecord, ProtocolParams, ReplicaAction, ReplicaEvent, ReplicaId } from '../../src/core/types.js';

function rngOf(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Task {
  at: number;
  order: number;
  run: () => void;
}

interface Options {
  n?: number;
  seed: number;
  byzantine?: { replica: ReplicaId; strategy: StrategyName }[];
  bugs?: Partial<Record<BugName, boolean>>;
  clients?: number;
  opsPerClient?: number;
}

class MiniCluster {
  readonly n: number;
  readonly params: ProtocolParams;
  readonly scheme = new SimScheme();
  readonly rng: () => number;
  readonly replicas: (Replica | null)[] = [];
  readonly layers: ByzantineLayer[] = [];
  readonly apps: CorruptibleApp[] = [];
  readonly durable: PersistRecord[][] = [];
  readonly checker: InvariantChecker;
  readonly clients = new Map<string, { core: ClientCore; left: number; ops: number }>();
  readonly stateInstalls: ReplicaId[] = [];
  now = 0;
  private queue: Task[] = [];
  private order = 0;
  private timers = new Map<string, number>();
  private readonly secrets: string[];
  private readonly keyring;
  private readonly clientSecrets = new Map<string, string>();

  constructor(private readonly o: Options) {
    this.n = o.n ?? 4;
    this.rng = rngOf(o.seed);
    this.params = defaultParams(this.n, {
      checkpointInterval: 4,
      logWindow: 8,
      maxBatchSize: 3,
      maxInFlight: 4,
      viewChangeTimeoutMs: 120,
      maxViewChangeTimeoutMs: 2000,
      statusIntervalMs: 40,
    });
    this.secrets = Array.from({ length: this.n }, (_, i) => (i + 1).toString(16).padStart(64, '0'));
    const pubs = this.secrets.map((s) => this.scheme.publicKey(s));
    const clientPubs: Record<string, string> = {};
    for (let c = 0; c < (o.clients ?? 3); c++) {
      const sk = (500 + c).toString(16).padStart(64, '0');
      this.clientSecrets.set(`c${c}`, sk);
      clientPubs[`c${c}`] = this.scheme.publicKey(sk);
    }
    this.keyring = keyringFor(pubs, clientPubs, false);
    const byz = new Set((o.byzantine ?? []).map((b) => b.replica));
    this.checker = new InvariantChecker({
      n: this.n,
      f: this.params.f,
      verifier: new KeyedAuthenticator(this.scheme, null, this.keyring),
      correct: [...Array(this.n).keys()].filter((r) => !byz.has(r)),
    });
    for (let i = 0; i < this.n; i++) {
      this.durable.push([]);
      this.replicas.push(null);
      this.apps.push(new CorruptibleApp(new KvStore(), rngOf(o.seed * 31 + i)));
      this.layers.push(new ByzantineLayer({ id: i, params: this.params, auth: this.auth(i), rng: rngOf(o.seed * 17 + i) }, this.apps[i]!));
      this.boot(i);
    }
    for (const b of o.byzantine ?? []) this.layers[b.replica]!.set(b.strategy);
  }

  private readonly macs = new SimMacs('byzantine-cluster');

  auth(i: ReplicaId): KeyedAuthenticator {
    // session keys with every client (MAC authenticators), as after a handshake
    return new KeyedAuthenticator(this.scheme, this.secrets[i]!, this.keyring, new SimReplicaSessions(this.macs, i, (c) => this.clientSecrets.has(c)));
  }

  private boot(i: ReplicaId): void {
    const app = this.apps[i]!;
    const r = new Replica({ id: i, params: this.params, auth: this.auth(i), app, persisted: this.durable[i]!.slice(), bugs: this.o.bugs });
    this.replicas[i] = r;
    this.apply(i, r.start());
  }

  crash(i: ReplicaId): void {
    this.replicas[i] = null;
    for (const k of [...this.timers.keys()]) if (k.startsWith(`r${i}:`)) this.timers.delete(k);
  }

  restart(i: ReplicaId): void {
    // a fresh process: empty application, state only from the durable log
    this.apps[i] = new CorruptibleApp(new KvStore(), rngOf(this.o.seed * 31 + i + 1000));
    this.layers[i] = new ByzantineLayer({ id: i, params: this.params, auth: this.auth(i), rng: rngOf(this.o.seed * 17 + i + 1000) }, this.apps[i]!);
    this.checker.onRestart(i, this.now);
    this.boot(i);
  }

  at(delay: number, run: () => void): void {
    this.queue.push({ at: this.now + delay, order: this.order++, run });
  }

  private delay(): number {
    return 0.5 + this.rng() * 6;
  }

  private step(i: ReplicaId, ev: ReplicaEvent): void {
    const r = this.replicas[i];
    if (!r) return;
    const e = this.layers[i]!.filterEvent(ev);
    if (e) this.apply(i, r.step(e));
  }

  private apply(i: ReplicaId, raw: ReplicaAction[]): void {
    const actions = this.layers[i]!.transform(raw);
    for (const a of actions) if (a.type === 'persist') this.durable[i]!.push(a.record);
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          this.sendTo(i, a.to, a.msg);
          break;
        case 'multicast':
          for (let j = 0; j < this.n; j++) if (j !== i) this.sendTo(i, j, a.msg);
          break;
        case 'reply': {
          const copy = JSON.parse(JSON.stringify(a.msg)) as unknown;
          this.at(this.delay(), () => {
            const c = this.clients.get(a.client);
            if (c) this.applyClient(a.client, c.core.step({ type: 'reply', from: i, msg: copy }));
          });
          break;
        }
        case 'setTimer': {
          const key = `r${i}:${a.name}`;
          const token = this.order++;
          this.timers.set(key, token);
          this.at(a.afterMs, () => {
            if (this.timers.get(key) !== token) return;
            this.timers.delete(key);
            this.step(i, { type: 'timer', name: a.name });
          });
          break;
        }
        case 'cancelTimer':
          this.timers.delete(`r${i}:${a.name}`);
          break;
        case 'executed':
          this.checker.onExecuted(i, a, this.now);
          break;
        case 'state-installed':
          this.stateInstalls.push(i);
          this.checker.onStateInstalled(i, a, this.now);
          break;
        case 'checkpoint-stable':
          this.checker.onCheckpointStable(i, a.seq, a.digest, this.now, a.full);
          break;
        default:
          break;
      }
    }
  }

  private sendTo(from: ReplicaId, to: ReplicaId, msg: unknown): void {
    if (!(Number.isInteger(to) && to >= 0 && to < this.n)) return;
    const copy = JSON.parse(JSON.stringify(msg)) as unknown;
    this.at(this.delay(), () => this.step(to, { type: 'message', from, msg: copy }));
  }

  // --- clients ------------------------------------------------------------------------------

  startClients(opsPerClient: number): void {
    for (const id of this.clientSecrets.keys()) {
      const core = new ClientCore({
        id,
        n: this.n,
        auth: new KeyedAuthenticator(this.scheme, this.clientSecrets.get(id)!, this.keyring, new SimClientSessions(this.macs, id, this.n)),
        startTimestamp: 1,
        retransmitTimeoutMs: 150,
        maxRetransmitTimeoutMs: 1200,
      });
      this.clients.set(id, { core, left: opsPerClient, ops: 0 });
      this.at(this.rng() * 5, () => this.nextOp(id));
    }
  }

  /** more operations for every client (after a quiet period, say) */
  moreOps(count: number): void {
    for (const [id, c] of this.clients) {
      const idle = c.left === 0 && !c.core.busy;
      c.left += count;
      if (idle) this.at(this.rng() * 5, () => this.nextOp(id));
    }
  }

  private nextOp(id: string): void {
    const c = this.clients.get(id)!;
    if (c.left === 0) return;
    c.left--;
    c.ops++;
    const key = `k${Math.floor(this.rng() * 3)}`;
    const x = this.rng();
    const op: KvOp = x < 0.45 ? { op: 'put', key, value: `${id}-${c.ops}` } : x < 0.85 ? { op: 'get', key } : { op: 'del', key };
    const readOnly = op.op === 'get' && this.rng() < 0.5;
    const encoded = encodeKvOp(op);
    const actions = c.core.submit(encoded, { readOnly });
    this.checker.onInvoke(id, c.core.pendingTimestamp!, encoded, this.now);
    this.applyClient(id, actions);
  }

  private applyClient(id: string, actions: ClientAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send': {
          const copy = JSON.parse(JSON.stringify(a.msg)) as unknown;
          this.at(this.delay(), () => this.step(a.to, { type: 'request', msg: copy }));
          break;
        }
        case 'broadcast':
          for (let j = 0; j < this.n; j++) {
            const copy = JSON.parse(JSON.stringify(a.msg)) as unknown;
            this.at(this.delay(), () => this.step(j, { type: 'request', msg: copy }));
          }
          break;
        case 'setTimer': {
          const key = `c${id}:${a.name}`;
          const token = this.order++;
          this.timers.set(key, token);
          this.at(a.afterMs, () => {
            if (this.timers.get(key) !== token) return;
            this.timers.delete(key);
            this.applyClient(id, this.clients.get(id)!.core.step({ type: 'timer', name: a.name }));
          });
          break;
        }
        case 'cancelTimer':
          this.timers.delete(`c${id}:${a.name}`);
          break;
        case 'done':
          this.checker.onComplete(id, a.outcome.timestamp, a.outcome.result, this.now);
          this.at(this.rng() * 10, () => this.nextOp(id));
          break;
        default:
          break;
      }
    }
  }

  allDone(): boolean {
    return [...this.clients.values()].every((c) => c.left === 0 && !c.core.busy);
  }

  /** run until `until()` or until virtual time advances by maxMs */
  run(until: () => boolean, maxMs: number): boolean {
    const end = this.now + maxMs;
    while (!until()) {
      if (this.queue.length === 0) return false;
      let k = 0;
      for (let j = 1; j < this.queue.length; j++) {
        const a = this.queue[j]!;
        const b = this.queue[k]!;
        if (a.at < b.at || (a.at === b.at && a.order < b.order)) k = j;
      }
      const t = this.queue[k]!;
      if (t.at > end) return false;
      this.queue.splice(k, 1);
      this.now = t.at;
      t.run();
    }
    return true;
  }

  finish(deadlineMs: number): Violation[] {
    return this.checker.finish({ nowMs: this.now, livenessDeadlineMs: deadlineMs });
  }
}

const BOUND_MS = 60_000;

function runWith(
  seed: number,
  byzantine: { replica: ReplicaId; strategy: StrategyName }[],
  o: Partial<Options> & { stopOnViolation?: boolean } = {},
): { c: MiniCluster; done: boolean; violations: Violation[] } {
  const c = new MiniCluster({ seed, byzantine, ...o });
  c.startClients(o.opsPerClient ?? 10);
  const done = c.run(() => c.allDone() || (o.stopOnViolation === true && c.checker.violations().length > 0), BOUND_MS);
  // let laggards catch up, then check
  c.run(() => false, 1_000);
  return { c, done, violations: c.finish(BOUND_MS) };
}

const fmt = (v: Violation[]) => v.map((x) => `${x.invariant}: ${x.message}`).join('\n');

describe('strategies against honest cores (n = 4, one Byzantine replica)', () => {
  it('an honest cluster (control) completes every request with no violation', () => {
    const { done, violations, c } = runWith(1, []);
    expect(done).toBe(true);
    expect(fmt(violations)).toBe('');
    expect(c.checker.notes()).toEqual([]);
  });

  for (const strategy of STRATEGY_NAMES) {
    for (const replica of [0, 2]) {
      it(`${strategy} on replica ${replica}${replica === 0 ? ' (the first primary)' : ''}: safe, and every request completes`, () => {
        for (const seed of [1, 2]) {
          const { done, violations, c } = runWith(seed * 100 + replica, [{ replica, strategy }]);
          expect(fmt(violations)).toBe('');
          expect(done).toBe(true);
          // (equivocate acts only as primary; replica 2 is a backup unless a view change happens)
          if (strategy !== 'equivocate' || replica === 0)
            expect(Object.keys(c.layers[replica]!.counters).length, 'the strategy did something').toBeGreaterThan(0);
        }
      });
    }
  }

  it('corrupt-state: once cleared, the replica repairs itself by state transfer and agrees with the others again', () => {
    const { c, done, violations } = runWith(7, [{ replica: 2, strategy: 'corrupt-state' }]);
    expect(done).toBe(true);
    expect(fmt(violations)).toBe('');
    expect(c.stateInstalls).toContain(2);
    c.layers[2]!.set(null);
    c.moreOps(6);
    expect(c.run(() => c.allDone(), BOUND_MS)).toBe(true);
    c.run(() => false, 2_000);
    const st = c.replicas.map((r) => r!.status());
    expect(st[2]!.lastExecuted).toBe(st[0]!.lastExecuted);
    expect(st[2]!.stateDigest).toBe(st[0]!.stateDigest);
  });

  it('a correct replica that crashes and restarts from its durable log passes the checks (restart rules)', () => {
    const c = new MiniCluster({ seed: 9, byzantine: [] });
    c.startClients(12);
    c.run(() => false, 300);
    c.crash(3);
    c.run(() => false, 300);
    c.restart(3);
    expect(c.run(() => c.allDone(), BOUND_MS)).toBe(true);
    c.run(() => false, 2_000);
    expect(fmt(c.finish(BOUND_MS))).toBe('');
    expect(c.replicas[3]!.status().lastExecuted).toBe(c.replicas[0]!.status().lastExecuted);
  });
});

describe('broken cores are caught', () => {
  it('an equivocating primary against backups that skip the pre-prepare digest check: agreement violated', () => {
    let caught: Violation | undefined;
    let seeds = 0;
    for (let seed = 1; seed <= 10 && !caught; seed++, seeds++) {
      const { violations } = runWith(seed, [{ replica: 0, strategy: 'equivocate' }], {
        bugs: { 'skip-pre-prepare-digest-check': true },
        stopOnViolation: true,
      });
      caught = violations.find((v) => v.invariant === 'agreement');
    }
    console.log(`skip-pre-prepare-digest-check caught after ${seeds} seed(s)`);
    expect(caught, 'caught within 10 seeds').toBeDefined();
    expect(caught!.message).toMatch(/same digest .* but different requests|executed digest/);
  });

  it('committing on 2f commits with a vote-lying replica: a certificate short of 2f+1 is reported', () => {
    let caught: Violation | undefined;
    for (let seed = 1; seed <= 10 && !caught; seed++) {
      const { violations } = runWith(seed, [{ replica: 1, strategy: 'conflicting-votes' }], { bugs: { 'commit-on-2f': true }, stopOnViolation: true });
      caught = violations.find((v) => v.invariant === 'qcertified');
    }
    expect(caught).toBeDefined();
    expect(caught!.message).toMatch(/QCertified needs 2f\+1 = 3/);
  });
});
