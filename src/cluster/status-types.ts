/**
 * The shapes of `pbft status`'s rows and summary (src/cluster/status.ts), without Node or DOM
 * imports: the web page (web/src) reads the same types from what `pbft web` sends it.
 */

/** running | paused (SIGSTOP) | crashed (killed by pbft fault) | stopped (clean stop) | down (no process) */
export type ProcessState = 'running' | 'paused' | 'crashed' | 'stopped' | 'down';

/** One replica as pbft status reports it, but for its full runtime status (ReplicaRow.status). */
export interface ReplicaCard {
  id: number;
  host: string;
  port: number;
  /** a replica process is running (pid file + live process) or it answered */
  up: boolean;
  pid: number | null;
  /** it answered the status query */
  reachable: boolean;
  error?: string;
  view: number | null;
  primary: number | null;
  viewChanging: boolean | null;
  lastExecuted: number | null;
  stableCheckpoint: number | null;
  stateDigest: string | null;
  connectedPeers: number[] | null;
  /** dropped messages by reason: core (ignored + rejected), transport and runtime */
  dropped: Record<string, number>;
  /** faults in force, human-readable (issue 4) */
  faults: string[];
  /** the process: running, paused (SIGSTOP), crashed (pbft fault), stopped or down */
  process: ProcessState;
}

/**
 * The health of a cluster, from one status round:
 *
 * - healthy (exit 0): every replica answers, and none has faults in force;
 * - degraded (exit 7): a quorum (2f+1) answers, but some replica does not (down, crashed,
 *   paused or silent), or has faults in force;
 * - no-quorum (exit 5): fewer than a quorum answer: requests cannot complete;
 * - down (exit 4): no replica process is running.
 */
export type Health = 'healthy' | 'degraded' | 'no-quorum' | 'down';

export interface StatusSummary {
  n: number;
  f: number;
  /** replicas with a live process (paused ones included) */
  up: number;
  /** replicas that answered the status query */
  reachable: number;
  answering: number[];
  quorum: number;
  /** processes stopped with SIGSTOP (pbft fault ID pause): alive, but they answer nothing */
  paused: number[];
  /** no process: stopped, crashed or never started */
  notRunning: number[];
  /** a live, not paused process that did not answer */
  silent: number[];
  /** answering replicas with faults in force (network faults, a Byzantine strategy) */
  faulty: number[];
  /** fewer than a quorum answer: no request can complete */
  belowQuorum: boolean;
  health: Health;
  /** the exit code of pbft status for this health */
  exitCode: number;
  /** the highest view any reachable replica is in */
  view: number | null;
  /** the replicas that agree on the most common (lastExecuted, stateDigest) */
  agreeing: number[];
  /** every reachable replica has the same lastExecuted and stateDigest */
  converged: boolean;
  /** one line per problem, most serious first */
  warnings: string[];
  /** commands that fix the problems, as they can be run */
  advice: string[];
}
