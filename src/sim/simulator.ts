/**
 * The deterministic simulator: drives a cluster of sans-I/O `Replica` cores and `ClientCore`s
 * through a seeded network (delay, loss, duplication, reordering, partitions that heal), replica
 * crashes and restarts, and Byzantine replicas, while the invariant checker watches every
 * correct replica and every client.
 *
 * Synchronous and deterministic: one virtual clock, one event queue ordered by (time, insertion
 * order), all randomness from named sub-streams of the seed. Same options => same result,
 * same trace.
 *
 * The driver contract (src/core/types.ts) is carried out exactly: every `persist` of a step is
 * durable before any of its sends (a crashed replica keeps exactly the records it emitted, and
 * restarts from `compactRecords(records)`, never from an empty log); timers are named and
 * replaced; `multicast` goes to every other replica; `reply` goes to the client. (The node
 * driver runs the runtime's refinement of it: a step whose only records are `committed` acts
 * before they are durable; see isLazyRecord in src/runtime/replica-node.ts.)
 */
import { KvStore, encodeKvOp, type KvOp } from '../app/kv.js';
import { ByzantineLayer, CorruptibleApp, type StrategyName } from '../byzantine/index.js';
import { ClientCore } from '../core/client.js';
import { primaryOf } from '../core/quorum.js';
import { Replica, compactRecords, footprintLimits, recoveryClientId, recoveryOp, type BugName, type Footprint } from '../core/replica.js';
import type {
  ClientAction,
  ClientId,
  ClientTimerName,
  NewViewBody,
  PersistRecord,
  Signed,
  ReplicaAction,
  ReplicaEvent,
  ReplicaId,
  ReplicaMessage,
  SignedReply,
  SignedRequest,
  TimerName,
} from '../core/types.js';
import { KeyedAuthenticator, keyringFor, makeScheme, sha256Hex, type SignatureScheme } from '../crypto/index.js';
import { deepFreeze } from '../core/canonical.js';
import { InvariantChecker, newestFullCheckpoint, type Violation } from './checkers.js';
import {
  ADVERSARY_NAMES,
  describeAdversary,
  isAdversaryName,
  planAdversary,
  strategiesFor,
  type AdversaryName,
  type AdversaryPlan,
  type AdversaryStats,
} from './adversary.js';
import { ByzantineClients } from './byzclients.js';
import { CutScheduler, type CutHost } from './cuts.js';
import { TwinsNet } from './twins.js';
import { VoteLedger, newViewProblem } from './protocol-checks.js';
import { EventQueue } from './queue.js';
import { Rng } from './rng.js';
import { SimClientSessions, SimMacs, SimReplicaSessions } from './sessions.js';
import { DEFAULT_LIVENESS_BOUND_MS, describeScenario, makeScenario, type Scenario } from './scenario.js';
import { TraceRing, describeMessage, describePhase, short } from './trace.js';
import { ReplicaNode, NODE_BUG_NAMES, type NodeBugName } from '../runtime/replica-node.js';
import { byzantineHooks } from '../runtime/byzantine-hook.js';
import type { NodeClock, PhaseSink } from '../runtime/node-io.js';
import { BUG_NAMES } from '../core/replica.js';
import { SimDisk } from './simdisk.js';

export type SimCrypto = 'sim' | 'node';
/**
 * What the simulator drives: 'core' (the sans-I/O Replica, the simulator carrying out its
 * actions; the default) or 'node' (the runtime's ReplicaNode, src/runtime/replica-node.ts, over
 * a simulated network, disk and clock: group commit, persist-before-send, timer generations,
 * the Byzantine wrapper and injected network faults are simulated too).
 */
export type SimDriver = 'core' | 'node';
export const SIM_DRIVERS: readonly SimDriver[] = ['core', 'node'];
/** a core bug flag, or a node bug flag (driver 'node' only) */
export type SimBugName = BugName | NodeBugName;

export interface SimOptions {
  seed: number;
  /** replicas (n >= 4); default 4 */
  n?: number;
  /** strategies used together by this run's Byzantine replicas (1..f of them); default none */
  byzantine?: readonly StrategyName[];
  /**
   * who attacks the run (src/sim/adversary.ts): 'catalogue' (default: Byzantine replicas with
   * the `byzantine` strategies), 'fuzz', 'twins', 'clients' (Byzantine clients, with the
   * `byzantine` strategies too) or 'cuts'
   */
  adversary?: AdversaryName;
  /** deliberately broken cores (or nodes), to prove the checkers can fail (applied to every replica) */
  bugs?: readonly SimBugName[];
  /** drive the core alone (default) or the runtime node over simulated I/O */
  driver?: SimDriver;
  /** signatures and MACs: 'sim' (fast keyed-hash models, default) or 'node' (real Ed25519 and HMAC-SHA256) */
  crypto?: SimCrypto;
  /** false: a fault-free run (no loss, duplication, partitions, crashes, Byzantine replicas) */
  faults?: boolean;
  /** force (true) or forbid (false) storm scenarios (see scenario.ts); default: from the seed */
  storm?: boolean;
  /** every request must complete within this many virtual ms of the liveness phase's start */
  livenessBoundMs?: number;
  /** protocol parameter overrides (otherwise drawn from the seed) */
  params?: Partial<import('../core/types.js').ProtocolParams>;
  /** lines kept in the trace ring buffer (default 400) */
  traceLines?: number;
  /** also record every event, formatted (slow; for determinism tests and debugging) */
  fullTrace?: boolean;
  /** also record STATUS messages and timers in the trace (periodic; crowd out the rest) */
  traceStatus?: boolean;
  /** attach the trace even when the run passes */
  alwaysTrace?: boolean;
  /** hard cap on processed events (a message storm is reported as a violation) */
  maxEvents?: number;
  /** isolate what crosses the network and the disk: deep-freeze it (default) or share it as is */
  isolation?: 'freeze' | 'none';
}

/** A checker violation, or one the simulator itself detects. */
export interface SimViolation {
  invariant:
    | Violation['invariant']
    | 'exception'
    | 'state-agreement'
    | 'view-change-safety'
    | 'no-equivocation'
    | 'new-view-validity'
    | 'bounded-memory'
    | 'event-limit';
  message: string;
  replica?: ReplicaId;
  seq?: number;
  timeMs?: number;
}

export interface SimStats {
  /** distinct client requests executed by at least one correct replica */
  committedRequests: number;
  /** client requests whose result the client accepted */
  completedRequests: number;
  /** requests issued by clients (logical operations) */
  issuedRequests: number;
  /** gets answered on the read-only (tentative) path: not linearizable by design, so not checked */
  tentativeReads: number;
  /** highest sequence number executed by a correct replica */
  executedSeqs: number;
  /** views above 0 entered by some correct replica */
  viewChanges: number;
  /** highest view a correct replica entered */
  maxView: number;
  stateTransfers: number;
  checkpoints: number;
  /** NEW-VIEWs whose V held prepared certificates with different digests for one seq */
  conflictingNewViews: number;
  messagesSent: number;
  messagesDelivered: number;
  messagesDropped: number;
  messagesDuplicated: number;
  crashes: number;
  restarts: number;
  partitions: number;
  /** messages correct replicas dropped as invalid (evidence) / as harmless */
  rejectedByCorrect: number;
  ignoredByCorrect: number;
  events: number;
  virtualMs: number;
  livenessStartMs: number;
  /** what the run's adversary did, by kind (twins splits, Byzantine-client requests, cuts) */
  adversary: AdversaryStats;
  /** storage faults found at restart (torn last records cut off, corrupt logs) and recoveries completed */
  storage: { torn: number; corrupt: number; recovered: number };
}

export interface SimResult {
  seed: number;
  n: number;
  f: number;
  ok: boolean;
  violations: SimViolation[];
  stats: SimStats;
  byzantine: { replica: ReplicaId; strategy: StrategyName; fromMs: number }[];
  adversary: AdversaryName;
  /** replicas run as twins (the twins adversary) */
  twins: ReplicaId[];
  scenario: string;
  /** the last events before the end of the run (always on failure), formatted */
  trace?: string[];
  /** every event, when fullTrace was asked */
  fullTrace?: string[];
  /** a hash of the whole event sequence: equal runs have equal fingerprints */
  fingerprint: string;
  /** the exact `pbft sim ...` command that reproduces this run */
  replay: string;
}

// ---------------------------------------------------------------------------------------------

type SimEvent =
  /** twin: 1 = to twin B of a twinned replica (the twins adversary) */
  | { k: 'msg'; to: ReplicaId; from: ReplicaId; msg: ReplicaMessage; twin?: 1 }
  /** who: a Byzantine client (client is then -1; msg may be anything) */
  | { k: 'req'; to: ReplicaId; client: number; msg: SignedRequest; who?: string }
  | { k: 'reply'; client: number; from: ReplicaId; msg: SignedReply }
  | { k: 'rtimer'; r: ReplicaId; name: TimerName; token: number }
  | { k: 'ctimer'; c: number; name: ClientTimerName; token: number }
  | { k: 'think'; c: number }
  | { k: 'crash'; i: number }
  | { k: 'restart'; r: ReplicaId; inc: number }
  | { k: 'partition'; i: number }
  | { k: 'heal'; i: number }
  | { k: 'byzantine-on'; i: number }
  | { k: 'liveness' }
  /** a timed step of the run's adversary (twins phase, Byzantine-client burst, cut step) */
  | { k: 'adversary'; tag: number }
  /** driver 'node': a node's clock callback (timer, next turn, disk completion) */
  | { k: 'node'; r: ReplicaId; twin?: 1; inc: number; token: number }
  /** driver 'node': a crash while a frame is being written */
  | { k: 'crash-now'; r: ReplicaId; inc: number }
  | { k: 'stop'; why: string };

interface SimReplica {
  id: ReplicaId;
  core: Replica | null;
  up: boolean;
  incarnation: number;
  /** the durable log: exactly the persist records emitted, in order */
  records: PersistRecord[];
  /** node driver: the newest full checkpoint among the records its disk opened with last */
  openedFullCheckpoint?: number;
  timers: Map<TimerName, number>;
  timerToken: number;
  app: CorruptibleApp;
  layer: ByzantineLayer;
  /** planned strategy, or 'twin' (Byzantine replicas are never counted as correct) */
  byzantine: StrategyName | 'twin' | null;
  /** a twinned replica's instance: 0 = twin A (in `replicas`), 1 = twin B (in `twinB`) */
  twin?: 0 | 1;
  /** crash in the middle of the next step */
  crashMidStep: boolean;
  /** a storage fault planned with the coming crash (scenario crashes[].storage) */
  storageFault: 'torn' | 'corrupt' | null;
  /** the durable log's last frame (this many records: one step's group commit) is torn: cut off at restart */
  tornTail: number;
  /** a record whose checksum fails, not the last: the log cannot be trusted */
  corruptAt: number | null;
  /** restarted amnesic after a corrupt log, not recovered yet: faulty for the budget of f */
  recovering: boolean;
  auth: KeyedAuthenticator;
  /** compact the durable log when it grows past this many records */
  compactAt: number;
  /** steps since its memory footprint was last checked */
  stepsSinceFootprint: number;
  /** new-views delivered to this (correct) replica, by view, until it enters that view */
  newViews: Map<number, Signed<NewViewBody>>;
  /** driver 'node': the running node (null while down), its disk, and its pending clock callbacks */
  node?: ReplicaNode | null;
  /**
   * driver 'node': new-views stepped by this (correct) replica, by view (newViews then holds the
   * one it entered each view with, until that entry is carried out after its frame is durable)
   */
  steppedNewViews?: Map<number, Signed<NewViewBody>>;
  disk?: SimDisk;
  calls?: Map<number, () => void>;
}

