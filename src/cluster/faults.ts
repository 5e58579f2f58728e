/**
 * `pbft fault TARGET ACTION` and `pbft fault list` as library calls (issue 4).
 *
 * TARGET is a replica id or `primary` (the primary that a quorum of running, not
 * view-changing replicas report). Actions:
 *
 *   crash                     SIGKILL to the replica's process group; its pid file is removed
 *   restart                   start it again as `pbft up` would, and wait until it is ready
 *   pause / resume            SIGSTOP / SIGCONT to the process group
 *   isolate                   all its traffic dropped (replicas and clients)
 *   partition --from IDS      traffic between it and IDS dropped
 *   delay --ms M [--jitter J] its replica and client traffic delayed by M +- J ms
 *   drop --rate R             a fraction R of its traffic dropped at random
 *   heal [--from IDS]         every network fault lifted (or only the partition from IDS)
 *   byzantine STRATEGY        the shared strategy catalogue (src/byzantine), as in the simulator
 *   clear                     honest and healthy again (resumed if paused)
 *
 * Signals are sent by this process; every other fault travels on the replica's authenticated
 * control channel, signed with keys/operator.key (src/runtime/admin.ts). A replica refuses
 * commands when fault injection is disabled, and so does this library for signals, reading the
 * same settings (cluster.json, replica.json, --no-faults on the replica's command line).
 *
 * A replica logs the faults it receives in its phase log; a replica that is killed or stopped
 * cannot, so this library appends the `fault` record to its phases.jsonl for it (the file is
 * opened in append mode by both, and the replica is dead or stopped at that moment).
 */
import { appendFile, readFile, rm } from 'node:fs/promises';
import { fetchStatus, sendAdminCommand, type AdminCommand, type FaultState, type RuntimeStatus } from '../runtime/admin.js';
import { loadReplicaOverrides, type LoadedCluster } from '../runtime/config.js';
import { quorums } from '../core/quorum.js';
import { STRATEGY_DESCRIPTIONS, STRATEGY_NAMES, isStrategyName, type StrategyName } from '../byzantine/index.js';
import { PbftError, abortError, describeError } from '../errors.js';
import { CliError } from './errors.js';
import { table, type Palette } from './format.js';
import { parsePhaseLine, type PhaseRecord } from './phaselog.js';
import { isAlive, replicaFiles, replicaProcessState, tailLines } from './processes.js';
import { upCluster, upFailure } from './lifecycle.js';
import { cmd as hintCmd } from './hints.js';

// ---------------------------------------------------------------------------------------
// Vocabulary and argument validation
// ---------------------------------------------------------------------------------------

export const FAULT_ACTIONS = ['crash', 'restart', 'pause', 'resume', 'isolate', 'partition', 'delay', 'drop', 'heal', 'byzantine', 'clear'] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];

export const FAULT_ACTION_DESCRIPTIONS: Record<FaultAction, string> = {
  crash: 'kill the replica process (SIGKILL to its process group)',
  restart: 'start a crashed replica again, as pbft up does, and wait until it is ready',
  pause: 'freeze the process (SIGSTOP); it keeps its sockets but answers nothing',
  resume: 'unfreeze a paused process (SIGCONT)',
  isolate: 'drop all its traffic, to and from replicas and clients',
  partition: 'drop the traffic between it and the replicas given with --from',
  delay: 'delay its traffic by --ms milliseconds (plus or minus --jitter)',
  drop: 'drop a fraction --rate of its traffic at random',
  heal: 'lift every network fault on it (or, with --from, only that partition)',
  byzantine: 'switch it to a Byzantine strategy from the shared catalogue',
  clear: 'make it honest and healthy again: network faults and strategy lifted, resumed if paused',
};

/** The largest delay/jitter a replica accepts (src/runtime/wire.ts). */
export const MAX_FAULT_DELAY_MS = 60_000;

export type FaultTarget = number | 'primary';

