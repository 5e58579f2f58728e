/**
 * A run's scenario, drawn from its seed: protocol parameters, the network model, the fault
 * schedule (partitions that heal, crashes and restarts, Byzantine replicas) and the client
 * workload. Everything the simulator randomises is decided here or from named sub-streams
 * of the same seed, so a seed always means the same run.
 */
import { defaultParams, maxBatchHoldMs } from '../core/replica.js';
import { maxFaulty } from '../core/quorum.js';
import type { ProtocolParams, ReplicaId } from '../core/types.js';
import type { StrategyName } from '../byzantine/index.js';
import { Rng } from './rng.js';
import { BYZ_CLIENT_LIMITS } from './byzclients.js';

export type JitterModel =
  | { kind: 'uniform'; maxMs: number }
  | { kind: 'exp'; meanMs: number }
  /** mostly fast, sometimes a long stall (reorders a lot) */
  | { kind: 'spiky'; meanMs: number; spikeP: number; spikeMs: number };

export interface NetworkModel {
  /** smallest one-way delay */
  minDelayMs: number;
  jitter: JitterModel;
  /** probability that a message is lost (safety phase; 0 once the network heals) */
  loss: number;
  /** probability that a message is delivered twice */
  duplicate: number;
  /**
   * per directed replica link (from * n + to): extra loss on top of `loss` in the safety
   * phase; asymmetric, so a replica may hear others without being heard. Empty = none.
   */
  linkLoss: number[];
  /**
   * Extra delay on every message once the network heals (the liveness phase): partial
   * synchrony's unknown bound. It can exceed the initial view-change timeout, so the view
   * change completes only because the timeout doubles (up to maxViewChangeTimeoutMs). 0 = none.
   */
  healedExtraMs: number;
  /** stragglers: replica -> extra delay on everything it sends (safety phase) */
  slow: { replica: ReplicaId; extraMs: number }[];
  /**
   * Faults on the links between clients and one replica, during the safety phase (what `pbft
   * fault R partition --from clients`, `delay --link clients` and `drop --link clients` do to a
   * real one): requests to it and its replies are cut, delayed by extraMs, or dropped at rate.
   */
  clientLinks: ClientLinkFault[];
}

export type PartitionKind = 'isolate-primary' | 'isolate' | 'split';
export interface PlannedPartition {
  atMs: number;
  durationMs: number;
  kind: PartitionKind;
  /** for isolate/split: the replicas on one side (the rest on the other); isolate-primary decides at its time */
  side: ReplicaId[];
}

export interface PlannedCrash {
  atMs: number;
  /** down time; the liveness phase restarts every crashed replica anyway */
  downMs: number;
  /** 'primary' = the replica the correct replicas currently think is primary, decided at its time */
  target: ReplicaId | 'primary';
  /** crash in the middle of the replica's next step: persist records kept, only some sends go out */
  midStep: boolean;
  /**
   * A storage fault with the crash. torn: the crash hits while a step's records are being
   * written (so mid-step, before any send); that frame (the step's group commit) is torn and its
   * checksum fails: cut off at restart, as a torn append that nothing relied on. corrupt: a bit flips in an older
   * record; its checksum fails at restart, the log cannot be trusted, and the replica restarts
   * empty in recovery mode (state transfer; no votes until safe).
   */
  storage?: 'torn' | 'corrupt';
}

export interface PlannedByzantine {
  replica: ReplicaId;
  strategy: StrategyName;
  /** when the strategy switches on (0 = from the start) */
  fromMs: number;
}

export interface Workload {
  clients: number;
  /** keys k0..k{keys-1}: a small key space, so operations conflict */
  keys: number;
  /** think time between a reply and the next request: uniform in [0, thinkMaxMs] */
  thinkMaxMs: number;
  /** probability that a get uses the read-only path */
  readOnlyP: number;
  /** most requests a client issues in the safety phase */
  maxSafetyOps: number;
  /** requests each client issues once the liveness phase starts (after its outstanding one) */
  livenessOps: number;
  retransmitTimeoutMs: number;
  maxRetransmitTimeoutMs: number;
}

