/**
 * What `pbft fault TARGET ACTION` asks for: the actions, one request type per action (a
 * discriminated union on `action`), the validation of a command line into a request, and the
 * signed control-channel command that carries each network or Byzantine fault.
 */
import type { AdminCommand } from '../runtime/admin.js';
import type { NetLink } from '../runtime/wire.js';
import { STRATEGY_NAMES, isStrategyName, type StrategyName } from '../byzantine/index.js';
import { CliError } from './errors.js';
import { parseReplicaIds, parseReplicaTarget, type ReplicaTarget } from './ids.js';

export const FAULT_ACTIONS = ['crash', 'restart', 'pause', 'resume', 'isolate', 'partition', 'delay', 'drop', 'heal', 'byzantine', 'clear'] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];

export const FAULT_ACTION_DESCRIPTIONS: Record<FaultAction, string> = {
  crash: 'kill the replica process (SIGKILL to its process group)',
  restart: 'start a crashed replica again, as pbft up does, and wait until it is ready',
  pause: 'freeze the process (SIGSTOP); it keeps its sockets but answers nothing',
  resume: 'unfreeze a paused process (SIGCONT)',
  isolate: 'drop all its traffic, to and from replicas and clients',
  partition: 'drop the traffic between it and the replicas given with --from (the word clients: every client)',
  delay: 'delay its traffic by --ms milliseconds (plus or minus --jitter); --link replicas|clients for one kind of link',
  drop: 'drop a fraction --rate of its traffic at random; --link replicas|clients for one kind of link',
  heal: 'lift every network fault on it (or, with --from, only that partition)',
  byzantine: 'switch it to a Byzantine strategy from the shared catalogue',
  clear: 'make it honest and healthy again: network faults and strategy lifted, resumed if paused',
};

/** The largest delay/jitter a replica accepts (src/runtime/wire.ts). */
export const MAX_FAULT_DELAY_MS = 60_000;

/** A replica id, or "primary": the primary that a quorum of running replicas report. */
export type FaultTarget = ReplicaTarget;

/** What each action takes besides its target. */
interface FaultParams {
  crash: object;
  restart: object;
  pause: object;
  resume: object;
  isolate: object;
  /** the peers to cut the target off from, and/or every client */
  partition: { from: number[]; clients?: true };
  /** `link`: only the links to replicas, or only those to clients (default both) */
  delay: { ms: number; jitterMs?: number; link?: NetLink };
  /** the fraction of messages dropped, 0..1 */
  drop: { rate: number; link?: NetLink };
  /** without `from`, every network fault is lifted; with it, only the partition from those peers (or clients) */
  heal: { from?: number[]; clients?: true };
  byzantine: { strategy: StrategyName };
  clear: object;
}

/** The request for one action, e.g. FaultRequestOf<'delay'> = {target, action: 'delay', ms, jitterMs?}. */
export type FaultRequestOf<A extends FaultAction> = { target: FaultTarget; action: A } & FaultParams[A];

/** One fault to inject: one type per action, told apart by `action`. */
export type FaultRequest = { [A in FaultAction]: FaultRequestOf<A> }[FaultAction];

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
  link?: string;
}

type OptionFlag = 'from' | 'ms' | 'jitter' | 'rate' | 'link';

/** The flags each action takes. */
const TAKES: Record<FaultAction, readonly OptionFlag[]> = {
  crash: [],
  restart: [],
  pause: [],
  resume: [],
  isolate: [],
  partition: ['from'],
  delay: ['ms', 'jitter', 'link'],
  drop: ['rate', 'link'],
  heal: ['from'],
  byzantine: [],
  clear: [],
};

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

const delayMs = (v: string | number, flag: string) => parseNumber(v, flag, { integer: true, min: 0, max: MAX_FAULT_DELAY_MS, unit: 'milliseconds' });

/** The error for a --from list that names the target itself. */
export function fromListsTarget(id: number, why = ''): CliError {
  return bad(`--from lists the target replica ${id} itself${why}`, 'list the replicas to cut it off from');
}

/**
 * Validate a fault command line against an n-replica cluster. Every problem is one line:
 * unknown action or strategy, a flag that the action does not take, out-of-range values.
 */