export interface FaultRequest {
  target: FaultTarget;
  action: FaultAction;
  /** partition (required) and heal (optional): the peers */
  from?: number[];
  /** delay */
  ms?: number;
  jitterMs?: number;
  /** drop */
  rate?: number;
  /** byzantine */
  strategy?: StrategyName;
}

/** Raw arguments, as typed on a command line (numbers may be strings). */
export interface FaultArgs {
  target?: string;
  action?: string;
  /** positional arguments after ACTION (the strategy for byzantine) */
  rest?: string[];
  from?: string;
  ms?: string | number;
  jitter?: string | number;
  rate?: string | number;
}

const USAGE = 'usage: pbft fault TARGET ACTION [options], TARGET = a replica id or "primary"';

function bad(message: string, hint?: string): CliError {
  return new CliError('BAD_ARGUMENT', message, hint);
}

function parseNumber(v: string | number, flag: string, o: { integer: boolean; min: number; max: number; unit?: string }): number {
  const t = typeof v === 'number' ? v : v.trim();
  const ok = typeof t === 'number' || (o.integer ? /^\d{1,9}$/.test(t) : /^(\d{1,9}(\.\d{0,12})?|\.\d{1,12})$/.test(t));
  const x = ok ? Number(t) : NaN;
  if (!Number.isFinite(x) || (o.integer && !Number.isSafeInteger(x)) || x < o.min || x > o.max) {
    const what = o.integer ? `an integer from ${o.min} to ${o.max}` : `a number from ${o.min} to ${o.max}`;
    throw bad(`${flag} must be ${what}${o.unit ? ` (${o.unit})` : ''}, got "${String(v)}"`);
  }
  return x;
}