interface SimClient {
  idx: number;
  id: ClientId;
  core: ClientCore;
  timers: Map<ClientTimerName, number>;
  timerToken: number;
  /** the logical operation outstanding: all timestamps it used (read-only fallback adds one) */
  current: { op: string; timestamps: number[]; invokeMs: number; readOnly: boolean } | null;
  safetyOps: number;
  livenessOps: number;
  finished: boolean;
  valueCounter: number;
  rng: Rng;
}

const DEFAULT_MAX_EVENTS = 3_000_000;
/** twin B's timer tokens start here, so a timer event names its twin unambiguously */
const TWIN_B_TOKENS = 1_000_000_000;
/** a correct replica's memory footprint is checked every this many of its steps, and at the end */
const FOOTPRINT_EVERY_STEPS = 16;

/**
 * The authenticator of a replica's core (honest code, a Byzantine replica's too) or an honest
 * client under the core driver with isolation on: it deep-freezes each body it signs (the
 * network freezes what is sent anyway, a step later), so the body's encoding is computed once,
 * for its signature, and remembered for the replicas that verify it (src/core/canonical.ts).
 * Byzantine strategies sign with an authenticator that leaves their bodies as they are.
 */
class FreezingAuthenticator extends KeyedAuthenticator {
  readonly freezeSigned = true;
}

/** Keys for a simulated cluster, derived from the seed (never random). */
function secretFor(seed: number, who: string): string {
  return sha256Hex(`pbft-sim-key:${seed}:${who}`);
}

export function simulate(o: SimOptions): SimResult {
  return new Simulation(o).run();
}

class Simulation {
  private readonly o: SimOptions;
  private readonly sc: Scenario;
  private readonly q = new EventQueue<SimEvent>();
  private now = 0;
  private readonly replicas: SimReplica[] = [];
  private readonly clients: SimClient[] = [];
  private readonly clientIndex = new Map<ClientId, number>();
  private readonly checker: InvariantChecker;
  private readonly trace: TraceRing;
  private readonly netRng: Rng;
  private readonly crashRng: Rng;
  /** which record a flipped bit hits, recovery nonces */
  private readonly storageRng: Rng;
  private readonly scheme: SignatureScheme;
  private readonly freeze: boolean;
  private readonly compactBase: number;
  /** record the periodic STATUS traffic in the trace too */
  private readonly traceStatus: boolean;
  private readonly correct: ReplicaId[];
  private phase: 'safety' | 'liveness' | 'drain' = 'safety';
  private stopped: string | null = null;
  private readonly extraViolations: SimViolation[] = [];
  /** active partitions: each maps replica -> side (0/1); two replicas talk iff same side in all */
  private readonly activePartitions = new Map<number, Uint8Array>();
  private readonly committed = new Set<string>();
  /** the digest correct replicas committed at each seq (from their 'committed' persist records) */
  private readonly committedAt = new Map<number, { digest: string; replica: ReplicaId; view: number }>();
  /** extra send delay of stragglers, by replica */
  private readonly slowExtra: number[];
  private readonly viewsEntered = new Set<number>();
  /** what correct replicas signed: no two different votes for one (view, seq) */
  private readonly votes = new VoteLedger();
  /** verifies signatures for the simulator's own checks (never signs) */
  private verifier!: KeyedAuthenticator;
  private footprintMax!: Footprint;
  /** the run's adversary and its parts (null when it has none) */
  private readonly adv: AdversaryPlan;
  private twins: TwinsNet | null = null;
  /** twin B of each twinned replica (twin A is in `replicas`) */
  private readonly twinB = new Map<ReplicaId, SimReplica>();
  private byzClients: ByzantineClients | null = null;
  private cuts: CutScheduler | null = null;
  /** the replica instance whose actions are being carried out (which twin sends) */
  private acting: SimReplica | null = null;
  private fp = 0x811c9dc5;
  /** driver 'node' */
  private readonly nodeDriver: boolean;
  private nodeToken = 0;
  private nodeEvents = 0;
  private readonly nodeBugs: NodeBugName[];
  private readonly noPhases: PhaseSink = { write: () => undefined, flush: () => Promise.resolve(), close: () => Promise.resolve() };
  private readonly stats: SimStats = {
    committedRequests: 0,
    completedRequests: 0,
    issuedRequests: 0,
    tentativeReads: 0,
    executedSeqs: 0,
    viewChanges: 0,
    maxView: 0,
    stateTransfers: 0,
    checkpoints: 0,
    conflictingNewViews: 0,
    messagesSent: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    messagesDuplicated: 0,
    crashes: 0,
    restarts: 0,
    partitions: 0,
    rejectedByCorrect: 0,
    ignoredByCorrect: 0,
    events: 0,
    virtualMs: 0,
    livenessStartMs: 0,
    adversary: { name: 'catalogue', counters: {} },
    storage: { torn: 0, corrupt: 0, recovered: 0 },
  };