export interface Scenario {
  seed: number;
  /** a lossy network with tight timeouts: many view changes with certificates in flight */
  storm: boolean;
  n: number;
  f: number;
  params: ProtocolParams;
  net: NetworkModel;
  /** length of the safety phase (faults) in virtual ms */
  safetyMs: number;
  /** every request must complete by livenessStart + livenessBoundMs */
  livenessBoundMs: number;
  /** quiet time after the last request completes, so lagging replicas catch up */
  drainMs: number;
  /** the safety phase also ends after this many events (bounds the cost of a stormy seed) */
  safetyEventBudget: number;
  byzantine: PlannedByzantine[];
  crashes: PlannedCrash[];
  partitions: PlannedPartition[];
  workload: Workload;
}

export interface ScenarioOptions {
  seed: number;
  n: number;
  /** strategies used together by this run's Byzantine replicas; empty = none */
  byzantine: readonly StrategyName[];
  /** false: no loss, duplication, partitions, crashes or Byzantine replicas */
  faults: boolean;
  livenessBoundMs: number;
  params?: Partial<ProtocolParams>;
  /** force (true) or forbid (false) a storm; default: drawn from the seed */
  storm?: boolean;
}

export const DEFAULT_LIVENESS_BOUND_MS = 60_000;
/** share of faulty runs that are storms (see makeScenario) */
export const STORM_PROBABILITY = 0.3;
const SAFETY_EVENTS_PER_REPLICA = 1500;
/** A fault on the links between clients and one replica (Scenario.net.clientLinks). */
export type ClientLinkFault =
  | { replica: ReplicaId; kind: 'cut' }
  | { replica: ReplicaId; kind: 'delay'; extraMs: number }
  | { replica: ReplicaId; kind: 'drop'; rate: number };

/** the share of faulty seeds with client-link faults */
const CLIENT_LINK_P = 0.2;

/** in a storm, the share of directed replica links that are lossy */
const LOSSY_LINK_P = 0.3;
/** probability of stragglers in a storm / in another faulty run */
const SLOW_P_STORM = 0.5;
const SLOW_P = 0.1;
/** probability that the healed network (liveness phase) is slower than the initial timeouts */
const SLOW_HEALED_P = 0.05;
/** seeds with storage faults, and the share of their crashes that bring one */
const STORAGE_FAULTS_P = 0.4;
const STORAGE_FAULT_PER_CRASH_P = 0.5;