/** Parse "1,2" / "1-2" / "1 2" into replica ids of an n-replica cluster (no duplicates, sorted). */
export function parsePeerList(s: string, n: number, flag = '--from'): number[] {
  const parts = s.split(/[\s,]+/).filter((x) => x.length > 0);
  if (parts.length === 0) throw bad(`${flag} needs at least one replica id`, `e.g. ${flag} 0,1`);
  const out = new Set<number>();
  for (const p of parts) {
    const range = /^(\d{1,4})-(\d{1,4})$/.exec(p);
    const [a, b] = range ? [Number(range[1]), Number(range[2])] : /^\d{1,4}$/.test(p) ? [Number(p), Number(p)] : [NaN, NaN];
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a > b) throw bad(`${flag}: "${p}" is not a replica id or range`, `give ids between 0 and ${n - 1}, e.g. ${flag} 0,1 or ${flag} 1-2`);
    if (b >= n) throw new CliError('UNKNOWN_REPLICA', `${flag}: unknown replica ${b}: this cluster has replicas 0-${n - 1}`, 'use ids from that range');
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** Parse TARGET: a replica id of the cluster or "primary". */
export function parseTarget(s: string | undefined, n: number): FaultTarget {
  if (s === undefined || s.trim() === '') throw bad('no TARGET given', `${USAGE}; list faults with: pbft fault list`);
  const t = s.trim();
  if (t === 'primary') return 'primary';
  if (!/^\d{1,6}$/.test(t)) throw bad(`"${s}" is not a replica id or "primary"`, `give a replica id between 0 and ${n - 1}, or primary`);
  const id = Number(t);
  if (id >= n) throw new CliError('UNKNOWN_REPLICA', `unknown replica ${id}: this cluster has replicas 0-${n - 1}`, 'use an id from that range, or primary');
  return id;
}

/**
 * Validate a fault command line against an n-replica cluster. Every problem is one line:
 * unknown action or strategy, a flag that the action does not take, out-of-range values.
 */
export function parseFaultArgs(a: FaultArgs, n: number): FaultRequest {
  const target = parseTarget(a.target, n);
  if (a.action === undefined || a.action.trim() === '') throw bad('no ACTION given', `actions: ${FAULT_ACTIONS.join(', ')}`);
  const action = a.action.trim() as FaultAction;
  if (!(FAULT_ACTIONS as readonly string[]).includes(action)) throw bad(`unknown action "${a.action}"`, `actions: ${FAULT_ACTIONS.join(', ')}`);
  const rest = a.rest ?? [];
  const takes: Record<FaultAction, readonly ('from' | 'ms' | 'jitter' | 'rate')[]> = {
    crash: [],
    restart: [],
    pause: [],
    resume: [],
    isolate: [],
    partition: ['from'],
    delay: ['ms', 'jitter'],
    drop: ['rate'],
    heal: ['from'],
    byzantine: [],
    clear: [],
  };
  for (const flag of ['from', 'ms', 'jitter', 'rate'] as const) {
    if (a[flag] !== undefined && !takes[action].includes(flag)) {
      const owners = FAULT_ACTIONS.filter((x) => takes[x].includes(flag));
      throw bad(`--${flag} does not apply to ${action}`, `--${flag} is for ${owners.join(' and ')}`);
    }
  }
  const req: FaultRequest = { target, action };
  if (action === 'byzantine') {
    const s = rest[0];
    if (s === undefined) throw bad('byzantine needs a STRATEGY', `strategies: ${STRATEGY_NAMES.join(', ')}`);
    if (!isStrategyName(s)) throw bad(`unknown Byzantine strategy "${s}"`, `strategies: ${STRATEGY_NAMES.join(', ')}`);
    if (rest.length > 1) throw bad(`byzantine takes one STRATEGY, but got ${rest.length} words (${rest.join(' ')})`);
    req.strategy = s;
  } else if (rest.length > 0) {
    throw bad(`${action} takes no further argument, but got "${rest.join(' ')}"`, USAGE);
  }
  if (a.from !== undefined) {
    const from = parsePeerList(a.from, n);
    if (typeof target === 'number' && from.includes(target)) throw bad(`--from lists the target replica ${target} itself`, 'list the replicas to cut it off from');
    req.from = from;
  }
  if (action === 'partition' && req.from === undefined) throw bad('partition needs --from IDS (the replicas to cut it off from)', 'e.g. pbft fault 3 partition --from 0,1');
  if (action === 'delay') {
    if (a.ms === undefined) throw bad('delay needs --ms M', 'e.g. pbft fault 2 delay --ms 50 --jitter 10');
    req.ms = parseNumber(a.ms, '--ms', { integer: true, min: 0, max: MAX_FAULT_DELAY_MS, unit: 'milliseconds' });
    if (a.jitter !== undefined) req.jitterMs = parseNumber(a.jitter, '--jitter', { integer: true, min: 0, max: MAX_FAULT_DELAY_MS, unit: 'milliseconds' });
  }
  if (action === 'drop') {
    if (a.rate === undefined) throw bad('drop needs --rate R (a fraction from 0 to 1)', 'e.g. pbft fault 2 drop --rate 0.3');
    req.rate = parseNumber(a.rate, '--rate', { integer: false, min: 0, max: 1, unit: 'a fraction of the messages' });
  }
  return req;
}

/** The signed control-channel command for a request, or null for signal actions. */
export function adminCommandFor(req: FaultRequest): AdminCommand | null {
  switch (req.action) {
    case 'isolate':
      return { kind: 'net', action: 'isolate' };
    case 'partition':
      return { kind: 'net', action: 'partition', peers: req.from ?? [] };
    case 'delay':
      return { kind: 'net', action: 'delay', ms: req.ms ?? 0, ...(req.jitterMs !== undefined ? { jitterMs: req.jitterMs } : {}) };
    case 'drop':
      return { kind: 'net', action: 'drop', rate: req.rate ?? 0 };
    case 'heal':
      return { kind: 'net', action: 'heal', ...(req.from ? { peers: req.from } : {}) };
    case 'byzantine':
      return { kind: 'byzantine', strategy: req.strategy ?? null };
    case 'clear':
      return { kind: 'clear' };
    default:
      return null;
  }
}

/** "label: text" lines (oclif's help wraps them to the terminal). */
export function labelledLines(items: [string, string][]): string {
  return items.map(([label, text]) => `${label}: ${text}`).join('\n');
}

/** Help text: the strategies. */
export function strategyHelp(): string {
  return labelledLines(STRATEGY_NAMES.map((s) => [s, STRATEGY_DESCRIPTIONS[s]]));
}

/** Help text: the actions. */
export function actionHelp(): string {
  const label = (a: FaultAction) =>
    a === 'partition' ? 'partition --from IDS' : a === 'delay' ? 'delay --ms M [--jitter J]' : a === 'drop' ? 'drop --rate R' : a === 'heal' ? 'heal [--from IDS]' : a === 'byzantine' ? 'byzantine STRATEGY' : a;
  return labelledLines(FAULT_ACTIONS.map((a) => [label(a), FAULT_ACTION_DESCRIPTIONS[a]]));
}

// ---------------------------------------------------------------------------------------
// Process state (signals)
// ---------------------------------------------------------------------------------------

/** running | paused (SIGSTOP) | crashed (killed by pbft fault) | stopped (clean stop) | down (no process) */
export type ProcessState = 'running' | 'paused' | 'crashed' | 'stopped' | 'down';

/** Is the process stopped by a signal (state T in /proc)? false when it cannot tell. */
export async function isPaused(pid: number): Promise<boolean> {
  try {
    const st = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    return state === 'T' || state === 't';
  } catch {
    return false;
  }
}

/** The last record of a replica's phase log, if any. */
export async function lastPhaseRecord(cluster: LoadedCluster, id: number): Promise<PhaseRecord | null> {
  const lines = await tailLines(cluster.paths.phases(id), 8);
  for (let i = lines.length - 1; i >= 0; i--) {
    const r = parsePhaseLine(lines[i]!);
    if (r) return r;
  }
  return null;
}

export interface ReplicaProcessInfo {
  id: number;
  state: ProcessState;
  pid: number | null;
}

/** What the process of replica `id` is doing, from its pid file, /proc and its phase log. */
export async function replicaRunState(cluster: LoadedCluster, id: number): Promise<ReplicaProcessInfo> {
  const p = await replicaProcessState(cluster.dir, id);
  if (p.running && p.pid !== null) return { id, state: (await isPaused(p.pid)) ? 'paused' : 'running', pid: p.pid };
  const last = await lastPhaseRecord(cluster, id);
  if (last?.phase === 'fault' && last.action === 'crash') return { id, state: 'crashed', pid: null };
  if (last?.phase === 'stop') return { id, state: 'stopped', pid: null };
  return { id, state: 'down', pid: null };
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // a replica started by pbft up leads its own process group
  } catch {
    process.kill(pid, sig); // started otherwise (tests): the process alone; throws if gone
  }
}

