/**
 * `pbft fault TARGET ACTION` as a library call (issue 4): injecting one fault.
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
 * A replica logs the faults it receives in its phase log; for one that is killed or stopped,
 * this library writes the `fault` record (fault-state.ts).
 *
 * The other parts of pbft fault:
 *   fault-request.ts  the actions, FaultRequest (one type per action), command-line validation
 *   fault-state.ts    a replica's process state (running, paused, crashed, stopped, down)
 *   fault-primary.ts  which replica "primary" is
 *   fault-list.ts     pbft fault list
 *   fault-format.ts   help text and output
 *   ids.ts            replica ids; processes.ts: signals and /proc
 */
import { rm } from 'node:fs/promises';
import { fetchStatus, sendAdminCommand, type FaultState } from '../runtime/admin.js';
import type { LoadedCluster } from '../runtime/config.js';
import type { StrategyName } from '../byzantine/index.js';
import { PbftError, abortError, describeError } from '../errors.js';
import { CliError } from './errors.js';
import { adminCommandFor, faultPeers, fromListsTarget, type FaultAction, type FaultRequest, type FaultTarget } from './fault-request.js';
import { resolvePrimary, type PrimaryInfo } from './fault-primary.js';
import { logSignalFault, replicaRunState, signalFaultsRefusal, type ReplicaProcessInfo } from './fault-state.js';
import { checkReplicaId } from './ids.js';
import { replicaFiles, signalGroup, waitGone, waitPaused } from './processes.js';
import { upCluster, upFailure } from './lifecycle.js';
import { cmd as hintCmd } from './hints.js';

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
    id = checkReplicaId(req.target, n);
  }
  if (faultPeers(req)?.includes(id)) throw fromListsTarget(id, ` (the ${req.target === 'primary' ? 'current primary' : 'target'})`);
  const base = {
    replica: id,
    target: req.target,
    ...(primary ? { primary } : {}),
    action: req.action,
    ...(req.action === 'byzantine' ? { strategy: req.strategy } : {}),
  };
  const callOpts = {
    timeoutMs: o.timeoutMs ?? 3000,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.operatorSecret ? { operatorSecret: o.operatorSecret } : {}),
  };
  const faultsNow = async (): Promise<FaultState | null> => {
    try {
      return (await fetchStatus(cluster, id, { timeoutMs: o.timeoutMs ?? 3000, ...(o.signal ? { signal: o.signal } : {}) })).faults;
    } catch {
      return null;
    }
  };
  const proc = await replicaRunState(cluster, id);
  /** a signal to the replica's process group; NOT_RUNNING when it cannot be sent (the process is gone, or not ours) */
  const signal = (pid: number, sig: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT') => {
    try {
      signalGroup(pid, sig);
    } catch (e) {
      const done = sig === 'SIGKILL' ? 'killed' : sig === 'SIGSTOP' ? 'paused' : 'resumed';
      throw new PbftError('NOT_RUNNING', `replica ${id} (pid ${pid}) could not be ${done}: ${describeError(e)}`, {
        hint: `check it with ${hintCmd('status', cluster.dir)}`,
      });
    }
  };
  /** SIGSTOP or SIGCONT, then wait (at most 2 s) until /proc shows the process stopped or running */
  const setPaused = async (pid: number, paused: boolean) => {
    signal(pid, paused ? 'SIGSTOP' : 'SIGCONT');
    await waitPaused(pid, paused, 2000);
  };
  const notRunning = () => {
    const how = proc.state === 'crashed' ? 'crashed by pbft fault' : proc.state === 'stopped' ? 'stopped' : 'no process';
    return new CliError(
      'NOT_RUNNING',
      `replica ${id} is not running (${how})`,
      `start it with: ${hintCmd(`fault ${id} restart`, cluster.dir)} (or ${hintCmd(`up ${id}`, cluster.dir)})`,
    );
  };

  switch (req.action) {
    case 'crash': {
      if (proc.pid === null) throw notRunning();
      await refuseIfDisabled(cluster, id, proc.pid, 'crash');
      const pid = proc.pid;
      // logged first, so that the merged log shows the crash before the peers' reactions
      await logSignalFault(cluster, id, 'crash', `crash: SIGKILL by the operator (pid ${pid})${proc.state === 'paused' ? ', while paused' : ''}`);
      signal(pid, 'SIGKILL');
      if (!(await waitGone(pid, 5000, o.signal)))
        throw new PbftError('STOP_FAILED', `replica ${id} (pid ${pid}) is still alive 5 s after SIGKILL`, { hint: `check it with: ps -p ${pid}` });
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
        return {
          ...base,
          changed: true,
          message: `replica ${id} started (pid ${out.pid}); it becomes ready once ${up.quorum} replicas run (${up.running.length} do now; restart the others)`,
          process: after,
          faults: null,
        };
      if (out?.status !== 'ready') throw new CliError('NOT_READY', `replica ${id} was started but is not ready`, 'check pbft status and its process.log');
      return {
        ...base,
        changed: true,
        message: `replica ${id} restarted (pid ${after.pid}) and ready${out.status === 'ready' ? ` in ${Math.round(out.readyMs)} ms` : ''}`,
        process: after,
        faults: await faultsNow(),
      };
    }
    case 'pause': {
      if (proc.pid === null) throw notRunning();
      if (proc.state === 'paused')
        return { ...base, changed: false, message: `replica ${id} is already paused (pid ${proc.pid})`, process: proc, faults: null };
      await refuseIfDisabled(cluster, id, proc.pid, 'pause');
      const faults = await faultsNow();
      await logSignalFault(cluster, id, 'pause', `pause: SIGSTOP by the operator (pid ${proc.pid})`);
      await setPaused(proc.pid, true);
      return { ...base, changed: true, message: `replica ${id} paused (SIGSTOP to pid ${proc.pid})`, process: { id, state: 'paused', pid: proc.pid }, faults };
    }
    case 'resume': {
      if (proc.pid === null) throw notRunning();
      if (proc.state !== 'paused')
        return {
          ...base,
          changed: false,
          message: `replica ${id} is not paused (pid ${proc.pid}); nothing to resume`,
          process: proc,
          faults: await faultsNow(),
        };
      await logSignalFault(cluster, id, 'resume', `resume: SIGCONT by the operator (pid ${proc.pid})`);
      await setPaused(proc.pid, false);
      return {
        ...base,
        changed: true,
        message: `replica ${id} resumed (SIGCONT to pid ${proc.pid})`,
        process: { id, state: 'running', pid: proc.pid },
        faults: await faultsNow(),
      };
    }
    default: {
      if (proc.pid === null) throw notRunning();
      let resumed = false;
      if (proc.state === 'paused') {
        if (req.action !== 'clear')
          throw new CliError(
            'REPLICA_PAUSED',
            `replica ${id} is paused (pid ${proc.pid}) and cannot take the command`,
            `resume it first: ${hintCmd(`fault ${id} resume`, cluster.dir)} (or clear it: ${hintCmd(`fault ${id} clear`, cluster.dir)})`,
          );
        await logSignalFault(cluster, id, 'resume', `resume: SIGCONT by the operator (pid ${proc.pid}), for clear`);
        await setPaused(proc.pid, false);
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