export function parseFaultArgs(a: FaultArgs, n: number): FaultRequest {
  if (a.target === undefined || a.target.trim() === '') throw bad('no TARGET given', `${USAGE}; list faults with: pbft fault list`);
  const target = parseReplicaTarget(a.target, n);
  if (a.action === undefined || a.action.trim() === '') throw bad('no ACTION given', `actions: ${FAULT_ACTIONS.join(', ')}`);
  const action = a.action.trim() as FaultAction;
  if (!(FAULT_ACTIONS as readonly string[]).includes(action)) throw bad(`unknown action "${a.action}"`, `actions: ${FAULT_ACTIONS.join(', ')}`);
  const rest = a.rest ?? [];
  for (const flag of ['from', 'ms', 'jitter', 'rate', 'link'] as const) {
    if (a[flag] !== undefined && !TAKES[action].includes(flag)) {
      const owners = FAULT_ACTIONS.filter((x) => TAKES[x].includes(flag));
      throw bad(`--${flag} does not apply to ${action}`, `--${flag} is for ${owners.join(' and ')}`);
    }
  }
  let strategy: StrategyName | undefined;
  if (action === 'byzantine') {
    const s = rest[0];
    if (s === undefined) throw bad('byzantine needs a STRATEGY', `strategies: ${STRATEGY_NAMES.join(', ')}`);
    if (!isStrategyName(s)) throw bad(`unknown Byzantine strategy "${s}"`, `strategies: ${STRATEGY_NAMES.join(', ')}`);
    if (rest.length > 1) throw bad(`byzantine takes one STRATEGY, but got ${rest.length} words (${rest.join(' ')})`);
    strategy = s;
  } else if (rest.length > 0) {
    throw bad(`${action} takes no further argument, but got "${rest.join(' ')}"`, USAGE);
  }
  let from: number[] | undefined;
  let clients = false;
  if (a.from !== undefined) {
    // the word "clients" names every client; the rest are replica ids
    const words = a.from.split(',').map((w) => w.trim());
    clients = words.includes('clients');
    const ids = words.filter((w) => w !== 'clients');
    from = ids.length > 0 ? parseReplicaIds([ids.join(',')], n, { flag: '--from' }) : [];
    if (typeof target === 'number' && from.includes(target)) throw fromListsTarget(target);
  }
  let link: NetLink | undefined;
  if (a.link !== undefined) {
    const l = a.link.trim();
    if (l !== 'replicas' && l !== 'clients') throw bad(`--link must be replicas or clients, got "${a.link}"`, 'without --link, both kinds of link');
    link = l;
  }
  const onLink = link !== undefined ? { link } : {};
  switch (action) {
    case 'partition':
      if (from === undefined)
        throw bad('partition needs --from IDS (the replicas to cut it off from, or clients)', 'e.g. pbft fault 3 partition --from 0,1, or --from clients');
      return { target, action, from, ...(clients ? { clients: true as const } : {}) };
    case 'heal':
      return { target, action, ...(from !== undefined ? { from } : {}), ...(clients ? { clients: true as const } : {}) };
    case 'delay': {
      if (a.ms === undefined) throw bad('delay needs --ms M', 'e.g. pbft fault 2 delay --ms 50 --jitter 10');
      const ms = delayMs(a.ms, '--ms');
      return { target, action, ms, ...(a.jitter !== undefined ? { jitterMs: delayMs(a.jitter, '--jitter') } : {}), ...onLink };
    }
    case 'drop':
      if (a.rate === undefined) throw bad('drop needs --rate R (a fraction from 0 to 1)', 'e.g. pbft fault 2 drop --rate 0.3');
      return { target, action, rate: parseNumber(a.rate, '--rate', { integer: false, min: 0, max: 1, unit: 'a fraction of the messages' }), ...onLink };
    case 'byzantine':
      return { target, action, strategy: strategy! };
    default:
      return { target, action };
  }
}

/** The peers of a request that names some (partition, and heal --from). */
export function faultPeers(req: FaultRequest): number[] | undefined {
  return req.action === 'partition' || req.action === 'heal' ? req.from : undefined;
}

/** The signed control-channel command for a request, or null for signal actions. */
export function adminCommandFor(req: FaultRequest): AdminCommand | null {
  switch (req.action) {
    case 'isolate':
      return { kind: 'net', action: 'isolate' };
    case 'partition':
      return { kind: 'net', action: 'partition', ...(req.from.length > 0 ? { peers: req.from } : {}), ...(req.clients ? { clients: true } : {}) };
    case 'delay':
      return {
        kind: 'net',
        action: 'delay',
        ms: req.ms,
        ...(req.jitterMs !== undefined ? { jitterMs: req.jitterMs } : {}),
        ...(req.link ? { link: req.link } : {}),
      };
    case 'drop':
      return { kind: 'net', action: 'drop', rate: req.rate, ...(req.link ? { link: req.link } : {}) };
    case 'heal':
      return { kind: 'net', action: 'heal', ...(req.from?.length ? { peers: req.from } : {}), ...(req.clients ? { clients: true } : {}) };
    case 'byzantine':
      return { kind: 'byzantine', strategy: req.strategy };
    case 'clear':
      return { kind: 'clear' };
    case 'crash':
    case 'restart':
    case 'pause':
    case 'resume':
      return null;
  }
}