/** Why signal faults are refused on this replica, or null when they are allowed. */
export async function signalFaultsRefusal(cluster: LoadedCluster, id: number, pid: number | null): Promise<string | null> {
  if (!cluster.config.faultInjection) return `fault injection is disabled on replica ${id} (faultInjection is false in cluster.json)`;
  if (pid !== null) {
    try {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      if (args.includes('--no-faults')) return `fault injection is disabled on replica ${id} (it was started with pbft up --no-fault-injection)`;
    } catch {
      /* no procfs: the replica itself still refuses channel commands */
    }
  }
  try {
    if ((await loadReplicaOverrides(cluster, id)).faultInjection === false) return `fault injection is disabled on replica ${id} (faultInjection is false in its replica.json)`;
  } catch {
    /* a broken replica.json stops the replica itself from starting; not our concern here */
  }
  return null;
}

/** Append an operator-side `fault` record to the replica's phase log (it cannot write it itself). */
async function logSignalFault(cluster: LoadedCluster, id: number, action: FaultAction, detail: string): Promise<void> {
  const last = await lastPhaseRecord(cluster, id);
  const rec = { ts: Date.now(), replica: id, view: last?.view ?? 0, phase: 'fault', action, source: 'operator', detail };
  try {
    await appendFile(cluster.paths.phases(id), JSON.stringify(rec) + '\n', { mode: 0o644 });
  } catch {
    /* the phase log is for people; a missing directory must not fail the fault */
  }
}