export function makeScenario(o: ScenarioOptions): Scenario {
  const { seed, n } = o;
  if (!Number.isSafeInteger(n) || n < 4) throw new RangeError(`the simulator needs n >= 4 replicas, got ${n}`);
  const f = maxFaulty(n);
  const rng = new Rng(seed).fork('scenario');

  // --- network: a delay profile, then timeouts scaled to it --------------------------------
  const profile = rng.weighted<'lan' | 'wan' | 'chaotic'>([
    ['lan', 4],
    ['wan', 3],
    ['chaotic', 3],
  ]);
  let minDelayMs: number;
  let jitter: JitterModel;
  if (profile === 'lan') {
    minDelayMs = rng.range(0.2, 2);
    jitter = { kind: 'uniform', maxMs: rng.range(0.5, 5) };
  } else if (profile === 'wan') {
    minDelayMs = rng.range(5, 30);
    jitter = { kind: 'exp', meanMs: rng.range(2, 20) };
  } else {
    minDelayMs = rng.range(0.5, 5);
    jitter = { kind: 'spiky', meanMs: rng.range(1, 10), spikeP: rng.range(0.02, 0.15), spikeMs: rng.range(20, 300) };
  }
  const meanDelayMs =
    minDelayMs + (jitter.kind === 'uniform' ? jitter.maxMs / 2 : jitter.kind === 'exp' ? jitter.meanMs : jitter.meanMs + jitter.spikeP * jitter.spikeMs);

  // A storm: a lossy network, view-change timeouts barely above the round trip, slow
  // retransmission and long checkpoint intervals. View changes then happen while sequence
  // numbers are prepared at some replicas and not others, and a replica that missed a view
  // brings an older prepared certificate into the next one: where NEW-VIEW's "the certificate
  // with the highest view wins" matters.
  const drawnStorm = rng.bool(STORM_PROBABILITY);
  const storm = o.faults && (o.storm ?? drawnStorm);

  const loss = storm
    ? rng.range(0.05, 0.3)
    : rng.weighted<number>([
        [0, 3],
        [rng.range(0.001, 0.05), 5],
        [rng.range(0.05, 0.2), 2],
      ]);
  const duplicate = rng.bool(0.5) ? 0 : rng.range(0.001, 0.05);
  const linkRng = rng.fork('links');
  const slow: { replica: ReplicaId; extraMs: number }[] = [];
  const linkLoss: number[] = storm ? Array.from({ length: n * n }, () => (linkRng.bool(LOSSY_LINK_P) ? linkRng.range(0.2, 0.7) : 0)) : [];

  // Timeouts relative to the network: aggressive ones cause many view changes with prepared
  // certificates in flight (what the O computation must get right); lax ones, long stable views.
  const vcFactor = storm
    ? rng.range(4, 12)
    : rng.weighted<number>([
        [rng.range(6, 15), 3],
        [rng.range(15, 40), 4],
        [rng.range(40, 120), 3],
      ]);
  const viewChangeTimeoutMs = Math.max(storm ? 5 : 20, Math.round(meanDelayMs * vcFactor));
  // (capped at 6 s, but never below the initial timeout: a slow network draws one above 6 s,
  // and the core refuses max < initial; long-run seed 654490 n=7)
  const maxViewChangeTimeoutMs = Math.max(viewChangeTimeoutMs, Math.min(6000, viewChangeTimeoutMs * rng.pick([4, 8, 16])));
  const statusIntervalMs = storm
    ? Math.max(5, Math.round(viewChangeTimeoutMs * rng.range(1, 4)))
    : Math.max(5, Math.round(viewChangeTimeoutMs / rng.pick([2, 3, 5])));
  const checkpointInterval = storm
    ? rng.pick([8, 16])
    : rng.weighted<number>([
        [2, 2],
        [4, 3],
        [8, 3],
        [16, 1],
      ]);
  const logWindow = checkpointInterval * rng.pick([2, 2, 4]);
  const params = defaultParams(n, {
    checkpointInterval,
    logWindow,
    maxBatchSize: storm ? 1 : rng.pick([1, 2, 4, 8, 32]),
    maxInFlight: Math.min(logWindow, storm ? rng.pick([4, 8]) : rng.pick([1, 2, 4, 8])),
    batchHoldMs: drawBatchHold(rng, meanDelayMs),
    viewChangeTimeoutMs,
    maxViewChangeTimeoutMs,
    statusIntervalMs,
    ...o.params,
  });
  // the drawn hold, within what the view-change timeout (drawn, or given in o.params) allows
  if (o.params?.batchHoldMs === undefined) params.batchHoldMs = Math.min(params.batchHoldMs, maxBatchHoldMs(params.viewChangeTimeoutMs));

  // A straggler is heard late: it prepares what others prepared, while its own votes and
  // view-changes arrive after the others moved on, so it carries older certificates.
  if (o.faults && linkRng.bool(storm ? SLOW_P_STORM : SLOW_P)) {
    const k = linkRng.int(1, Math.max(1, f));
    for (const replica of linkRng.sample([...Array(n).keys()], k))
      slow.push({ replica, extraMs: Math.round(params.viewChangeTimeoutMs * linkRng.range(0.3, 3)) });
  }

  // Client-link faults (their own stream: other seeds' draws stay as they were). Any number of
  // replicas may be cut from clients: that costs availability, never safety, and heals with the
  // network.
  const clientLinks: ClientLinkFault[] = [];
  const clRng = rng.fork('client-links');
  if (o.faults && clRng.bool(CLIENT_LINK_P)) {
    for (const replica of clRng.sample([...Array(n).keys()], clRng.int(1, n))) {
      const kind = clRng.pick(['cut', 'delay', 'drop'] as const);
      clientLinks.push(
        kind === 'cut'
          ? { replica, kind }
          : kind === 'delay'
            ? { replica, kind, extraMs: Math.round(params.viewChangeTimeoutMs * clRng.range(0.2, 2)) }
            : { replica, kind, rate: clRng.range(0.1, 0.7) },
      );
    }
  }

  // --- phases ---------------------------------------------------------------------------------
  const safetyMs = Math.round(Math.max(200, meanDelayMs * rng.range(120, 400), params.viewChangeTimeoutMs * rng.range(4, 12)));
  const drainMs = Math.max(200, params.statusIntervalMs * 8);

  // --- workload -------------------------------------------------------------------------------
  const workload: Workload = {
    clients: rng.int(storm ? 2 : 1, 4),
    keys: rng.int(1, 3),
    thinkMaxMs: rng.pick([0, meanDelayMs, meanDelayMs * 5]),
    readOnlyP: rng.bool(0.5) ? 0 : rng.range(0.2, 0.8),
    maxSafetyOps: rng.int(4, n >= 7 ? 14 : 20),
    livenessOps: rng.int(1, 3),
    retransmitTimeoutMs: Math.max(10, Math.round(params.viewChangeTimeoutMs * rng.range(0.5, 1.5))),
    maxRetransmitTimeoutMs: 0,
  };
  workload.maxRetransmitTimeoutMs = Math.min(8000, workload.retransmitTimeoutMs * 8);

  // --- faults ---------------------------------------------------------------------------------
  const byzantine: PlannedByzantine[] = [];
  const crashes: PlannedCrash[] = [];
  const partitions: PlannedPartition[] = [];
  const faultRng = rng.fork('faults');
  if (o.faults && o.byzantine.length > 0) {
    const b = faultRng.int(1, f);
    let ids = faultRng.sample([...Array(n).keys()], b);
    // The first primary is the one that can equivocate at once: choose it more often.
    if (!ids.includes(0) && faultRng.bool(0.5)) ids = [0, ...ids.slice(1)];
    ids.sort((x, y) => x - y);
    ids.forEach((replica, j) => {
      byzantine.push({ replica, strategy: o.byzantine[j % o.byzantine.length]!, fromMs: faultRng.bool(0.7) ? 0 : Math.round(faultRng.range(0, safetyMs / 2)) });
    });
  }
  if (o.faults) {
    const vc = params.viewChangeTimeoutMs;
    const np = storm
      ? faultRng.int(3, 10)
      : faultRng.weighted<number>([
          [0, 2],
          [1, 3],
          [2, 3],
          [4, 2],
        ]);
    for (let i = 0; i < np; i++) {
      const kind = faultRng.weighted<PartitionKind>([
        ['isolate-primary', 4],
        ['isolate', 3],
        ['split', 3],
      ]);
      const all = faultRng.shuffle([...Array(n).keys()]);
      const side = kind === 'isolate' ? all.slice(0, 1) : kind === 'split' ? all.slice(0, faultRng.int(1, n - 1)) : [];
      partitions.push({
        atMs: Math.round(faultRng.range(0, safetyMs)),
        durationMs: Math.round(vc * (storm ? faultRng.range(0.3, 3) : faultRng.range(0.5, 6))),
        kind,
        side,
      });
    }
    const crashBudget = f - byzantine.length;
    const nc =
      crashBudget > 0
        ? faultRng.weighted<number>([
            [0, 3],
            [1, 3],
            [2, 2],
            [4, 2],
          ])
        : 0;
    const correct = [...Array(n).keys()].filter((r) => !byzantine.some((b) => b.replica === r));
    for (let i = 0; i < nc; i++) {
      crashes.push({
        atMs: Math.round(faultRng.range(0, safetyMs)),
        downMs: faultRng.bool(0.2) ? safetyMs : Math.round(vc * faultRng.range(0.2, 8)),
        target: faultRng.bool(0.5) ? 'primary' : faultRng.pick(correct),
        midStep: faultRng.bool(0.3),
      });
    }
  }

  // After GST the network may be slower than the timeouts were set for (drawn from a stream of
  // its own, so every other draw of a seed is what it was before this existed): between one
  // and ~1.3 initial view-change timeouts, and at most a fifth of the largest timeout. A
  // request takes four one-way delays after a backup's timer starts (forward, pre-prepare,
  // prepare, commit), so with the timeout doubled enough an honest cluster is live again.
  // Storage faults ride on planned crashes (a stream of their own: every other draw of a seed
  // is what it was before they existed).
  const disk = new Rng(seed).fork('scenario/storage');
  if (o.faults && disk.bool(STORAGE_FAULTS_P)) {
    for (const c of crashes) {
      if (!disk.bool(STORAGE_FAULT_PER_CRASH_P)) continue;
      c.storage = disk.bool(0.5) ? 'torn' : 'corrupt';
      if (c.storage === 'torn') c.midStep = true;
    }
  }

  const gst = new Rng(seed).fork('scenario/healed-network');
  const slowHealed = o.faults && params.maxViewChangeTimeoutMs >= 8 * params.viewChangeTimeoutMs && gst.bool(SLOW_HEALED_P);
  const healedExtraMs = slowHealed ? Math.round(Math.min(params.maxViewChangeTimeoutMs / 5, params.viewChangeTimeoutMs * gst.range(1, 1.3))) : 0;

  return {
    seed,
    storm,
    n,
    f,
    params,
    net: { minDelayMs, jitter, loss: o.faults ? loss : 0, duplicate: o.faults ? duplicate : 0, linkLoss, slow, clientLinks, healedExtraMs },
    safetyMs,
    // a slow healed network needs more virtual time; it costs no more events
    livenessBoundMs: Math.max(
      o.livenessBoundMs,
      60 * healedExtraMs,
      healedExtraMs
        ? slowHealedWorkMs(
            healedExtraMs + meanDelayMs,
            params,
            workload,
            crashes.some((c) => c.storage === 'corrupt'),
          )
        : 0,
    ),
    drainMs,
    safetyEventBudget: SAFETY_EVENTS_PER_REPLICA * n,
    byzantine,
    crashes,
    partitions,
    workload,
  };
}