  constructor(o: SimOptions) {
    if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${o.seed}`);
    this.o = o;
    const driver = o.driver ?? 'core';
    if (!SIM_DRIVERS.includes(driver)) throw new RangeError(`unknown driver ${JSON.stringify(driver)}; known: ${SIM_DRIVERS.join(', ')}`);
    this.nodeDriver = driver === 'node';
    this.nodeBugs = (o.bugs ?? []).filter((b): b is NodeBugName => (NODE_BUG_NAMES as readonly string[]).includes(b));
    if (this.nodeBugs.length > 0 && !this.nodeDriver) throw new RangeError(`node bugs (${this.nodeBugs.join(', ')}) need the node driver (--driver node)`);
    const n = o.n ?? 4;
    if (!Number.isSafeInteger(n) || n < 4 || n > 64) throw new RangeError(`replicas must be an integer in [4, 64], got ${n}`);
    const adversary = o.adversary ?? 'catalogue';
    if (!isAdversaryName(adversary)) throw new RangeError(`unknown adversary ${JSON.stringify(adversary)}; known: ${ADVERSARY_NAMES.join(', ')}`);
    const planned = planAdversary(
      makeScenario({
        seed: o.seed,
        n,
        byzantine: strategiesFor(adversary, o.byzantine ?? []),
        faults: o.faults ?? true,
        livenessBoundMs: o.livenessBoundMs ?? DEFAULT_LIVENESS_BOUND_MS,
        params: o.params,
        storm: o.storm,
      }),
      adversary,
      o.faults ?? true,
    );
    this.sc = planned.sc;
    this.adv = planned.plan;
    this.freeze = (o.isolation ?? 'freeze') === 'freeze';
    this.traceStatus = o.traceStatus ?? false;
    this.compactBase = 4 * this.sc.params.logWindow + 256;
    this.slowExtra = new Array<number>(n).fill(0);
    for (const x of this.sc.net.slow) this.slowExtra[x.replica] = x.extraMs;
    const root = new Rng(o.seed);
    this.netRng = root.fork('net');
    this.crashRng = root.fork('crash-choices');
    this.storageRng = root.fork('storage-faults');
    this.trace = new TraceRing(o.traceLines ?? 400, o.fullTrace ?? false);

    // Keys, derived from the seed.
    this.scheme = makeScheme(o.crypto === 'node' ? 'node' : 'sim');
    const rsecrets = [...Array(n).keys()].map((i) => secretFor(o.seed, `replica-${i}`));
    const rpubs = rsecrets.map((s) => this.scheme.publicKey(s));
    const cids = [...Array(this.sc.workload.clients).keys()].map((i) => `c${i}`);
    const csecrets = cids.map((c) => secretFor(o.seed, `client-${c}`));
    // session keys (MAC authenticators): every honest client and named Byzantine client has one
    // with every replica, as if each had connected once; flood ids (pk:...) have none. MACs are
    // the keyed-hash model with sim signatures, HMAC-SHA256 with real ones (src/sim/sessions.ts).
    const macs = new SimMacs(`seed-${o.seed}`, o.crypto === 'node' ? 'hmac' : 'model');
    const byzClients =
      this.adv.name === 'clients' && this.adv.clients.clients.length > 0
        ? new ByzantineClients(this.adv.clients, {
            n,
            scheme: this.scheme,
            maxOpBytes: this.sc.params.maxOpBytes,
            rng: root.fork('adversary/clients/run'),
            secret: (who) => secretFor(o.seed, who),
            honest: cids,
            macs,
          })
        : null;
    // Byzantine clients are in the keyring like honest ones; their floods use self-certifying ids
    const keyring = keyringFor(
      rpubs,
      { ...Object.fromEntries(cids.map((c, i) => [c, this.scheme.publicKey(csecrets[i]!)])), ...byzClients?.publicKeys },
      byzClients !== null,
    );
    byzClients?.attach(keyring);

    const byz = new Map(this.sc.byzantine.map((b) => [b.replica, b.strategy]));
    const twinned = new Set(this.adv.name === 'twins' ? this.adv.twins.replicas : []);
    this.correct = [...Array(n).keys()].filter((r) => !byz.has(r) && !twinned.has(r));
    this.verifier = new KeyedAuthenticator(this.scheme, null, keyring);
    this.footprintMax = footprintLimits(this.sc.params);
    this.checker = new InvariantChecker({
      n,
      f: this.sc.f,
      verifier: this.verifier,
      correct: this.correct,
      byzantineClient: byzClients ? (id) => byzClients.isByzantine(id) : undefined,
    });

    // Collusion: each Byzantine replica holds the keys of the run's other Byzantine replicas, and
    // all share one blackboard (the fuzz strategy keeps its pool there).
    const byzShared = new Map<string, unknown>();
    const colludersOf = (id: ReplicaId) =>
      byz.has(id)
        ? this.sc.byzantine
            .filter((b) => b.replica !== id)
            .map((b) => ({ id: b.replica, auth: new KeyedAuthenticator(this.scheme, rsecrets[b.replica]!, keyring) }))
        : undefined;
    const withSession = new Set<ClientId>([...cids, ...(byzClients?.ids ?? [])]);
    // (the node driver's messages reach the simulator as frames: nothing to remember there)
    const freezeSigned = this.freeze && !this.nodeDriver;
    for (let id = 0; id < n; id++) {
      const sessions = new SimReplicaSessions(macs, id, (c) => withSession.has(c));
      // the core's (a Byzantine replica's core is honest code too); its strategies sign with their own
      const auth = freezeSigned
        ? new FreezingAuthenticator(this.scheme, rsecrets[id]!, keyring, sessions)
        : new KeyedAuthenticator(this.scheme, rsecrets[id]!, keyring, sessions);
      const strategyAuth = byz.has(id) && freezeSigned ? new KeyedAuthenticator(this.scheme, rsecrets[id]!, keyring, sessions) : auth;
      const app = new CorruptibleApp(new KvStore(), root.fork(`app/${id}`).fn());
      const layer = new ByzantineLayer(
        { id, params: this.sc.params, auth: strategyAuth, rng: root.fork(`byzantine/${id}`).fn(), colluders: colludersOf(id), shared: byzShared },
        app,
      );
      this.replicas.push({
        id,
        core: null,
        up: false,
        incarnation: 0,
        records: [],
        timers: new Map(),
        timerToken: 0,
        app,
        layer,
        byzantine: byz.get(id) ?? null,
        crashMidStep: false,
        storageFault: null,
        tornTail: 0,
        corruptAt: null,
        recovering: false,
        auth,
        newViews: new Map(),
        compactAt: this.compactBase,
        stepsSinceFootprint: 0,
      });
    }
    const w = this.sc.workload;
    cids.forEach((id, idx) => {
      const sessions = new SimClientSessions(macs, id, n);
      const auth = freezeSigned
        ? new FreezingAuthenticator(this.scheme, csecrets[idx]!, keyring, sessions)
        : new KeyedAuthenticator(this.scheme, csecrets[idx]!, keyring, sessions);
      this.clientIndex.set(id, idx);
      this.clients.push({
        idx,
        id,
        core: new ClientCore({
          id,
          n,
          f: this.sc.f,
          auth,
          startTimestamp: 1,
          retransmitTimeoutMs: w.retransmitTimeoutMs,
          maxRetransmitTimeoutMs: w.maxRetransmitTimeoutMs,
          maxOpBytes: this.sc.params.maxOpBytes,
        }),
        timers: new Map(),
        timerToken: 0,
        current: null,
        safetyOps: 0,
        livenessOps: 0,
        finished: false,
        valueCounter: 0,
        rng: root.fork(`workload/${id}`),
      });
    });
    this.setupAdversary(root, byzClients);
  }

  // ------------------------------------------------------------------------------------------
  // The loop
  // ------------------------------------------------------------------------------------------

  run(): SimResult {
    const sc = this.sc;
    this.note('phase', 'sim', `seed ${sc.seed}: ${this.describe()}`);
    // schedule the plan
    sc.byzantine.forEach((b, i) => {
      if (b.fromMs === 0) this.handle({ k: 'byzantine-on', i });
      else this.q.push(b.fromMs, { k: 'byzantine-on', i });
    });
    sc.crashes.forEach((c, i) => this.q.push(c.atMs, { k: 'crash', i }));
    sc.partitions.forEach((p, i) => this.q.push(p.atMs, { k: 'partition', i }));
    this.scheduleAdversary();
    this.q.push(sc.safetyMs, { k: 'liveness' });
    // boot
    for (const r of this.replicas) this.boot(r, false);
    for (const r of this.twinB.values()) this.boot(r, false);
    for (const c of this.clients) this.q.push(this.think(c), { k: 'think', c: c.idx });

    const maxEvents = this.o.maxEvents ?? DEFAULT_MAX_EVENTS;
    while (this.stopped === null) {
      const item = this.q.pop();
      if (!item) {
        this.stopped = 'no more events';
        break;
      }
      this.now = item.timeMs;
      if (item.ev.k === 'node') {
        // a node's own clock callbacks (turns, timers, disk completions) are not counted as events
        if (++this.nodeEvents > 8 * maxEvents) {
          this.extraViolations.push({
            invariant: 'event-limit',
            message: `more than ${8 * maxEvents} node clock callbacks: a node that never settles`,
            timeMs: this.now,
          });
          this.stopped = 'event limit';
          break;
        }
      } else if (++this.stats.events > maxEvents) {
        this.extraViolations.push({
          invariant: 'event-limit',
          message: `more than ${maxEvents} events: a message storm or a run that never settles`,
          timeMs: this.now,
        });
        this.stopped = 'event limit';
        break;
      }
      this.handle(item.ev);
      if (this.phase === 'safety' && this.stats.events >= this.sc.safetyEventBudget && this.stopped === null) {
        this.note('phase', 'sim', `safety phase ends early: its budget of ${this.sc.safetyEventBudget} events is spent`);
        this.startLiveness();
      }
      if (this.stopped === null && this.checkerFailed()) this.stopped = 'safety violation';
    }
    return this.finish();
  }

  private handle(ev: SimEvent): void {
    switch (ev.k) {
      case 'msg': {
        const r = ev.twin ? this.twinB.get(ev.to)! : this.replicas[ev.to]!;
        this.mix(1, ev.from, ev.twin ? ev.to + 0x100 : ev.to);
        if (!r.up) return this.dropped(`r${ev.from}`, `-> r${ev.to} (down): `, ev.msg);
        this.stats.messagesDelivered++;
        if (this.nodeDriver) {
          if (this.traceStatus || !isStatus(ev.msg))
            this.trace.add(this.now, 'deliver', `r${ev.to}${ev.twin ? 'B' : ''}`, () => `<- r${ev.from} ${describeMessage(ev.msg)}`);
          r.node!.receivePeer(ev.from, ev.msg);
          return;
        }
        if (this.traceStatus || !isStatus(ev.msg))
          this.trace.add(
            this.now,
            'deliver',
            this.twins?.isTwin(ev.to) ? `r${ev.to}${ev.twin ? 'B' : 'A'}` : `r${ev.to}`,
            () => `<- r${ev.from} ${describeMessage(ev.msg)}`,
          );
        return this.stepReplica(r, { type: 'message', from: ev.from, msg: ev.msg });
      }
      case 'req': {
        const r = this.replicas[ev.to]!;
        this.mix(2, ev.client, ev.to);
        const who = ev.who ?? `c${ev.client}`;
        if (!r.up) return this.dropped(who, `-> r${ev.to} (down): `, ev.msg);
        this.stats.messagesDelivered++;
        this.trace.add(this.now, 'deliver', `r${ev.to}`, () => `<- ${who} ${describeMessage(ev.msg)}`);
        if (this.twins?.isTwin(ev.to)) {
          // a client request to a twinned replica reaches both twins, or one of them
          for (const t of this.twins.requestTargets()) {
            const inst = t === 1 ? this.twinB.get(ev.to)! : r;
            if (inst.up && this.stopped === null) {
              if (this.nodeDriver) inst.node!.receiveRequest(ev.msg);
              else this.stepReplica(inst, { type: 'request', msg: ev.msg });
            }
          }
          return;
        }
        if (this.nodeDriver) return r.node!.receiveRequest(ev.msg);
        return this.stepReplica(r, { type: 'request', msg: ev.msg });
      }
      case 'reply': {
        const c = this.clients[ev.client]!;
        this.mix(3, ev.from, ev.client);
        this.stats.messagesDelivered++;
        this.trace.add(this.now, 'deliver', c.id, () => `<- r${ev.from} ${describeMessage(ev.msg)}`);
        return this.stepClient(c, () => c.core.step({ type: 'reply', from: ev.from, msg: ev.msg }));
      }
      case 'rtimer': {
        const r = ev.token >= TWIN_B_TOKENS ? this.twinB.get(ev.r) : this.replicas[ev.r];
        if (!r?.up || r.timers.get(ev.name) !== ev.token) return;
        r.timers.delete(ev.name);
        this.mix(4, ev.r, ev.token);
        if (this.traceStatus || ev.name !== 'status') this.trace.add(this.now, 'timer', `r${r.id}`, ev.name);
        return this.stepReplica(r, { type: 'timer', name: ev.name });
      }
      case 'ctimer': {
        const c = this.clients[ev.c]!;
        if (c.timers.get(ev.name) !== ev.token) return;
        c.timers.delete(ev.name);
        this.mix(5, ev.c, ev.token);
        this.trace.add(this.now, 'timer', c.id, ev.name);
        return this.stepClient(c, () => c.core.step({ type: 'timer', name: ev.name }));
      }
      case 'think':
        return this.issue(this.clients[ev.c]!);
      case 'crash':
        return this.plannedCrash(ev.i);
      case 'restart': {
        const r = this.replicas[ev.r]!;
        if (!r.up && r.incarnation === ev.inc) this.boot(r, true);
        return;
      }
      case 'partition':
        return this.startPartition(ev.i);
      case 'heal':
        if (this.activePartitions.delete(ev.i)) this.note('heal', 'net', `partition #${ev.i} healed`);
        return;
      case 'byzantine-on': {
        const b = this.sc.byzantine[ev.i]!;
        const r = this.replicas[b.replica]!;
        r.layer.set(b.strategy);
        this.note('byzantine', `r${r.id}`, `turns ${b.strategy}`);
        return;
      }
      case 'liveness':
        if (this.phase === 'safety') this.startLiveness();
        return;
      case 'adversary':
        return this.adversaryStep(ev.tag);
      case 'node': {
        const r = ev.twin ? this.twinB.get(ev.r) : this.replicas[ev.r];
        if (!r?.up || r.incarnation !== ev.inc) return;
        const fn = r.calls!.get(ev.token);
        if (!fn) return;
        r.calls!.delete(ev.token);
        this.mix(6, ev.twin ? ev.r + 0x100 : ev.r, ev.token);
        fn();
        if (r.byzantine === null && r.up && r.core && ++r.stepsSinceFootprint >= FOOTPRINT_EVERY_STEPS) this.checkFootprint(r);
        return;
      }
      case 'crash-now': {
        const r = this.replicas[ev.r]!;
        if (r.up && r.incarnation === ev.inc && r.crashMidStep) this.crash(r, `mid-write: frame ${r.disk!.writes} in flight`);
        return;
      }
      case 'stop':
        this.stopped = ev.why;
        return;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Replicas
  // ------------------------------------------------------------------------------------------

  private boot(r: SimReplica, restart: boolean): void {
    if (this.nodeDriver) return this.bootNode(r, restart);
    r.incarnation++;
    r.timers.clear();
    r.newViews.clear();
    r.crashMidStep = false;
    // Read the durable log as the runtime does: every record has a checksum. A torn last record
    // was being written when the crash hit and nothing was sent after it: cut it off. A failing
    // record before the last means the log cannot be trusted: restart empty, in recovery mode.
    let recover: { timestamp: number; nonce: string } | undefined;
    if (restart && r.tornTail > 0) {
      const cut = r.tornTail;
      r.tornTail = 0;
      r.records.length -= cut;
      this.stats.storage.torn++;
      this.note(
        'storage',
        `r${r.id}`,
        `durable log: the last frame (${cut} record${cut === 1 ? '' : 's'} of one step) is torn, its checksum fails: cut off, ${r.records.length} records kept`,
      );
    }
    if (restart && r.corruptAt !== null) {
      const at = r.corruptAt;
      r.corruptAt = null;
      const nonce = Array.from({ length: 4 }, () => this.storageRng.int(0, 0xffff).toString(16).padStart(4, '0')).join('');
      recover = { timestamp: Math.floor(this.now * 1000) + r.incarnation, nonce };
      this.stats.storage.corrupt++;
      this.note(
        'storage',
        `r${r.id}`,
        `durable log: checksum mismatch at record ${at + 1} of ${r.records.length} (a flipped bit): the log cannot be trusted; it restarts empty and recovers (request ${recover.timestamp})`,
      );
      r.records = [];
      r.recovering = true;
      this.checker.onRecoveryRequest(recoveryClientId(r.id), recover.timestamp, recoveryOp(nonce));
    }
    const persisted = restart ? compactRecords(r.records) : undefined;
    if (restart) {
      // the replica's new life starts from its durable log (never empty-handed: it keeps it)
      r.records = persisted ? [...persisted] : [];
      r.app = new CorruptibleApp(new KvStore(), new Rng(this.o.seed).fork(`app/${r.id}/${r.incarnation}`).fn());
      this.stats.restarts++;
      this.note('restart', `r${r.id}`, `restarts from ${r.records.length} durable records (incarnation ${r.incarnation})`);
      if (this.isCorrect(r.id)) this.checker.onRestart(r.id, this.now, { lostLog: recover !== undefined, fullCheckpoint: newestFullCheckpoint(r.records) });
    }
    let actions: ReplicaAction[];
    try {
      // A twin's core is honest code, but its replica is Byzantine: with its identity doubled,
      // its own invariants (one decision per seq, never a vote against it) need not hold, and a
      // breach there says nothing about the protocol (long-run seed 759787 n=7). The checkers
      // judge the correct replicas.
      // (the same for every Byzantine replica's core: colluding fuzzers sign with its key;
      // long-run seed 937370 n=10)
      const assertions = r.byzantine !== null ? false : undefined;
      r.core = new Replica({
        id: r.id,
        params: this.sc.params,
        auth: r.auth,
        app: r.app,
        persisted,
        bugs: this.bugs(),
        recover,
        ...(assertions === false ? { assertions } : {}),
      });
      r.up = true;
      actions = r.core.start();
    } catch (e) {
      return this.exception(r.id, restart ? 'restart' : 'start', e);
    }
    this.acting = r;
    this.apply(r, r.byzantine !== null ? this.transform(r, actions) : actions);
  }

  // ------------------------------------------------------------------------------------------
  // The node driver: the runtime's ReplicaNode over a simulated network, disk and clock
  // ------------------------------------------------------------------------------------------

  /**
   * Start (or restart) a replica as a ReplicaNode. A restart keeps only the disk: the node's
   * queue, unflushed group commit, timers and memory died with the crash. The node opens the
   * disk itself (a torn last frame is cut off; a corrupt log is moved aside and the node starts
   * empty in recovery mode, drawing the recovery nonce from its entropy source).
   */
  private bootNode(r: SimReplica, restart: boolean): void {
    r.incarnation++;
    r.newViews.clear();
    r.crashMidStep = false;
    r.calls = new Map();
    r.steppedNewViews = new Map();
    const inc = r.incarnation;
    const tag = r.twin === 1 ? 'B' : '';
    const clock: NodeClock = {
      now: () => this.now,
      setTimeout: (fn, ms) => this.nodeCall(r, inc, fn, Number.isFinite(ms) && ms > 0 ? ms : 0),
      clearTimeout: (h) => {
        r.calls?.delete(h as number);
      },
      setImmediate: (fn) => {
        this.nodeCall(r, inc, fn, 0);
      },
    };
    r.disk ??= new SimDisk(
      `r${r.id}${tag}/wal`,
      new Rng(this.o.seed).fork(`node/disk/${r.id}${tag}`),
      {
        onWrite: (records) => this.onDiskWrite(r, records),
        onOpen: (found) => this.onDiskOpen(r, found),
      },
      this.compactBase,
    );
    // the disk's completions go through the clock of the node now using it
    const disk = r.disk;
    disk.attach(clock);
    if (restart) {
      r.app = new CorruptibleApp(new KvStore(), new Rng(this.o.seed).fork(`app/${r.id}/${r.incarnation}`).fn());
      this.stats.restarts++;
      this.note('restart', `r${r.id}`, `restarts from its disk (${disk.recordCount} records written; incarnation ${r.incarnation})`);
    }
    const entropyRng = new Rng(this.o.seed).fork(`node/entropy/${r.id}${tag}/${inc}`);
    const correct = r.byzantine === null;
    try {
      r.node = ReplicaNode.simulated({
        id: r.id,
        params: this.sc.params,
        auth: r.auth,
        clock,
        storage: disk,
        entropy: {
          random: entropyRng.fn(),
          nonce: () => Array.from({ length: 4 }, () => entropyRng.int(0, 0xffff).toString(16).padStart(4, '0')).join(''),
        },
        phases: this.noPhases,
        transport: {
          sendToPeer: (to, frame) => this.nodeSendPeer(r, inc, to, frame),
          sendToClient: (client, frame) => this.nodeSendClient(r, inc, client, frame),
        },
        app: r.app,
        byzantine: byzantineHooks(r.layer),
        bugs: this.bugs(),
        ...(r.byzantine !== null ? { assertions: false } : {}),
        nodeBugs: this.nodeBugs,
        observer: {
          starting: ({ recover }) => {
            // the node is up from here: its start actions are carried out like any turn's
            r.up = true;
            if (recover) {
              r.recovering = true;
              this.note('storage', `r${r.id}`, `the node restarts empty and recovers (request ${recover.timestamp})`);
              this.checker.onRecoveryRequest(recoveryClientId(r.id), recover.timestamp, recoveryOp(recover.nonce));
            }
            if (restart && correct) this.checker.onRestart(r.id, this.now, { lostLog: recover !== undefined, fullCheckpoint: r.openedFullCheckpoint });
          },
          stepped: (ev, actions) => {
            if (r.incarnation !== inc || r.byzantine !== null) return;
            // which NEW-VIEW a view is entered with is decided now, at the step (as the core driver sees it)
            if (ev.type === 'message' && isNewView(ev.msg)) r.steppedNewViews!.set(ev.msg.body.newView, ev.msg);
            for (const a of actions) {
              if (a.type !== 'view-entered') continue;
              const nv = r.steppedNewViews!.get(a.view);
              if (nv) r.newViews.set(a.view, nv);
              for (const v of r.steppedNewViews!.keys()) if (v <= a.view) r.steppedNewViews!.delete(v);
            }
          },
          performing: (a, batch) => this.observeNode(r, inc, a, batch),
          error: (where, e) => this.exception(r.id, `node ${where}`, e),
        },
      });
    } catch (e) {
      r.up = false;
      return this.exception(r.id, restart ? 'node restart' : 'node start', e);
    }
    r.core = r.node.core;
    r.up = true;
    // client-link faults of the scenario: the node's own injected network faults (pbft fault)
    if (this.phase === 'safety')
      for (const f of this.sc.net.clientLinks) {
        if (f.replica !== r.id) continue;
        if (f.kind === 'cut') r.node.injectNetFault({ kind: 'net', action: 'partition', clients: true });
        else if (f.kind === 'delay') r.node.injectNetFault({ kind: 'net', action: 'delay', link: 'clients', ms: f.extraMs });
        else r.node.injectNetFault({ kind: 'net', action: 'drop', link: 'clients', rate: f.rate });
      }
  }

  /** a node's clock callback, `ms` from now: one 'node' event */
  private nodeCall(r: SimReplica, inc: number, fn: () => void, ms: number): number {
    const token = ++this.nodeToken;
    if (r.incarnation !== inc) return token; // a node from before a crash
    r.calls!.set(token, fn);
    this.q.push(this.now + ms, r.twin === 1 ? { k: 'node', r: r.id, twin: 1, inc, token } : { k: 'node', r: r.id, inc, token });
    return token;
  }

  /** a frame from a node to a peer: each message in it goes through the simulated network */
  private nodeSendPeer(r: SimReplica, inc: number, to: ReplicaId, frame: string): boolean {
    if (!r.up || r.incarnation !== inc) return false;
    const f = JSON.parse(frame) as { type: string; msg?: ReplicaMessage; msgs?: ReplicaMessage[] };
    const msgs = f.type === 'messages' ? f.msgs! : [f.msg!];
    for (const m of msgs) {
      if (this.freeze) deepFreeze(m);
      this.acting = r;
      this.sendToReplica(r.id, to, m);
    }
    return true;
  }

  private nodeSendClient(r: SimReplica, inc: number, client: ClientId, frame: string): boolean {
    if (!r.up || r.incarnation !== inc) return false;
    const f = JSON.parse(frame) as { msg: SignedReply };
    if (this.freeze) deepFreeze(f.msg);
    this.sendReply(r.id, client, f.msg);
    return true;
  }

  /** an effect a node carries out (its records are durable): the checks the core driver makes */
  private observeNode(r: SimReplica, inc: number, a: ReplicaAction, batch: readonly ReplicaAction[]): void {
    if (r.incarnation !== inc) return;
    const correct = r.byzantine === null;
    this.acting = r;
    switch (a.type) {
      case 'send':
        if (correct) this.checkSigned(r.id, a.msg);
        return;
      case 'multicast':
        if (correct) this.checkSigned(r.id, a.msg);
        if (correct && isNewView(a.msg)) this.inspectNewView(a.msg);
        return;
      case 'reply':
      case 'persist':
      case 'setTimer':
      case 'cancelTimer':
        return;
      default:
        this.observe(r, a, batch, correct);
    }
  }

  /** a frame handed to a node's disk: commits are seen here; a planned mid-step crash hits now */
  private onDiskWrite(r: SimReplica, records: readonly PersistRecord[]): void {
    const correct = r.byzantine === null;
    for (const rec of records) {
      if (this.freeze) deepFreeze(rec);
      if (correct && rec.kind === 'committed') this.onCommitted(r.id, rec.entry);
    }
    if (r.crashMidStep) this.q.push(this.now, { k: 'crash-now', r: r.id, inc: r.incarnation });
  }

  private onDiskOpen(r: SimReplica, found: { torn: number; corruptAt: number | null; frames: number; records: number; fullCheckpoint: number }): void {
    r.openedFullCheckpoint = found.fullCheckpoint;
    if (found.torn > 0) {
      this.stats.storage.torn++;
      this.note(
        'storage',
        `r${r.id}`,
        `durable log: the last frame (${found.torn} record${found.torn === 1 ? '' : 's'} of one group commit) is torn, its checksum fails: cut off`,
      );
    }
    if (found.corruptAt !== null) {
      this.stats.storage.corrupt++;
      this.note(
        'storage',
        `r${r.id}`,
        `durable log: checksum mismatch in frame ${found.corruptAt + 1} of ${found.frames} (a flipped bit): the log cannot be trusted`,
      );
    }
  }

  /** A node's machine stops: its memory, queue, timers and the frame in flight are gone. */
  private crashNode(r: SimReplica, how: string): void {
    r.up = false;
    r.core = null;
    r.node = null;
    r.calls?.clear();
    r.crashMidStep = false;
    this.stats.crashes++;
    const fault = r.storageFault;
    r.storageFault = null;
    const fate = r.disk?.crash(fault) ?? 'none';
    this.note(
      'crash',
      `r${r.id}`,
      `crashes (${how})${fate === 'none' ? '' : `; the frame in flight ${fate === 'written' ? 'reached the disk, unacknowledged' : `is ${fate}`}`}`,
    );
  }

  private bugs(): Partial<Record<BugName, boolean>> | undefined {
    const core = (this.o.bugs ?? []).filter((b): b is BugName => (BUG_NAMES as readonly string[]).includes(b));
    if (!core.length) return undefined;
    return Object.fromEntries(core.map((b) => [b, true]));
  }

  private transform(r: SimReplica, actions: ReplicaAction[]): ReplicaAction[] {
    try {
      return r.layer.transform(actions);
    } catch (e) {
      this.exception(r.id, 'byzantine transform', e);
      return [];
    }
  }

  private stepReplica(r: SimReplica, ev: ReplicaEvent): void {
    let e: ReplicaEvent | null = ev;
    if (r.byzantine !== null) {
      try {
        e = r.layer.filterEvent(ev);
      } catch (err) {
        return this.exception(r.id, 'byzantine filter', err);
      }
      if (e === null) return;
    }
    let actions: ReplicaAction[];
    try {
      actions = r.core!.step(e);
    } catch (err) {
      return this.exception(r.id, `step(${ev.type})`, err);
    }
    if (r.byzantine === null && e.type === 'message' && isNewView(e.msg)) {
      // remember the new-view a correct replica was given (it may enter the view later)
      const nv = e.msg;
      r.newViews.set(nv.body.newView, nv);
    }
    this.acting = r;
    this.apply(r, r.byzantine !== null ? this.transform(r, actions) : actions);
  }

  private apply(r: SimReplica, actions: ReplicaAction[]): void {
    if (!Array.isArray(actions)) return this.exception(r.id, 'step', new Error('step did not return an array of actions'));
    const correct = r.byzantine === null;
    // Persist first (the driver contract): all of a step's records are durable before any send.
    const recordsBefore = r.records.length;
    for (const a of actions) {
      if (a.type !== 'persist') continue;
      r.records.push(this.freeze ? deepFreeze(a.record) : a.record);
      if (correct && a.record.kind === 'committed') this.onCommitted(r.id, a.record.entry);
    }
    // A torn write: the crash hits while a step's records are being written, so its last record
    // is torn and nothing of the step is sent (persist before send). It waits for a step that
    // writes something.
    const wrote = r.records.length > recordsBefore;
    const midStep = r.crashMidStep && (r.storageFault !== 'torn' || wrote);
    const torn = midStep && r.storageFault === 'torn';
    if (torn) r.tornTail = r.records.length - recordsBefore;
    for (const a of actions) {
      // (nor seen: the crash comes before anything of the step is visible, checkers included)
      if (
        torn &&
        (a.type === 'send' ||
          a.type === 'multicast' ||
          a.type === 'reply' ||
          a.type === 'executed' ||
          a.type === 'checkpoint-stable' ||
          a.type === 'state-installed' ||
          a.type === 'view-entered' ||
          a.type === 'recovered')
      )
        continue;
      switch (a.type) {
        case 'persist':
          break;
        case 'send':
          if (correct) this.checkSigned(r.id, a.msg);
          if (midStep && this.crashRng.bool(0.5)) break;
          this.sendToReplica(r.id, a.to, a.msg);
          break;
        case 'multicast':
          if (correct) this.checkSigned(r.id, a.msg);
          if (correct && isNewView(a.msg)) this.inspectNewView(a.msg);
          for (const to of this.replicas) if (to.id !== r.id && !(midStep && this.crashRng.bool(0.5))) this.sendToReplica(r.id, to.id, a.msg);
          break;
        case 'reply':
          if (midStep && this.crashRng.bool(0.5)) break;
          this.sendReply(r.id, a.client, a.msg);
          break;
        case 'setTimer': {
          if (!Number.isFinite(a.afterMs) || a.afterMs < 0) {
            this.exception(r.id, 'setTimer', new Error(`timer ${a.name} set with afterMs=${a.afterMs}`));
            break;
          }
          const token = ++r.timerToken;
          r.timers.set(a.name, token);
          this.q.push(this.now + a.afterMs, { k: 'rtimer', r: r.id, name: a.name, token });
          if (a.name !== 'status') this.trace.add(this.now, 'set-timer', `r${r.id}`, () => `${a.name} in ${a.afterMs}ms`);
          break;
        }
        case 'cancelTimer':
          if (a.name !== 'status' && r.timers.has(a.name)) this.trace.add(this.now, 'cancel', `r${r.id}`, a.name);
          r.timers.delete(a.name);
          break;
        default:
          this.observe(r, a, actions, correct);
      }
    }
    if (this.freeze) for (const a of actions) if (a.type === 'send' || a.type === 'multicast' || a.type === 'reply') deepFreeze(a.msg);
    // A WAL compacts at stable checkpoints; here when the log doubled since the last compaction.
    if (r.records.length > r.compactAt && r.tornTail === 0) {
      r.records = [...compactRecords(r.records)];
      r.compactAt = Math.max(this.compactBase, 2 * r.records.length);
    }
    if (correct && r.core && ++r.stepsSinceFootprint >= FOOTPRINT_EVERY_STEPS) this.checkFootprint(r);
    if (midStep) this.crash(r, 'mid-step');
  }

  /** What the checkers and the trace see of an effect a replica carried out (both drivers). */
  private observe(r: SimReplica, a: ReplicaAction, actions: readonly ReplicaAction[], correct: boolean): void {
    switch (a.type) {
      case 'executed':
        this.trace.add(
          this.now,
          'exec',
          `r${r.id}`,
          () =>
            `v=${a.view} s=${a.seq} d=${short(a.digest)} [${a.requests.map((q) => `${q.client}/${q.timestamp} ${q.op} => ${q.result}`).join('; ')}]${a.certificate === null ? ' (replayed)' : ''}`,
        );
        if (correct) {
          this.checker.onExecuted(r.id, a, this.now);
          if (a.seq > this.stats.executedSeqs) this.stats.executedSeqs = a.seq;
          for (const q of a.requests) this.committed.add(`${q.client}\u0000${q.timestamp}`);
        }
        break;
      case 'state-installed':
        this.trace.add(this.now, 'state', `r${r.id}`, () => `installed checkpoint s=${a.seq} d=${short(a.digest)}`);
        if (correct) {
          this.stats.stateTransfers++;
          this.checker.onStateInstalled(r.id, a, this.now);
        }
        break;
      case 'checkpoint-stable':
        this.trace.add(this.now, 'stable', `r${r.id}`, () => `checkpoint s=${a.seq} d=${short(a.digest)}`);
        if (correct) {
          this.stats.checkpoints++;
          this.checker.onCheckpointStable(r.id, a.seq, a.digest, this.now, a.full);
        }
        break;
      case 'view-entered':
        this.trace.add(this.now, 'view', `r${r.id}`, () => `entered view ${a.view} (primary r${a.primary})`);
        if (correct) {
          this.viewsEntered.add(a.view);
          if (a.view > this.stats.maxView) this.stats.maxView = a.view;
          const own = actions.find(
            (x): x is Extract<ReplicaAction, { type: 'multicast' }> => x.type === 'multicast' && isNewView(x.msg) && x.msg.body.newView === a.view,
          );
          const nv = own ? (own.msg as Signed<NewViewBody>) : r.newViews.get(a.view);
          if (nv) this.checkNewViewSafety(r.id, nv);
          for (const v of r.newViews.keys()) if (v <= a.view) r.newViews.delete(v);
        }
        break;
      case 'recovered':
        r.recovering = false;
        this.stats.storage.recovered++;
        this.trace.add(this.now, 'storage', `r${r.id}`, () => `recovered at view ${a.view}, stable checkpoint ${a.seq}: votes again`);
        break;
      case 'log':
        this.trace.add(this.now, 'log', `r${r.id}`, () => describePhase(a.event));
        break;
      default:
        this.trace.add(this.now, 'unknown', `r${r.id}`, () => `unknown action ${JSON.stringify(a).slice(0, 100)}`);
    }
  }

  /**
   * The BFT theorem at commit time (pbft.md "What must hold": "correct replicas commit the same
   * digest at each sequence number"), from the 'committed' records correct replicas persist:
   * seen before anything executes, and even when execution is held up by a gap (under the node
   * driver when the frame holding them is written, which for a lazy record may come after the
   * execution, or never if the replica crashes first; onExecuted checks agreement too).
   */
  private onCommitted(replica: ReplicaId, e: { view: number; seq: number; digest: string }): void {
    this.cuts?.onCommitted(replica, e.seq);
    const prev = this.committedAt.get(e.seq);
    if (!prev) {
      this.committedAt.set(e.seq, { digest: e.digest, replica, view: e.view });
      return;
    }
    if (prev.digest !== e.digest) {
      this.extraViolations.push({
        invariant: 'agreement',
        message: `correct replicas committed different digests at seq ${e.seq}: replica ${prev.replica} committed ${short(prev.digest)} in view ${prev.view}, replica ${replica} committed ${short(e.digest)} in view ${e.view}`,
        replica,
        seq: e.seq,
        timeMs: this.now,
      });
      this.note('violation', `r${replica}`, `agreement: committed ${short(e.digest)} at s=${e.seq}, replica ${prev.replica} committed ${short(prev.digest)}`);
      this.stopped = 'safety violation';
    }
  }

  /**
   * View-change safety (Castro & Liskov 2002, §4.4 and the safety proof's key lemma): if a
   * correct replica committed digest d at seq s in view v, every NEW-VIEW for a view above v
   * that a correct replica enters must
   * carry d at s in O (unless s is at or below the new view's stable checkpoint, where O has
   * nothing). Checked when a correct replica enters a view, against what correct replicas
   * committed. It sees a wrong O as soon as it is adopted, before any replica commits or
   * executes from it (the agreement checks see it only if some replica does).
   */
  /** No correct replica signs two different pre-prepares, prepares or commits for one (view, seq). */
  private checkSigned(replica: ReplicaId, msg: ReplicaMessage): void {
    const bad = this.votes.observe(replica, msg);
    if (!bad) return;
    this.extraViolations.push({ invariant: 'no-equivocation', message: bad, replica, timeMs: this.now });
    this.note('violation', `r${replica}`, `no-equivocation: ${bad}`);
    this.stopped = 'safety violation';
  }

  /** Memory is bounded whatever arrives: every count a correct core keeps is within its limit. */
  private checkFootprint(r: SimReplica): void {
    r.stepsSinceFootprint = 0;
    const fp = r.core!.footprint();
    for (const k of Object.keys(this.footprintMax) as (keyof Footprint)[]) {
      if (fp[k] <= this.footprintMax[k]) continue;
      const message = `correct replica ${r.id} holds ${fp[k]} ${k}, above its bound of ${this.footprintMax[k]}`;
      this.extraViolations.push({ invariant: 'bounded-memory', message, replica: r.id, timeMs: this.now });
      this.note('violation', `r${r.id}`, `bounded-memory: ${message}`);
      this.stopped = 'safety violation';
      return;
    }
  }

  private checkNewViewSafety(replica: ReplicaId, nv: Signed<NewViewBody>): void {
    // a NEW-VIEW a correct replica enters must be valid and its O exactly what V determines
    const invalid = newViewProblem(this.verifier, this.sc.params, nv);
    if (invalid) {
      const message = `replica ${replica} entered view ${nv.body.newView} with an invalid NEW-VIEW from replica ${nv.body.replica}: ${invalid}`;
      this.extraViolations.push({ invariant: 'new-view-validity', message, replica, timeMs: this.now });
      this.note('violation', `r${replica}`, `new-view-validity: ${invalid}`);
      this.stopped = 'safety violation';
      return;
    }
    for (const pp of nv.body.prePrepares) {
      const e = this.committedAt.get(pp.body.seq);
      // the lemma binds NEW-VIEWs of later views only: a lagging replica may still enter an
      // older view whose O differs where a later view committed (nothing commits there now)
      if (e && e.view < nv.body.newView && e.digest !== pp.body.digest) {
        this.extraViolations.push({
          invariant: 'view-change-safety',
          message: `replica ${replica} entered view ${nv.body.newView} with a NEW-VIEW from replica ${nv.body.replica} whose O puts ${short(pp.body.digest)} at seq ${pp.body.seq}, but correct replica ${e.replica} committed ${short(e.digest)} there in view ${e.view}`,
          replica,
          seq: pp.body.seq,
          timeMs: this.now,
        });
        this.note(
          'violation',
          `r${replica}`,
          `view-change safety: O of view ${nv.body.newView} at s=${pp.body.seq} is ${short(pp.body.digest)}, committed ${short(e.digest)}`,
        );
        this.stopped = 'safety violation';
        return;
      }
    }
  }

  /**
   * Coverage: a NEW-VIEW whose V holds prepared certificates with different digests for one
   * sequence number (from different views) is where "the certificate with the highest view
   * wins" matters. Counted, so a scenario distribution can be judged by how often it gets there.
   */
  private inspectNewView(nv: Signed<NewViewBody>): void {
    const seen = new Map<number, Set<string>>();
    for (const vc of nv.body.viewChanges) {
      for (const c of vc.body.prepared) {
        const pp = c.prePrepare.body;
        if (pp.seq <= vc.body.stableSeq) continue;
        let set = seen.get(pp.seq);
        if (!set) {
          set = new Set();
          seen.set(pp.seq, set);
        }
        set.add(pp.digest);
      }
    }
    for (const set of seen.values()) {
      if (set.size > 1) {
        this.stats.conflictingNewViews++;
        this.note('coverage', `r${nv.body.replica}`, `new-view ${nv.body.newView}: V holds conflicting prepared certificates for one sequence number`);
        return;
      }
    }
  }

  private isCorrect(id: ReplicaId): boolean {
    return this.replicas[id]!.byzantine === null;
  }

  private canTalk(a: ReplicaId, b: ReplicaId): boolean {
    for (const sides of this.activePartitions.values()) if (sides[a] !== sides[b]) return false;
    return true;
  }

  private delay(): number {
    const net = this.sc.net;
    const j = net.jitter;
    const rng = this.netRng;
    let d = net.minDelayMs;
    if (j.kind === 'uniform') d += rng.range(0, j.maxMs);
    else if (j.kind === 'exp') d += rng.exp(j.meanMs);
    else d += rng.exp(j.meanMs) + (rng.bool(j.spikeP) ? rng.range(0, j.spikeMs) : 0);
    return d;
  }

  /**
   * Client-link faults of `replica` (Scenario.net.clientLinks) applied to the delivery times of
   * a request to it or a reply from it, during the safety phase: cut, delayed, or dropped.
   */
  private clientLink(replica: ReplicaId, times: number[]): number[] {
    // (the node driver: the node's own injected network faults do it, see bootNode)
    if (this.phase !== 'safety' || times.length === 0 || this.nodeDriver) return times;
    for (const f of this.sc.net.clientLinks) {
      if (f.replica !== replica) continue;
      if (f.kind === 'cut') return [];
      if (f.kind === 'drop' && this.netRng.bool(f.rate)) return [];
      if (f.kind === 'delay') return times.map((t) => t + f.extraMs);
    }
    return times;
  }

  /** the network decides: lost, or delivered once or twice with independent delays */
  private deliveries(link = -1): number[] {
    const net = this.sc.net;
    const healed = this.phase !== 'safety';
    if (!healed && net.loss > 0 && this.netRng.bool(net.loss)) return [];
    if (!healed && link >= 0 && net.linkLoss.length > 0) {
      const l = net.linkLoss[link]!;
      if (l > 0 && this.netRng.bool(l)) return [];
    }
    const extra = healed ? net.healedExtraMs : 0;
    const out = [this.now + extra + this.delay()];
    if (!healed && net.duplicate > 0 && this.netRng.bool(net.duplicate)) {
      out.push(this.now + this.delay());
      this.stats.messagesDuplicated++;
    }
    return out;
  }

  private sendToReplica(from: ReplicaId, to: ReplicaId, msg: ReplicaMessage): void {
    this.stats.messagesSent++;
    if (!Number.isSafeInteger(to) || to < 0 || to >= this.replicas.length || to === from) {
      return this.dropped(`r${from}`, `-> ${String(to)} (no such peer): `, msg);
    }
    if (!this.canTalk(from, to)) return this.dropped(`r${from}`, `-> r${to} (partitioned): `, msg);
    let extra = 0;
    if (this.cuts) {
      // the cuts adversary's scheduler: drop (-1) or hold back this message
      extra = this.cuts.decide(from, to, msg);
      if (extra < 0) return this.dropped(`r${from}`, `-> r${to} (cut): `, msg);
    }
    if (this.twins) return this.sendTwins(from, to, msg);
    const times = this.deliveries(from * this.sc.n + to);
    if (times.length === 0) return this.dropped(`r${from}`, `-> r${to} (lost): `, msg);
    if (this.phase === 'safety' && this.slowExtra[from]) for (let i = 0; i < times.length; i++) times[i]! += this.slowExtra[from]!;
    if (extra > 0) for (let i = 0; i < times.length; i++) times[i]! += extra;
    for (const t of times) this.q.push(t, { k: 'msg', to, from, msg });
  }

  /**
   * The twins' network: a message to a twinned replica goes to the twin(s) on the sender's
   * side; a twin's message reaches the replicas on its side (twin A on side A, twin B on B).
   */
  private sendTwins(from: ReplicaId, to: ReplicaId, msg: ReplicaMessage): void {
    const tw = this.twins!;
    const fromTwin = tw.isTwin(from);
    const fromSide = fromTwin ? (this.acting?.id === from ? (this.acting.twin ?? 0) : 0) : tw.side(from);
    let targets: (0 | 1 | -1)[];
    if (tw.isTwin(to)) {
      targets = ([0, 1] as const).filter((side) => tw.talks(fromSide, side, false));
      if (targets.length === 2) tw.count('deliveries-to-both-twins');
      else if (targets.length === 1) tw.count('split-deliveries');
    } else {
      targets = tw.talks(fromSide, tw.side(to), !fromTwin) ? [-1] : [];
    }
    if (targets.length === 0) {
      tw.count('partitioned');
      return this.dropped(`r${from}${fromTwin ? (fromSide === 1 ? 'B' : 'A') : ''}`, `-> r${to} (twins partition): `, msg);
    }
    for (const t of targets) {
      const times = this.deliveries(from * this.sc.n + to);
      if (times.length === 0) {
        this.dropped(`r${from}`, `-> r${to}${t === 1 ? 'B' : t === 0 ? 'A' : ''} (lost): `, msg);
        continue;
      }
      if (this.phase === 'safety' && this.slowExtra[from]) for (let i = 0; i < times.length; i++) times[i]! += this.slowExtra[from]!;
      for (const time of times) this.q.push(time, t === 1 ? { k: 'msg', to, from, msg, twin: 1 } : { k: 'msg', to, from, msg });
    }
  }

  private sendReply(from: ReplicaId, client: ClientId, msg: SignedReply): void {
    this.stats.messagesSent++;
    const idx = this.clientIndex.get(client);
    if (idx === undefined && this.byzClients?.isByzantine(client)) {
      // a Byzantine client's reply: it does not need it
      this.stats.messagesDelivered++;
      return;
    }
    if (idx === undefined) return this.dropped(`r${from}`, `-> ${String(client).slice(0, 20)} (no such client): `, msg);
    const times = this.clientLink(from, this.deliveries());
    if (times.length === 0) return this.dropped(`r${from}`, `-> ${client} (lost): `, msg);
    for (const t of times) this.q.push(t, { k: 'reply', client: idx, from, msg });
  }

  private dropped(who: string, why: string, msg: unknown): void {
    this.stats.messagesDropped++;
    if (this.traceStatus || !isStatus(msg)) this.trace.add(this.now, 'drop', who, () => why + describeMessage(msg));
  }

  private crash(r: SimReplica, how: string): void {
    if (!r.up) return;
    if (this.nodeDriver) return this.crashNode(r, how);
    r.up = false;
    r.core = null;
    r.timers.clear();
    r.crashMidStep = false;
    this.stats.crashes++;
    this.note('crash', `r${r.id}`, `crashes (${how}); keeps ${r.records.length} durable records`);
    const fault = r.storageFault;
    r.storageFault = null;
    // a bit flips in a record before the last: found by its checksum at restart
    if (fault === 'corrupt' && r.records.length >= 2) r.corruptAt = this.storageRng.int(0, r.records.length - 2);
  }

  /** the replica most correct replicas currently follow as primary */
  private currentPrimary(): ReplicaId {
    let view = 0;
    for (const r of this.replicas) if (r.up && r.byzantine === null && r.core) view = Math.max(view, safeView(r.core));
    return primaryOf(view, this.sc.n);
  }

  private crashedCorrect(): number {
    return this.replicas.filter((r) => r.byzantine === null && (!r.up || r.crashMidStep || r.recovering)).length;
  }

  private plannedCrash(i: number): void {
    if (this.phase !== 'safety') return;
    const c = this.sc.crashes[i]!;
    let target = c.target === 'primary' ? this.currentPrimary() : c.target;
    const r0 = this.replicas[target];
    if (!r0 || r0.byzantine !== null) {
      const candidates = this.replicas.filter((r) => r.byzantine === null && r.up && !r.crashMidStep).map((r) => r.id);
      if (candidates.length === 0) return;
      target = this.crashRng.pick(candidates);
    }
    const r = this.replicas[target]!;
    if (!r.up || r.crashMidStep) return;
    // Never more than f faulty at once: crashed correct replicas + Byzantine ones <= f.
    if (this.crashedCorrect() + this.byzantineCount() + 1 > this.sc.f) {
      this.note('crash', `r${r.id}`, 'planned crash skipped: it would exceed f faulty replicas');
      return;
    }
    r.storageFault = c.storage ?? null;
    if (c.midStep) {
      r.crashMidStep = true;
      this.note('crash', `r${r.id}`, `will crash in the middle of its next step${c.storage === 'torn' ? ', tearing the record it writes' : ''}`);
    } else {
      this.crash(r, 'planned');
    }
    const inc = r.incarnation;
    this.q.push(this.now + c.downMs, { k: 'restart', r: r.id, inc });
  }

  private startPartition(i: number): void {
    if (this.phase !== 'safety') return;
    const p = this.sc.partitions[i]!;
    const side = p.kind === 'isolate-primary' ? [this.currentPrimary()] : p.side;
    const sides = new Uint8Array(this.sc.n);
    for (const r of side) sides[r] = 1;
    this.activePartitions.set(i, sides);
    this.stats.partitions++;
    this.note(
      'partition',
      'net',
      `partition #${i} (${p.kind}): {${side.join(',')}} | {${[...Array(this.sc.n).keys()].filter((r) => !side.includes(r)).join(',')}} for ${p.durationMs}ms`,
    );
    this.q.push(this.now + p.durationMs, { k: 'heal', i });
  }

  private startLiveness(): void {
    this.phase = 'liveness';
    this.twins?.heal();
    this.cuts?.heal();
    this.stats.livenessStartMs = this.now;
    this.q.push(this.now + this.sc.livenessBoundMs + this.sc.drainMs, { k: 'stop', why: 'liveness bound passed' });
    this.activePartitions.clear();
    this.note(
      'phase',
      'sim',
      `liveness phase: network healed, crashed replicas restart; every request must complete by ${(this.now + this.sc.livenessBoundMs).toFixed(0)}ms`,
    );
    for (const r of this.replicas) {
      if (r.crashMidStep) this.crash(r, 'mid-step, before the liveness phase');
      if (!r.up) this.boot(r, true);
      else if (this.nodeDriver && this.sc.net.clientLinks.some((f) => f.replica === r.id)) r.node?.injectNetFault({ kind: 'net', action: 'heal' });
    }
    if (this.nodeDriver) for (const r of this.twinB.values()) r.node?.injectNetFault({ kind: 'net', action: 'heal' });
    for (const c of this.clients) if (c.current === null && !c.finished) this.q.push(this.think(c), { k: 'think', c: c.idx });
    this.checkAllDone();
  }

  // ------------------------------------------------------------------------------------------
  // Adversaries (src/sim/adversary.ts): twins, Byzantine clients, cuts
  // ------------------------------------------------------------------------------------------

  /** once replicas and clients exist: twin B of each twinned replica, the cut scheduler */
  private setupAdversary(root: Rng, byzClients: ByzantineClients | null): void {
    this.stats.adversary.name = this.adv.name;
    this.byzClients = byzClients;
    if (this.adv.name === 'twins' && this.adv.twins.replicas.length > 0) {
      this.twins = new TwinsNet(this.adv.twins, this.sc.n, root.fork('adversary/twins/net'));
      for (const id of this.adv.twins.replicas) {
        const a = this.replicas[id]!;
        a.byzantine = 'twin';
        a.twin = 0;
        // twin B: another honest core with the same key and id, its own state and durable log
        // (it shares twin A's layer, which never gets a strategy: both pass everything through)
        this.twinB.set(id, {
          id,
          core: null,
          up: false,
          incarnation: 0,
          records: [],
          timers: new Map(),
          timerToken: TWIN_B_TOKENS,
          app: new CorruptibleApp(new KvStore(), root.fork(`app/${id}/twin-b`).fn()),
          layer: a.layer,
          byzantine: 'twin',
          twin: 1,
          crashMidStep: false,
          storageFault: null,
          tornTail: 0,
          corruptAt: null,
          recovering: false,
          auth: a.auth,
          newViews: new Map(),
          compactAt: this.compactBase,
          stepsSinceFootprint: 0,
        });
      }
    }
    if (this.adv.name === 'cuts' && this.adv.cuts.cuts.length > 0) this.cuts = new CutScheduler(this.adv.cuts, this.cutHost(), root.fork('adversary/cuts/run'));
  }

  /** Byzantine replicas: the strategies' and the twinned ones */
  private byzantineCount(): number {
    return this.sc.byzantine.length + this.twinB.size;
  }

  /** the scenario line, with the adversary's plan */
  private describe(): string {
    const a = describeAdversary(this.adv);
    return a ? `${describeScenario(this.sc)}; ${a}` : describeScenario(this.sc);
  }

  private scheduleAdversary(): void {
    if (this.twins) {
      this.twins.plan.phases.forEach((p, i) => {
        if (p.atMs === 0) this.adversaryStep(i);
        else this.q.push(p.atMs, { k: 'adversary', tag: i });
      });
    }
    this.byzClients?.plan.bursts.forEach((b, i) => this.q.push(b.atMs, { k: 'adversary', tag: i }));
    this.cuts?.start();
  }

  private adversaryStep(tag: number): void {
    if (this.phase !== 'safety') return;
    if (this.twins) {
      this.twins.setPhase(tag);
      const ph = this.twins.plan.phases[tag]!;
      const on = (side: number) => ph.sides.map((s, r) => (s === side && !this.twins!.isTwin(r) ? r : -1)).filter((r) => r >= 0);
      const tw = this.twins.plan.replicas;
      this.note(
        'twins',
        'net',
        `phase #${tag}: side A {${[...tw.map((r) => `r${r}A`), ...on(0).map((r) => `r${r}`)].join(',')}} side B {${[...tw.map((r) => `r${r}B`), ...on(1).map((r) => `r${r}`)].join(',')}} both {${on(
          2,
        )
          .map((r) => `r${r}`)
          .join(',')}}${ph.cutCorrect ? '; correct replicas cut along the same line' : ''}`,
      );
      return;
    }
    if (this.byzClients) return this.byzantineBurst(tag);
    this.cuts?.onTimer(tag);
  }

  /** a Byzantine client's burst: every validly signed request is registered with the checker first */
  private byzantineBurst(i: number): void {
    const bc = this.byzClients!;
    const b = bc.plan.bursts[i]!;
    const sends = bc.fire(i, this.currentPrimary(), (client, timestamp, op, valid) => this.checker.onByzantineRequest(client, timestamp, op, valid));
    this.note('byz-client', bc.ids[b.client]!, `${b.kind}: ${sends.length} message(s)`);
    for (const s of sends) {
      if (this.freeze) deepFreeze(s.msg);
      for (const to of s.to) {
        this.stats.messagesSent++;
        const times = this.clientLink(to, this.deliveries());
        if (times.length === 0) this.dropped(s.who, `-> r${to} (lost): `, s.msg);
        for (const t of times) this.q.push(t, { k: 'req', to, client: -1, msg: s.msg as SignedRequest, who: s.who });
      }
    }
  }

  private cutHost(): CutHost {
    return {
      n: this.sc.n,
      f: this.sc.f,
      now: () => this.now,
      isCorrect: (r) => this.isCorrect(r),
      isUp: (r) => this.replicas[r]?.up === true && !this.replicas[r]!.crashMidStep,
      currentPrimary: () => this.currentPrimary(),
      committed: (seq) => this.committedAt.has(seq),
      crash: (r, midStep, downMs) => this.crashForCut(r, midStep, downMs),
      schedule: (atMs, tag) => this.q.push(Math.max(this.now, atMs), { k: 'adversary', tag }),
      note: (text) => this.note('cut', 'net', text),
    };
  }

  /**
   * The cuts adversary crashes a correct replica WHILE f replicas are Byzantine: f + 1 replicas
   * are then not running correctly for a while. Why that is still within the fault model (at
   * most f faulty at any instant):
   *
   * A crash of a correct replica is a fault only while it is down, and only for liveness. The
   * driver contract makes every record of a step durable before any of its sends, and the
   * replica restarts from exactly its durable log (compactRecords). It never sent anything it
   * did not persist (under the node driver, but for the replies and CHECKPOINTs of a step whose
   * only records are `committed`, which re-execution repeats: see isLazyRecord in
   * src/runtime/replica-node.ts), so after the restart it cannot contradict itself: to every other node it is
   * a correct replica whose links lost messages for a while (those sent to it while it was down,
   * those of an interrupted step it did not send). Message loss is what PBFT's asynchronous
   * network already allows, and safety holds under any loss: so the replica stays in `correct`
   * throughout, every safety checker keeps judging it (its restart is reported to them), and the
   * safety checkers must still hold. The f + 1 only costs progress while it is down, which the
   * safety phase does not require. To keep that excess brief and single: the cut crashes only
   * in the safety phase, only when no other correct replica is down (at most f Byzantine + 1
   * down at any instant), and restarts it after `downMs` or at the liveness phase at the latest;
   * liveness is judged only in the liveness phase, where every crashed replica has restarted and
   * exactly f replicas (the Byzantine ones) are faulty.
   */
  private crashForCut(id: ReplicaId, midStep: boolean, downMs: number): boolean {
    if (this.phase !== 'safety') return false;
    const r = this.replicas[id];
    if (!r || r.byzantine !== null || !r.up || r.crashMidStep) return false;
    if (this.crashedCorrect() > 0) {
      this.note('crash', `r${id}`, 'cut crash skipped: another correct replica is down');
      return false;
    }
    if (midStep) {
      r.crashMidStep = true;
      this.note('crash', `r${r.id}`, 'will crash in the middle of its next step (cut)');
    } else {
      this.crash(r, 'cut');
    }
    this.q.push(this.now + downMs, { k: 'restart', r: r.id, inc: r.incarnation });
    return true;
  }

  private collectAdversaryStats(): void {
    const c = this.stats.adversary.counters;
    const add = (from: Record<string, number>) => {
      for (const [k, v] of Object.entries(from)) c[k] = (c[k] ?? 0) + v;
    };
    if (this.twins) {
      add(this.twins.counters);
      // views whose primary was a twin, as correct replicas entered them (and view 0)
      const views = [...this.viewsEntered, 0].filter((v, i, all) => all.indexOf(v) === i);
      c['twin-primary-views'] = views.filter((v) => this.twins!.isTwin(primaryOf(v, this.sc.n))).length;
    }
    if (this.byzClients) add(this.byzClients.counters);
    if (this.cuts) add(this.cuts.counters);
    // what the Byzantine replicas' strategies did (catalogue, fuzz, clients, cuts), by strategy
    for (const r of this.replicas) {
      if (r.byzantine === null || r.byzantine === 'twin') continue;
      for (const [k, v] of Object.entries(r.layer.counters))
        c[`${r.layer.current ?? r.byzantine}:${k}`] = (c[`${r.layer.current ?? r.byzantine}:${k}`] ?? 0) + v;
    }
  }

  private exception(id: ReplicaId | string, where: string, e: unknown): void {
    const err = e as Error;
    const msg = `${typeof id === 'number' ? `replica ${id}` : id} threw in ${where}: ${err?.stack?.split('\n').slice(0, 4).join(' | ') ?? String(e)}`;
    this.extraViolations.push({ invariant: 'exception', message: msg, replica: typeof id === 'number' ? id : undefined, timeMs: this.now });
    this.note('exception', typeof id === 'number' ? `r${id}` : id, msg);
    this.stopped = 'exception';
  }

  // ------------------------------------------------------------------------------------------
  // Clients
  // ------------------------------------------------------------------------------------------

  private think(c: SimClient): number {
    return this.now + c.rng.range(0, this.sc.workload.thinkMaxMs);
  }

  private wantsMore(c: SimClient): boolean {
    if (this.phase === 'safety') return c.safetyOps < this.sc.workload.maxSafetyOps;
    const w = this.sc.workload;
    if (c.livenessOps < w.livenessOps) return true;
    // A replica recovering from a corrupt log needs the cluster to move on (its stable
    // checkpoint must pass its recovery request's seq + L) and a view change: clients go on
    // until it is done, within a budget; past it, the run fails by liveness.
    return this.recovering() > 0 && c.livenessOps < w.livenessOps + this.recoveryOpsPerClient();
  }

  private recovering(): number {
    return this.replicas.filter((r) => r.recovering && r.byzantine === null).length;
  }

  /**
   * Requests per client that must let a recovery finish: 3L + 3K, and a few. Per client, not
   * over all of them: the clients' concurrent requests often share one batch, so a round of
   * them may move the log by one seq only (long-run seeds 605559 n=4, 654805 n=7).
   */
  private recoveryOpsPerClient(): number {
    const p = this.sc.params;
    return 3 * p.logWindow + 3 * p.checkpointInterval + 4;
  }

  private issue(c: SimClient): void {
    if (c.current !== null || c.finished || this.stopped !== null) return;
    if (!this.wantsMore(c)) {
      if (this.phase !== 'safety') {
        c.finished = true;
        this.checkAllDone();
      }
      return;
    }
    if (this.phase === 'safety') c.safetyOps++;
    else c.livenessOps++;
    const w = this.sc.workload;
    const key = `k${c.rng.int(0, w.keys - 1)}`;
    const kind = c.rng.weighted<'put' | 'get' | 'del'>([
      ['put', 5],
      ['get', 4],
      ['del', 1],
    ]);
    const op: KvOp = kind === 'put' ? { op: 'put', key, value: `${c.id}.${++c.valueCounter}` } : { op: kind, key };
    const readOnly = kind === 'get' && w.readOnlyP > 0 && c.rng.bool(w.readOnlyP);
    const encoded = encodeKvOp(op);
    let actions: ClientAction[];
    try {
      actions = c.core.submit(encoded, { readOnly });
    } catch (e) {
      return this.exception(c.id, 'client submit', e);
    }
    const ts = c.core.pendingTimestamp!;
    c.current = { op: encoded, timestamps: [ts], invokeMs: this.now, readOnly };
    this.stats.issuedRequests++;
    // A read-only get is reported to the checker only if it falls back to the ordered path
    // (see noteTimestamp): the tentative path is not linearizable by design (src/core/client.ts).
    if (!readOnly) this.checker.onInvoke(c.id, ts, encoded, this.now);
    this.trace.add(this.now, 'invoke', c.id, () => `${c.id}/${ts}${readOnly ? ' ro' : ''} ${encoded}`);
    this.applyClient(c, actions);
  }

  private stepClient(c: SimClient, f: () => ClientAction[]): void {
    let actions: ClientAction[];
    try {
      actions = f();
    } catch (e) {
      return this.exception(c.id, 'client step', e);
    }
    this.applyClient(c, actions);
  }

  private applyClient(c: SimClient, actions: ClientAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send':
        case 'broadcast': {
          if (this.freeze) deepFreeze(a.msg);
          this.noteTimestamp(c, a.msg);
          this.byzClients?.observe(a.msg);
          const targets = a.type === 'send' ? [a.to] : this.replicas.map((r) => r.id);
          for (const to of targets) {
            this.stats.messagesSent++;
            const times = this.clientLink(to, this.deliveries());
            if (times.length === 0) this.dropped(c.id, `-> r${to} (lost): `, a.msg);
            for (const t of times) this.q.push(t, { k: 'req', to, client: c.idx, msg: a.msg });
          }
          break;
        }
        case 'setTimer': {
          const token = ++c.timerToken;
          c.timers.set(a.name, token);
          this.q.push(this.now + Math.max(0, a.afterMs), { k: 'ctimer', c: c.idx, name: a.name, token });
          break;
        }
        case 'cancelTimer':
          c.timers.delete(a.name);
          break;
        case 'done':
          this.complete(c, a.outcome.timestamp, a.outcome.result, a.outcome.replicas);
          break;
        case 'log':
          this.trace.add(this.now, 'log', c.id, () => describePhase(a.event));
          break;
      }
    }
  }

  /**
   * A read-only request that falls back to read-write gets a new timestamp: from then on it is
   * an ordered get, invoked now (it cannot execute before it is sent).
   */
  private noteTimestamp(c: SimClient, req: SignedRequest): void {
    const cur = c.current;
    if (!cur) return;
    const ts = req.body.timestamp;
    if (!cur.timestamps.includes(ts)) {
      cur.timestamps.push(ts);
      this.checker.onInvoke(c.id, ts, cur.op, this.now);
      this.trace.add(this.now, 'invoke', c.id, () => `${c.id}/${ts} (read-only fell back to read-write) ${cur.op}`);
    }
  }

  private complete(c: SimClient, timestamp: number, result: string, replicas: ReplicaId[]): void {
    const cur = c.current;
    if (!cur) return;
    c.current = null;
    this.stats.completedRequests++;
    this.trace.add(this.now, 'complete', c.id, () => `${c.id}/${timestamp} => ${result} from [${replicas.join(',')}]`);
    if (cur.readOnly && timestamp === cur.timestamps[0]) this.stats.tentativeReads++;
    else this.checker.onComplete(c.id, timestamp, result, this.now);
    if (this.phase === 'safety' || this.wantsMore(c)) this.q.push(this.think(c), { k: 'think', c: c.idx });
    else {
      c.finished = true;
      this.checkAllDone();
    }
  }

  private allDoneScheduled = false;
  private checkAllDone(): void {
    if (this.phase === 'safety' || this.allDoneScheduled) return;
    if (this.clients.every((c) => c.finished)) {
      this.allDoneScheduled = true;
      this.phase = 'drain';
      this.note('phase', 'sim', `every request completed; draining ${this.sc.drainMs}ms`);
      this.q.push(this.now + this.sc.drainMs, { k: 'stop', why: 'all requests completed' });
    }
  }

  // ------------------------------------------------------------------------------------------
  // End of the run
  // ------------------------------------------------------------------------------------------

  private checkerFailed(): boolean {
    return this.checker.hasViolations();
  }

  private finish(): SimResult {
    const sc = this.sc;
    this.stats.virtualMs = Math.round(this.now);
    this.stats.committedRequests = this.committed.size;
    this.stats.viewChanges = [...this.viewsEntered].filter((v) => v > 0).length;
    this.collectAdversaryStats();
    for (const r of this.replicas) if (r.up && r.core && r.byzantine === null) this.checkFootprint(r);
    // Final states: correct replicas at the same lastExecuted hold the same state.
    const byExec = new Map<number, { id: ReplicaId; digest: string }[]>();
    for (const r of this.replicas) {
      if (!r.up || !r.core || r.byzantine !== null) continue;
      try {
        const st = r.core.status();
        for (const v of Object.values(st.dropped.reject)) this.stats.rejectedByCorrect += v ?? 0;
        for (const v of Object.values(st.dropped.ignore)) this.stats.ignoredByCorrect += v ?? 0;
        const list = byExec.get(st.lastExecuted) ?? [];
        list.push({ id: r.id, digest: st.stateDigest });
        byExec.set(st.lastExecuted, list);
      } catch (e) {
        this.exception(r.id, 'status', e);
      }
    }
    for (const [seq, list] of byExec) {
      const digests = new Set(list.map((x) => x.digest));
      if (digests.size > 1) {
        this.extraViolations.push({
          invariant: 'state-agreement',
          message: `correct replicas that executed up to seq ${seq} hold different states: ${list.map((x) => `r${x.id}=${short(x.digest)}`).join(', ')}`,
          seq,
          timeMs: this.now,
        });
      }
    }
    const livenessDeadlineMs = this.phase === 'safety' ? Number.POSITIVE_INFINITY : this.stats.livenessStartMs + sc.livenessBoundMs;
    let checkerViolations: Violation[];
    try {
      // a run stopped early by a safety violation is not judged on liveness
      checkerViolations = this.checker.finish({
        nowMs: this.now,
        livenessDeadlineMs: this.stopped === 'safety violation' || this.stopped === 'exception' ? Number.POSITIVE_INFINITY : livenessDeadlineMs,
      });
    } catch (e) {
      checkerViolations = [];
      this.exception('checker', 'finish', e);
    }
    // Read-only gets are known to the checker only once they fall back to the ordered path:
    // one still outstanding at the bound is a liveness failure the checker cannot see.
    if (this.stopped === 'liveness bound passed') {
      for (const c of this.clients) {
        const cur = c.current;
        if (cur?.readOnly && cur.timestamps.length === 1) {
          this.extraViolations.push({
            invariant: 'liveness',
            message: `read-only request ${c.id}#${cur.timestamps[0]} ${cur.op} invoked at ${cur.invokeMs.toFixed(1)}ms never completed; the deadline was ${livenessDeadlineMs.toFixed(0)}ms`,
            timeMs: cur.invokeMs,
          });
        }
      }
    }
    // Recovery from a corrupt log must finish once the network is stable (clients went on
    // issuing requests for it: wantsMore).
    if (this.phase !== 'safety' && (this.stopped === 'liveness bound passed' || this.stopped === 'all requests completed')) {
      for (const r of this.replicas) {
        if (!r.recovering || r.byzantine !== null || !r.core) continue;
        const st = r.core.status();
        if (!st.recovery) continue; // (a core that skipped recovery: the safety checks judge it)
        this.extraViolations.push({
          invariant: 'liveness',
          replica: r.id,
          message: `replica ${r.id} restarted from a corrupt log and had not recovered by the end (${st.recovery?.phase ?? 'unknown'}${st.recovery?.boundSeq != null ? `, bound ${st.recovery.boundSeq}` : ''}; stable checkpoint ${st.stableCheckpoint}, view ${st.view})`,
          timeMs: this.now,
        });
      }
    }
    const violations: SimViolation[] = [...checkerViolations, ...this.extraViolations];
    const ok = violations.length === 0;
    if (!ok || this.o.alwaysTrace) this.noteFinalStates();
    this.note('phase', 'sim', `stopped at ${this.now.toFixed(1)}ms: ${this.stopped}; ${violations.length} violation(s)`);
    const res: SimResult = {
      seed: sc.seed,
      n: sc.n,
      f: sc.f,
      ok,
      violations,
      stats: this.stats,
      byzantine: sc.byzantine.map((b) => ({ ...b })),
      adversary: this.adv.name,
      twins: [...this.twinB.keys()],
      scenario: this.describe(),
      fingerprint: (this.fp >>> 0).toString(16).padStart(8, '0'),
      replay: replayCommand(this.o),
    };
    if (!ok || this.o.alwaysTrace) res.trace = this.trace.lines();
    if (this.trace.full) res.fullTrace = this.trace.full;
    return res;
  }

  /** Each replica's state at the end, so a failing trace shows where every replica stood. */
  private noteFinalStates(): void {
    for (const r of [...this.replicas, ...this.twinB.values()]) {
      const who = `r${r.id}${r.twin === 1 ? "'" : ''}`;
      if (!r.core || !r.up) {
        this.note('state', who, 'down');
        continue;
      }
      const st = r.core.status();
      const fp = r.core.footprint();
      this.note(
        'state',
        who,
        `view ${st.view}${st.viewChanging ? ' (changing)' : ''}, executed ${st.lastExecuted}, stable ${st.stableCheckpoint}, window (${st.lowWatermark}, ${st.highWatermark}], ${st.pendingRequests} pending, ${fp.slots} slots, ${fp.voteSets} vote sets${st.recovery ? `; recovering (${st.recovery.phase}, bound ${st.recovery.boundSeq ?? '?'})` : ''}${r.byzantine ? `; byzantine: ${r.byzantine}` : ''}`,
      );
    }
  }

  private note(kind: string, who: string, text: string): void {
    this.trace.add(this.now, kind, who, text);
  }

  /** fold an event into the run's fingerprint */
  private mix(kind: number, a: number, b: number): void {
    let h = this.fp;
    h = Math.imul(h ^ kind, 0x01000193);
    h = Math.imul(h ^ a, 0x01000193);
    h = Math.imul(h ^ b, 0x01000193);
    h = Math.imul(h ^ Math.floor(this.now * 1000), 0x01000193);
    this.fp = h >>> 0;
  }
}