async function waitGone(pid: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (!(await isAlive(pid))) return true;
    if (performance.now() >= until) return false;
    if (signal?.aborted) throw abortError(signal);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitPaused(pid: number, paused: boolean, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if ((await isPaused(pid)) === paused || !(await isAlive(pid))) return true;
    if (performance.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---------------------------------------------------------------------------------------
// The primary
// ---------------------------------------------------------------------------------------

export interface PrimaryInfo {
  primary: number;
  view: number;
  /** the replicas that report this view and primary (at least a quorum) */
  agreeing: number[];
  quorum: number;
}

/** Statuses of the replicas that answer (paused ones are skipped at once). */
async function reachableStatuses(cluster: LoadedCluster, o: { timeoutMs?: number; signal?: AbortSignal }): Promise<Map<number, RuntimeStatus>> {
  const out = new Map<number, RuntimeStatus>();
  await Promise.all(
    cluster.config.replicas.map(async (r) => {
      const p = await replicaRunState(cluster, r.id);
      if (p.state === 'paused') return;
      try {
        out.set(r.id, await fetchStatus(cluster, r.id, { timeoutMs: o.timeoutMs ?? 2000, ...(o.signal ? { signal: o.signal } : {}) }));
      } catch {
        /* down or unreachable: not counted */
      }
    }),
  );
  return out;
}

/**
 * The current primary: the one that a quorum of running replicas, none of them in the middle
 * of a view change, report. Throws NO_PRIMARY (with what was seen) when there is none.
 */
export async function resolvePrimary(cluster: LoadedCluster, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<PrimaryInfo> {
  const { quorum } = quorums(cluster.params.n, cluster.params.f);
  const st = await reachableStatuses(cluster, o);
  const groups = new Map<string, number[]>();
  for (const [id, s] of st) {
    if (s.viewChanging) continue;
    const k = `${s.view}/${s.primary}`;
    groups.set(k, [...(groups.get(k) ?? []), id]);
  }
  const best = [...groups.entries()].sort((a, b) => b[1].length - a[1].length)[0];
  if (best && best[1].length >= quorum) {
    const [view, primary] = best[0].split('/').map(Number) as [number, number];
    return { primary, view, agreeing: best[1].sort((a, b) => a - b), quorum };
  }
  const seen = [...st.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([id, s]) => `r${id}: view ${s.view}${s.viewChanging ? ' (view change)' : `, primary ${s.primary}`}`)
    .join('; ');
  throw new CliError(
    'NO_PRIMARY',
    `no primary that a quorum (${quorum}) of running replicas agree on: ${st.size === 0 ? 'no replica answered' : seen}`,
    st.size < quorum
      ? `start more replicas (${hintCmd('up', cluster.dir)}), or name a replica id instead of primary`
      : `wait for the view change to finish (${hintCmd('status', cluster.dir)}), or name a replica id instead of primary`,
  );
}

// ---------------------------------------------------------------------------------------
// Injecting a fault
// ---------------------------------------------------------------------------------------

export interface FaultOptions {
  /** per control-channel call (default 3000 ms) */
  timeoutMs?: number;
  /** restart: how long to wait for readiness (default 30000 ms) */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
  /** the operator key (default: read from keys/operator.key) */
  operatorSecret?: string;
  /** the replica program (tests) */
  entry?: string;
  /** warnings (restart: e.g. a key file readable by others) */
  warn?: (message: string) => void;
}

export interface FaultOutcome {
  /** the replica the fault was applied to */
  replica: number;
  /** as given: an id or "primary" */
  target: FaultTarget;
  /** when target was "primary": how it was resolved */
  primary?: PrimaryInfo;
  action: FaultAction;
  strategy?: StrategyName;
  /** false when there was nothing to do (e.g. resume of a running replica) */
  changed: boolean;
  message: string;
  /** the process after the fault */
  process: ReplicaProcessInfo;
  /** the faults in force on the replica after the fault, when it answered */
  faults: FaultState | null;
}

/** How to turn fault injection back on (the flag is --no-fault-injection / --fault-injection). */
export const FAULT_INJECTION_OFF_HINT =
  'to allow faults: "faultInjection": true in cluster.json and in the replica\'s replica.json, and a replica started without --no-fault-injection (pbft down ID, then pbft up ID)';

async function refuseIfDisabled(cluster: LoadedCluster, id: number, pid: number | null, action: FaultAction): Promise<void> {
  const why = await signalFaultsRefusal(cluster, id, pid);
  if (why) throw new PbftError('ADMIN_REFUSED', `cannot ${action} replica ${id}: ${why}`, { hint: FAULT_INJECTION_OFF_HINT });
}

/** Apply one fault. Throws a PbftError with a one-line message when it cannot. */
export async function injectFault(cluster: LoadedCluster, req: FaultRequest, o: FaultOptions = {}): Promise<FaultOutcome> {
  if (o.signal?.aborted) throw abortError(o.signal);
  const n = cluster.config.replicas.length;
  let primary: PrimaryInfo | undefined;
  let id: number;
  if (req.target === 'primary') {
    primary = await resolvePrimary(cluster, { timeoutMs: o.timeoutMs ?? 2000, ...(o.signal ? { signal: o.signal } : {}) });
    id = primary.primary;
  } else {
    if (!Number.isSafeInteger(req.target) || req.target < 0 || req.target >= n) throw new CliError('UNKNOWN_REPLICA', `unknown replica ${req.target}: this cluster has replicas 0-${n - 1}`);
    id = req.target;
  }
  if (req.from?.includes(id)) throw bad(`--from lists the target replica ${id} itself (the ${req.target === 'primary' ? 'current primary' : 'target'})`, 'list the replicas to cut it off from');
  const base = { replica: id, target: req.target, ...(primary ? { primary } : {}), action: req.action, ...(req.strategy ? { strategy: req.strategy } : {}) };
  const callOpts = { timeoutMs: o.timeoutMs ?? 3000, ...(o.signal ? { signal: o.signal } : {}), ...(o.operatorSecret ? { operatorSecret: o.operatorSecret } : {}) };
  const faultsNow = async (): Promise<FaultState | null> => {
    try {
      return (await fetchStatus(cluster, id, { timeoutMs: o.timeoutMs ?? 3000, ...(o.signal ? { signal: o.signal } : {}) })).faults;
    } catch {
      return null;
    }
  };
  const proc = await replicaRunState(cluster, id);
  const notRunning = () => {
    const how = proc.state === 'crashed' ? 'crashed by pbft fault' : proc.state === 'stopped' ? 'stopped' : 'no process';
    return new CliError('NOT_RUNNING', `replica ${id} is not running (${how})`, `start it with: ${hintCmd(`fault ${id} restart`, cluster.dir)} (or ${hintCmd(`up ${id}`, cluster.dir)})`);
  };

  switch (req.action) {
    case 'crash': {
      if (proc.pid === null) throw notRunning();
      await refuseIfDisabled(cluster, id, proc.pid, 'crash');
      const pid = proc.pid;
      // logged first, so that the merged log shows the crash before the peers' reactions
      await logSignalFault(cluster, id, 'crash', `crash: SIGKILL by the operator (pid ${pid})${proc.state === 'paused' ? ', while paused' : ''}`);
      try {
        signalGroup(pid, 'SIGKILL');
      } catch (e) {
        throw new PbftError('NOT_RUNNING', `replica ${id} (pid ${pid}) could not be killed: ${describeError(e)}`, { hint: `check it with ${hintCmd('status', cluster.dir)}` });
      }
      if (!(await waitGone(pid, 5000, o.signal))) throw new PbftError('STOP_FAILED', `replica ${id} (pid ${pid}) is still alive 5 s after SIGKILL`, { hint: `check it with: ps -p ${pid}` });
      await rm(replicaFiles(cluster.dir, id).pidFile, { force: true });
      return { ...base, changed: true, message: `replica ${id} crashed (SIGKILL to pid ${pid})`, process: { id, state: 'crashed', pid: null }, faults: null };
    }
    case 'restart': {
      if (proc.state === 'running' || proc.state === 'paused') {
        return {
          ...base,
          changed: false,
          message: `replica ${id} is already running (pid ${proc.pid}${proc.state === 'paused' ? `, paused: resume it with ${hintCmd(`fault ${id} resume`, cluster.dir)}` : ''}); nothing to restart`,
          process: proc,
          faults: proc.state === 'paused' ? null : await faultsNow(),
        };
      }
      const up = await upCluster(cluster, {
        ids: [id],
        readyTimeoutMs: o.readyTimeoutMs ?? 30_000,
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.entry ? { entry: o.entry } : {}),
        ...(o.warn ? { warn: o.warn } : {}),
      });
      const failure = upFailure(cluster, up);
      if (failure) throw failure;
      const out = up.outcomes[0];
      const after = await replicaRunState(cluster, id);
      if (out?.status === 'not-ready' && !up.quorumRunning)
        return { ...base, changed: true, message: `replica ${id} started (pid ${out.pid}); it becomes ready once ${up.quorum} replicas run (${up.running.length} do now; restart the others)`, process: after, faults: null };
      if (!out || out.status !== 'ready') throw new CliError('NOT_READY', `replica ${id} was started but is not ready`, 'check pbft status and its process.log');
      return { ...base, changed: true, message: `replica ${id} restarted (pid ${after.pid}) and ready${out.status === 'ready' ? ` in ${Math.round(out.readyMs)} ms` : ''}`, process: after, faults: await faultsNow() };
    }
    case 'pause': {
      if (proc.pid === null) throw notRunning();
      if (proc.state === 'paused') return { ...base, changed: false, message: `replica ${id} is already paused (pid ${proc.pid})`, process: proc, faults: null };
      await refuseIfDisabled(cluster, id, proc.pid, 'pause');
      const faults = await faultsNow();
      await logSignalFault(cluster, id, 'pause', `pause: SIGSTOP by the operator (pid ${proc.pid})`);
      signalGroup(proc.pid, 'SIGSTOP');
      await waitPaused(proc.pid, true, 2000);
      return { ...base, changed: true, message: `replica ${id} paused (SIGSTOP to pid ${proc.pid})`, process: { id, state: 'paused', pid: proc.pid }, faults };
    }
    case 'resume': {
      if (proc.pid === null) throw notRunning();
      if (proc.state !== 'paused') return { ...base, changed: false, message: `replica ${id} is not paused (pid ${proc.pid}); nothing to resume`, process: proc, faults: await faultsNow() };
      await logSignalFault(cluster, id, 'resume', `resume: SIGCONT by the operator (pid ${proc.pid})`);
      signalGroup(proc.pid, 'SIGCONT');
      await waitPaused(proc.pid, false, 2000);
      return { ...base, changed: true, message: `replica ${id} resumed (SIGCONT to pid ${proc.pid})`, process: { id, state: 'running', pid: proc.pid }, faults: await faultsNow() };
    }
    default: {
      if (proc.pid === null) throw notRunning();
      let resumed = false;
      if (proc.state === 'paused') {
        if (req.action !== 'clear')
          throw new CliError('REPLICA_PAUSED', `replica ${id} is paused (pid ${proc.pid}) and cannot take the command`, `resume it first: ${hintCmd(`fault ${id} resume`, cluster.dir)} (or clear it: ${hintCmd(`fault ${id} clear`, cluster.dir)})`);
        await logSignalFault(cluster, id, 'resume', `resume: SIGCONT by the operator (pid ${proc.pid}), for clear`);
        signalGroup(proc.pid, 'SIGCONT');
        await waitPaused(proc.pid, false, 2000);
        resumed = true;
      }
      const cmd = adminCommandFor(req)!;
      const r = await sendAdminCommand(cluster, id, cmd, callOpts);
      return {
        ...base,
        changed: true,
        message: `replica ${id}: ${resumed ? 'resumed, ' : ''}${r.message}`,
        process: { id, state: 'running', pid: proc.pid },
        faults: r.faults,
      };
    }
  }
}

/** One line for a person. */
export function formatFaultOutcome(r: FaultOutcome): string {
  const via = r.primary ? ` (the primary of view ${r.primary.view}, as replicas ${r.primary.agreeing.join(',')} report)` : '';
  const active = r.faults && r.faults.active.length ? `; faults in force: ${r.faults.active.join(', ')}` : '';
  return `${r.message}${via}${active}`;
}

// ---------------------------------------------------------------------------------------
// Listing faults
// ---------------------------------------------------------------------------------------

export interface ReplicaFaults {
  id: number;
  state: ProcessState;
  pid: number | null;
  /** it answered the status query */
  reachable: boolean;
  view: number | null;
  primary: number | null;
  /** fault commands accepted (null when it did not answer) */
  faultInjection: boolean | null;
  byzantine: string | null;
  byzantineCounters: Record<string, number>;
  net: FaultState['net'] | null;
  /** every fault in force, human-readable: process state first, then network and strategy */
  active: string[];
  error?: string;
}

export async function listFaults(cluster: LoadedCluster, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ReplicaFaults[]> {
  return Promise.all(
    cluster.config.replicas.map(async (r): Promise<ReplicaFaults> => {
      const p = await replicaRunState(cluster, r.id);
      const row: ReplicaFaults = { id: r.id, state: p.state, pid: p.pid, reachable: false, view: null, primary: null, faultInjection: null, byzantine: null, byzantineCounters: {}, net: null, active: [] };
      if (p.state === 'paused') row.active.push('paused');
      if (p.state === 'crashed') row.active.push('crashed');
      if (p.state !== 'running') return row;
      try {
        const s = await fetchStatus(cluster, r.id, { timeoutMs: o.timeoutMs ?? 2000, ...(o.signal ? { signal: o.signal } : {}) });
        return {
          ...row,
          reachable: true,
          view: s.view,
          primary: s.primary,
          faultInjection: s.faults.enabled,
          byzantine: s.faults.byzantine,
          byzantineCounters: s.faults.byzantineCounters,
          net: s.faults.net,
          active: [...row.active, ...s.faults.active],
        };
      } catch (e) {
        return { ...row, error: describeError(e) };
      }
    }),
  );
}

export function formatFaultList(rows: ReplicaFaults[], p: Palette): string {
  const stateCell = (r: ReplicaFaults) =>
    r.state === 'running' ? (r.reachable ? p.paint('32', 'running') : p.paint('33', 'no answer')) : r.state === 'paused' || r.state === 'crashed' ? p.paint('31', r.state) : p.paint('2', r.state);
  const counters = (c: Record<string, number>) =>
    Object.entries(c)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, v]) => `${k}:${v}`)
      .join(' ');
  const out = [
    table(
      ['replica', 'process', 'pid', 'view', 'faults in force', 'strategy did', 'injection'],
      rows.map((r) => {
        const net = r.active.filter((a) => a !== 'paused' && a !== 'crashed');
        return [
          String(r.id) + (r.reachable && r.primary === r.id ? ' (primary)' : ''),
          stateCell(r),
          r.pid !== null ? String(r.pid) : '-',
          r.view !== null ? String(r.view) : '-',
          net.length ? p.paint('31', net.join(', ')) : r.reachable ? 'none' : '-',
          r.byzantine ? counters(r.byzantineCounters) || '(nothing yet)' : '-',
          r.faultInjection === null ? '-' : r.faultInjection ? 'on' : 'off',
        ];
      }),
      ['l', 'l', 'r', 'r', 'l', 'l', 'l'],
    ),
  ];
  for (const r of rows) if (r.error) out.push(p.paint('33', `replica ${r.id}: running (pid ${r.pid}) but ${r.error}`));
  const faulty = rows.filter((r) => r.active.length > 0).length;
  out.push('');
  out.push(faulty === 0 ? 'No faults in force.' : `${faulty} of ${rows.length} replicas have faults in force; lift them with: pbft fault <id> clear (and restart crashed ones: pbft fault <id> restart)`);
  return out.join('\n');
}
