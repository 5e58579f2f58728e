/**
 * `pbft status` as a library call: every replica's pid file and liveness, plus what it
 * reports on its admin channel (view, primary, lastExecuted, checkpoint, digest, peers, drops).
 */
import { fetchStatus, type RuntimeStatus } from '../runtime/admin.js';
import type { LoadedCluster } from '../runtime/config.js';
import { describeError } from '../errors.js';
import { quorums } from '../core/quorum.js';
import { replicaProcessState } from './processes.js';
import { table, type Palette } from './format.js';
import { replicaRunState } from './fault-state.js';
import type { Health, ProcessState, ReplicaCard, StatusSummary } from './status-types.js';
import { EXIT } from './errors.js';
import { cmd } from './hints.js';

export type { Health, ReplicaCard, StatusSummary } from './status-types.js';

/** A replica's row: what pbft status shows, and its full runtime status when it answered. */
export interface ReplicaRow extends ReplicaCard {
  /** the full status as reported, when reachable */
  status?: RuntimeStatus;
}

function addCounts(into: Record<string, number>, from: Record<string, number | undefined> | undefined, prefix = ''): void {
  for (const [k, v] of Object.entries(from ?? {})) if (typeof v === 'number' && v > 0) into[prefix + k] = (into[prefix + k] ?? 0) + v;
}

export function droppedByReason(s: RuntimeStatus): Record<string, number> {
  const out: Record<string, number> = {};
  addCounts(out, s.dropped?.ignore);
  addCounts(out, s.dropped?.reject);
  addCounts(out, s.transportDropped);
  addCounts(out, s.runtimeDropped);
  return out;
}

/**
 * The row of a replica that did not answer: its address and what is known of its process, null
 * for everything it would have reported. By default no process at all ('down'), as `pbft verify`
 * reports every replica when the status round itself fails.
 */
export function unansweredRow(
  r: { id: number; host: string; port: number },
  p: { up?: boolean; pid?: number | null; faults?: string[]; process?: ProcessState } = {},
): ReplicaRow {
  return {
    id: r.id,
    host: r.host,
    port: r.port,
    up: p.up ?? false,
    pid: p.pid ?? null,
    reachable: false,
    view: null,
    primary: null,
    viewChanging: null,
    lastExecuted: null,
    stableCheckpoint: null,
    stateDigest: null,
    connectedPeers: null,
    dropped: {},
    faults: p.faults ?? [],
    process: p.process ?? 'down',
  };
}