/** One line describing a scenario, for traces and --trace output. */
/**
 * Time an honest cluster needs to order every request a run can issue, one after another,
 * over a slow healed network: with maxBatchSize x maxInFlight requests per three one-way
 * delays (pre-prepare, prepare, commit), a flood of Byzantine clients' requests ahead of a
 * correct client's is worked through at that rate and no faster, whatever the protocol does
 * (sim seed 107110 n=7: batch 1, one in flight, +584 ms links, 36 flood requests). Doubled
 * for the view changes on the way.
 */
function slowHealedWorkMs(hopMs: number, p: ProtocolParams, w: Workload, recovery: boolean): number {
  if (hopMs <= 0) return 0;
  // (and, with a corrupt log to recover from, the requests clients add for it: the simulator's
  // recoveryOpsPerClient; long-run seed 710051 n=10)
  const perClient = w.maxSafetyOps + w.livenessOps + 1 + (recovery ? 3 * p.logWindow + 3 * p.checkpointInterval + 4 : 0);
  const byzantine = BYZ_CLIENT_LIMITS.floodIdsPerRun + BYZ_CLIENT_LIMITS.clients * BYZ_CLIENT_LIMITS.burstsPerClient;
  const rounds = Math.ceil((w.clients * perClient + byzantine) / (p.maxBatchSize * p.maxInFlight));
  // a client has one request outstanding: its requests take four one-way delays each, in turn
  return Math.round(2 * Math.max(rounds * 3, perClient * 4) * hopMs);
}