function isStatus(m: unknown): boolean {
  return (m as { body?: { type?: unknown } } | null)?.body?.type === 'status';
}

function isNewView(m: unknown): m is Signed<NewViewBody> {
  const b = (m as { body?: { type?: unknown; prePrepares?: unknown; newView?: unknown } } | null)?.body;
  return !!b && b.type === 'new-view' && Array.isArray(b.prePrepares) && typeof b.newView === 'number';
}

function safeView(core: Replica): number {
  try {
    return core.status().view;
  } catch {
    return 0;
  }
}

/** The exact command that reproduces a run. */
export function replayCommand(o: SimOptions): string {
  const parts = [
    'pbft sim',
    `--seed ${o.seed}`,
    `--replicas ${o.n ?? 4}`,
    `--byzantine ${o.byzantine?.length ? o.byzantine.join('+') : 'none'}`,
    `--adversary ${o.adversary ?? 'catalogue'}`,
  ];
  if (o.driver === 'node') parts.push('--driver node');
  if (o.crypto === 'node') parts.push('--crypto ed25519');
  if (o.faults === false) parts.push('--no-faults');
  if (o.storm !== undefined) parts.push(o.storm ? '--storm' : '--no-storm');
  if (o.livenessBoundMs !== undefined && o.livenessBoundMs !== DEFAULT_LIVENESS_BOUND_MS) parts.push(`--liveness-ms ${o.livenessBoundMs}`);
  for (const b of o.bugs ?? []) parts.push(`--bug ${b}`);
  parts.push('--trace');
  return parts.join(' ');
}