export async function clusterStatus(cluster: LoadedCluster, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ReplicaRow[]> {
  return Promise.all(
    cluster.config.replicas.map(async (r): Promise<ReplicaRow> => {
      const proc = await replicaProcessState(cluster.dir, r.id);
      const run = await replicaRunState(cluster, r.id);
      const base = unansweredRow(r, {
        up: proc.running,
        pid: proc.pid,
        faults: run.state === 'paused' || run.state === 'crashed' ? [run.state] : [],
        process: run.state,
      });
      if (run.state === 'paused') return base; // a stopped process cannot answer
      let s: RuntimeStatus;
      try {
        s = await fetchStatus(cluster, r.id, { timeoutMs: o.timeoutMs ?? 2000, ...(o.signal ? { signal: o.signal } : {}) });
      } catch (e) {
        // a replica without a process is simply down; one with a process that does not answer is worth a note
        return proc.running ? { ...base, error: describeError(e) } : base;
      }
      return {
        ...base,
        up: true,
        pid: s.pid ?? proc.pid,
        reachable: true,
        view: s.view,
        primary: s.primary,
        viewChanging: s.viewChanging,
        lastExecuted: s.lastExecuted,
        stableCheckpoint: s.stableCheckpoint,
        stateDigest: s.stateDigest,
        connectedPeers: s.connectedPeers ?? [],
        dropped: droppedByReason(s),
        // a replica recovering from a damaged log does not vote yet: it counts against f
        faults: [...(s.faults?.active ?? []), ...(s.recovery ? [`recovering from a damaged durable log (${s.recovery.phase})`] : [])],
        status: s,
      };
    }),
  );
}

export const HEALTH_EXIT: Record<Health, number> = { healthy: EXIT.ok, degraded: EXIT.degraded, 'no-quorum': EXIT.noQuorum, down: EXIT.down };

function ids(list: number[]): string {
  return list.join(', ');
}

export function summarizeStatus(cluster: LoadedCluster, rows: ReplicaRow[]): StatusSummary {
  const n = rows.length;
  const f = cluster.params.f;
  const reach = rows.filter((r) => r.reachable);
  const groups = new Map<string, number[]>();
  for (const r of reach) {
    const k = `${r.lastExecuted}/${r.stateDigest}`;
    groups.set(k, [...(groups.get(k) ?? []), r.id]);
  }
  const agreeing = [...groups.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const quorum = quorums(cluster.config.replicas.length, f).quorum;
  const paused = rows.filter((r) => r.process === 'paused').map((r) => r.id);
  const notRunning = rows.filter((r) => !r.reachable && !r.up && r.process !== 'paused').map((r) => r.id);
  const silent = rows.filter((r) => !r.reachable && r.up && r.process !== 'paused').map((r) => r.id);
  const faulty = reach.filter((r) => r.faults.length > 0).map((r) => r.id);
  const belowQuorum = reach.length < quorum;
  const anyProcess = rows.some((r) => r.up || r.process === 'paused');
  const health: Health =
    !anyProcess && reach.length === 0 ? 'down' : belowQuorum ? 'no-quorum' : reach.length < n || faulty.length > 0 ? 'degraded' : 'healthy';

  const warnings: string[] = [];
  const advice: string[] = [];
  if (health === 'down') {
    warnings.push(`the cluster is down: no replica is running`);
    advice.push(`start it: ${cmd('up', cluster.dir)}`);
  } else if (belowQuorum) {
    warnings.push(
      `below quorum: ${reach.length} of ${n} replicas answer and ${quorum} are needed, so no request can complete (one sent now waits, and may still execute once a quorum is back)`,
    );
  } else if (reach.length < n) {
    const left = Math.max(0, f - (n - reach.length));
    warnings.push(
      `${n - reach.length} of ${n} replicas do not answer: requests still complete, but the cluster tolerates ${left === 0 ? 'no further fault' : `only ${left} more fault${left === 1 ? '' : 's'}`} (f = ${f} with every replica up)`,
    );
  }
  if (paused.length) {
    warnings.push(`replica${paused.length > 1 ? 's' : ''} ${ids(paused)} ${paused.length > 1 ? 'are' : 'is'} paused (SIGSTOP): running, but answering nothing`);
    advice.push(`resume: ${paused.map((id) => cmd(`fault ${id} resume`, cluster.dir)).join('; ')}`);
  }
  if (notRunning.length && health !== 'down') {
    const crashed = rows.filter((r) => notRunning.includes(r.id) && r.process === 'crashed').map((r) => r.id);
    warnings.push(
      `replica${notRunning.length > 1 ? 's' : ''} ${ids(notRunning)} ${notRunning.length > 1 ? 'are' : 'is'} not running${crashed.length ? ` (${ids(crashed)} crashed by pbft fault)` : ''}`,
    );
    advice.push(`start: ${cmd(`up ${notRunning.join(' ')}`, cluster.dir)}`);
  }
  if (silent.length) {
    warnings.push(`replica${silent.length > 1 ? 's' : ''} ${ids(silent)} ${silent.length > 1 ? 'run but do' : 'runs but does'} not answer`);
    advice.push(`look at its output: ${silent.map((id) => cmd(`logs --process ${id}`, cluster.dir)).join('; ')}`);
  }
  const changing = reach.filter((r) => r.viewChanging).map((r) => r.id);
  if (changing.length) warnings.push(`a view change is under way on replica${changing.length > 1 ? 's' : ''} ${ids(changing)} (requests wait until it ends)`);
  if (faulty.length) {
    warnings.push(`faults in force on replica${faulty.length > 1 ? 's' : ''} ${ids(faulty)}`);
    advice.push(`lift them: ${faulty.map((id) => cmd(`fault ${id} clear`, cluster.dir)).join('; ')}`);
  }
  return {
    n,
    f,
    up: rows.filter((r) => r.up).length,
    reachable: reach.length,
    answering: reach.map((r) => r.id),
    quorum,
    paused,
    notRunning,
    silent,
    faulty,
    belowQuorum,
    health,
    exitCode: HEALTH_EXIT[health],
    view: reach.length ? Math.max(...reach.map((r) => r.view ?? 0)) : null,
    agreeing,
    converged: reach.length > 0 && groups.size === 1,
    warnings,
    advice,
  };
}

/** "stale:3 duplicate:2" (most frequent first, at most `max` reasons) */
export function formatDropped(d: Record<string, number>, max = 3): string {
  const e = Object.entries(d).sort((a, b) => b[1] - a[1]);
  if (e.length === 0) return '0';
  const shown = e.slice(0, max).map(([k, v]) => `${k}:${v}`);
  if (e.length > max) shown.push(`+${e.slice(max).reduce((s, [, v]) => s + v, 0)}`);
  return shown.join(' ');
}

/**
 * Poll the status until every replica in `expect` answers with the same lastExecuted (at least
 * `minExecuted`) and stateDigest, or the timeout passes. Returns the last rows either way.
 */
export async function waitConverged(
  cluster: LoadedCluster,
  o: { expect?: number[]; minExecuted?: number; timeoutMs?: number; pollMs?: number; signal?: AbortSignal } = {},
): Promise<{ converged: boolean; rows: ReplicaRow[] }> {
  const expect = o.expect ?? cluster.config.replicas.map((r) => r.id);
  const until = performance.now() + (o.timeoutMs ?? 5000);
  for (;;) {
    const rows = await clusterStatus(cluster, { timeoutMs: 1000, ...(o.signal ? { signal: o.signal } : {}) });
    const mine = rows.filter((r) => expect.includes(r.id));
    const first = mine[0];
    const converged =
      first !== undefined &&
      mine.every((r) => r.reachable && r.lastExecuted === first.lastExecuted && r.stateDigest === first.stateDigest) &&
      (first.lastExecuted ?? 0) >= (o.minExecuted ?? 0);
    if (converged || performance.now() >= until || o.signal?.aborted) return { converged, rows };
    await new Promise((r) => setTimeout(r, o.pollMs ?? 100));
  }
}

/** The status table (one row per replica). */
export function formatStatusTable(rows: ReplicaRow[], p: Palette): string {
  const dash = '-';
  const stateCell = (r: ReplicaRow) =>
    r.reachable
      ? p.paint('32', 'up')
      : r.process === 'paused' || r.process === 'crashed'
        ? p.paint('31', r.process)
        : r.up
          ? p.paint('33', 'no answer')
          : p.paint('31', 'down');
  const lines = [
    table(
      ['replica', 'state', 'pid', 'view', 'primary', 'last exec', 'stable ckpt', 'state digest', 'peers', 'faults', 'dropped'],
      rows.map((r) => [
        String(r.id),
        stateCell(r) + (r.viewChanging ? p.paint('33', ' (view change)') : ''),
        r.pid !== null ? String(r.pid) : dash,
        r.view !== null ? String(r.view) : dash,
        r.primary !== null ? String(r.primary) : dash,
        r.lastExecuted !== null ? String(r.lastExecuted) : dash,
        r.stableCheckpoint !== null ? String(r.stableCheckpoint) : dash,
        r.stateDigest !== null ? r.stateDigest.slice(0, 12) : dash,
        r.connectedPeers !== null ? r.connectedPeers.join(',') || 'none' : dash,
        r.reachable ? (r.faults.length ? p.paint('31', r.faults.join(', ')) : 'none') : dash,
        r.reachable ? formatDropped(r.dropped) : dash,
      ]),
      ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'l', 'l', 'l', 'l'],
    ),
  ];
  for (const r of rows) if (r.error) lines.push(p.paint('33', `replica ${r.id}: running (pid ${r.pid}) but ${r.error}`));
  return lines.join('\n');
}

/**
 * A sentence on how many replicas answer, the view and whether they agree; then a warning line
 * per problem and the commands that fix them.
 */
export function formatStatusSummary(sum: StatusSummary, rows: ReplicaRow[], p?: Palette): string {
  const warn = (l: string) => (p ? p.paint('33', l) : l);
  const lines: string[] = [];
  if (sum.reachable === 0) {
    lines.push(sum.health === 'down' ? `All ${sum.n} replicas are down.` : `No replica answers (0/${sum.n}; a quorum needs ${sum.quorum}).`);
  } else {
    const agree = sum.converged
      ? `all ${sum.reachable} answering replicas at lastExecuted ${rows.find((r) => r.reachable)!.lastExecuted} with the same state digest`
      : `${sum.agreeing.length} replicas (${sum.agreeing.join(', ')}) agree on lastExecuted and state digest; others differ (catching up, or faulty)`;
    const paused = sum.paused.length ? `; ${sum.paused.length} paused` : '';
    lines.push(`${sum.reachable}/${sum.n} up and answering (quorum ${sum.quorum}${paused}), view ${sum.view}: ${agree}.`);
  }
  for (const w of sum.warnings) lines.push(warn(`warning: ${w}.`));
  for (const a of sum.advice) lines.push(`  ${a.charAt(0).toUpperCase()}${a.slice(1)}`);
  return lines.join('\n');
}

/** The --json form of pbft status: the summary (health, exitCode...) and one object per replica. */
export function statusReport(sum: StatusSummary, rows: ReplicaRow[]): Record<string, unknown> {
  return {
    ok: sum.health === 'healthy',
    ...sum,
    replicas: rows.map(({ status, ...r }) => ({
      ...r,
      ...(status
        ? { ready: status.ready, inboundPeers: status.inboundPeers, uptimeMs: status.uptimeMs, wal: status.wal, faultInjection: status.faults?.enabled }
        : {}),
    })),
  };
}