/**
 * The primary's batch hold (ProtocolParams.batchHoldMs), from a sub-stream of its own: none in a
 * quarter of the seeds (those run as before the hold existed), else a half, two or six mean
 * one-way delays (shorter than a client's round trip, about it, and longer); makeScenario caps
 * it at maxBatchHoldMs of the view-change timeout.
 */
function drawBatchHold(rng: Rng, meanDelayMs: number): number {
  const r = rng.fork('batch-hold');
  const factor = r.weighted<number>([
    [0, 1],
    [0.5, 1],
    [2, 1],
    [6, 1],
  ]);
  return factor === 0 ? 0 : Math.max(1, Math.round(meanDelayMs * factor));
}

export function describeScenario(s: Scenario): string {
  const j = s.net.jitter;
  const jit =
    j.kind === 'uniform'
      ? `uniform<=${j.maxMs.toFixed(1)}`
      : j.kind === 'exp'
        ? `exp(${j.meanMs.toFixed(1)})`
        : `spiky(${j.meanMs.toFixed(1)}, p=${j.spikeP.toFixed(2)} +${j.spikeMs.toFixed(0)})`;
  const p = s.params;
  const w = s.workload;
  return [
    `${s.storm ? 'STORM ' : ''}n=${s.n} f=${s.f} K=${p.checkpointInterval} L=${p.logWindow} batch=${p.maxBatchSize} inflight=${p.maxInFlight} hold=${p.batchHoldMs}ms vc=${p.viewChangeTimeoutMs}..${p.maxViewChangeTimeoutMs}ms status=${p.statusIntervalMs}ms`,
    `net: ${s.net.minDelayMs.toFixed(1)}ms+${jit} loss=${s.net.loss.toFixed(3)} dup=${s.net.duplicate.toFixed(3)}${s.net.linkLoss.some((x) => x > 0) ? ` lossy links ${s.net.linkLoss.filter((x) => x > 0).length}/${s.n * (s.n - 1)}` : ''}${s.net.slow.map((x) => ` slow r${x.replica}+${x.extraMs}ms`).join('')}${s.net.clientLinks.map((x) => ` clients-r${x.replica}:${x.kind}${x.kind === 'delay' ? `+${x.extraMs}ms` : x.kind === 'drop' ? `@${x.rate.toFixed(2)}` : ''}`).join('')}`,
    `safety ${s.safetyMs}ms, liveness bound ${s.livenessBoundMs}ms${s.net.healedExtraMs ? `, healed network +${s.net.healedExtraMs}ms` : ''}`,
    `byzantine: ${s.byzantine.map((b) => `r${b.replica}=${b.strategy}@${b.fromMs}ms`).join(' ') || 'none'}`,
    `crashes: ${s.crashes.map((c) => `${c.target === 'primary' ? 'primary' : `r${c.target}`}@${c.atMs}ms+${c.downMs}${c.midStep ? ' mid-step' : ''}${c.storage ? ` ${c.storage}-log` : ''}`).join(' ') || 'none'}`,
    `partitions: ${s.partitions.map((x) => `${x.kind}${x.side.length ? `[${x.side.join(',')}]` : ''}@${x.atMs}ms+${x.durationMs}`).join(' ') || 'none'}`,
    `clients=${w.clients} keys=${w.keys} think<=${w.thinkMaxMs.toFixed(1)}ms ro=${w.readOnlyP.toFixed(2)} ops<=${w.maxSafetyOps}+${w.livenessOps} retransmit=${w.retransmitTimeoutMs}ms`,
  ].join('; ');
}
