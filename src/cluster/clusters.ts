/**
 * Several clusters, and one cluster's configuration:
 *
 * - `pbft ls [DIR]`: the clusters in DIR and its subdirectories, with their state;
 * - `pbft config`: the configuration in force (cluster.json with each replica's replica.json
 *   overrides and their defaults applied), with the key files named but never their contents.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { quorums } from '../core/quorum.js';
import { DEFAULT_HEAP_GROWTH_PERCENT, loadCluster, loadReplicaOverrides, type ClusterConfig, type LoadedCluster } from '../runtime/config.js';
import { LEDGER_MAX_BYTES, LEDGER_SEGMENT_BYTES } from '../runtime/ledger.js';
import { describeError, isPbftError } from '../errors.js';
import { replicaRunState } from './fault-state.js';
import { discoverReplicaIds, replicaProcessState } from './processes.js';
import { table, type Palette } from './format.js';
import { shortPath } from './format-ps.js';

// ---------------------------------------------------------------------------------------
// pbft ls
// ---------------------------------------------------------------------------------------

export type ClusterState = 'up' | 'partial' | 'down' | 'invalid';

export interface ClusterEntry {
  /** absolute directory */
  dir: string;
  /** cluster.json's name (null when it cannot be read) */
  name: string | null;
  n: number | null;
  f: number | null;
  host: string | null;
  ports: number[];
  /** replicas with a live process (paused ones included) */
  running: number[];
  paused: number[];
  /** up: every replica runs; partial: some do; down: none; invalid: cluster.json does not load */
  state: ClusterState;
  /** why it is invalid */
  error?: string;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function hasConfig(dir: string): Promise<boolean> {
  try {
    return (await stat(path.join(dir, 'cluster.json'))).isFile();
  } catch {
    return false;
  }
}

/** One cluster directory, as pbft ls shows it. */
export async function describeClusterDir(dir: string): Promise<ClusterEntry> {
  const abs = path.resolve(dir);
  let cluster: LoadedCluster;
  try {
    cluster = await loadCluster(abs);
  } catch (e) {
    const ids = await discoverReplicaIds(abs);
    const states = await Promise.all(ids.map((id) => replicaProcessState(abs, id)));
    return {
      dir: abs,
      name: null,
      n: null,
      f: null,
      host: null,
      ports: [],
      running: states.filter((s) => s.running).map((s) => s.id),
      paused: [],
      state: 'invalid',
      error: isPbftError(e) ? e.message : describeError(e),
    };
  }
  const runs = await Promise.all(cluster.config.replicas.map((r) => replicaRunState(cluster, r.id)));
  const running = runs.filter((r) => r.pid !== null).map((r) => r.id);
  const n = cluster.config.replicas.length;
  const hosts = [...new Set(cluster.config.replicas.map((r) => r.host))];
  return {
    dir: abs,
    name: cluster.config.name,
    n,
    f: cluster.params.f,
    host: hosts.length === 1 ? hosts[0]! : hosts.join(','),
    ports: cluster.config.replicas.map((r) => r.port),
    running,
    paused: runs.filter((r) => r.state === 'paused').map((r) => r.id),
    state: running.length === 0 ? 'down' : running.length === n ? 'up' : 'partial',
  };
}

/**
 * The clusters in `parent` (a directory holding cluster.json) and in its subdirectories down
 * to `depth` levels (default 2, so ./a/pbft-cluster is found from .). Sorted by directory.
 */
export async function listClusters(parent: string, o: { depth?: number; max?: number } = {}): Promise<ClusterEntry[]> {
  const root = path.resolve(parent);
  const found: string[] = [];
  const max = o.max ?? 1000;
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (found.length >= max) return;
    if (await hasConfig(dir)) {
      found.push(dir);
      return; // a cluster's own subdirectories (keys, replicas) hold no clusters
    }
    if (depth === 0) return;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      if (name.startsWith('.') || name === 'node_modules') continue;
      const p = path.join(dir, name);
      if (await isDir(p)) await walk(p, depth - 1);
    }
  };
  await walk(root, o.depth ?? 2);
  return Promise.all(found.sort().map((d) => describeClusterDir(d)));
}

// ---------------------------------------------------------------------------------------
// pbft config
// ---------------------------------------------------------------------------------------

/** The defaults of replica.json (src/runtime/replica-node.ts and phaselog.ts apply them; heapGrowthPercent: processes.ts). */
export const REPLICA_DEFAULTS = {
  fsync: true,
  faultInjection: true,
  phaseLog: true,
  phaseLogMaxBytes: 64 * 1024 * 1024,
  ledgerSegmentBytes: LEDGER_SEGMENT_BYTES,
  ledgerMaxBytes: LEDGER_MAX_BYTES,
  heapGrowthPercent: DEFAULT_HEAP_GROWTH_PERCENT,
} as const;

export interface KeyFileInfo {
  path: string;
  present: boolean;
  /** file mode, e.g. "0600" (null when absent) */
  mode: string | null;
}

export interface EffectiveReplica {
  id: number;
  host: string;
  port: number;
  publicKey: string;
  key: KeyFileInfo;
  /** replica.json with the defaults filled in */
  settings: {
    fsync: boolean;
    faultInjection: boolean;
    phaseLog: boolean;
    phaseLogMaxBytes: number;
    ledgerSegmentBytes: number;
    ledgerMaxBytes: number;
    heapGrowthPercent: number;
  };
  /** the fields that replica.json sets (the rest are defaults) */
  overridden: string[];
  /** does this replica accept fault commands (cluster.json and replica.json both allow it)? */
  faultInjection: boolean;
  /** a replica.json that does not load (the replica would not start) */
  error?: string;
}

export interface EffectiveConfig {
  dir: string;
  file: string;
  name: string;
  n: number;
  f: number;
  /** 2f+1 and f+1 */
  quorum: number;
  replyQuorum: number;
  protocol: ClusterConfig['protocol'];
  crypto: ClusterConfig['crypto'];
  runtime: ClusterConfig['runtime'];
  openClients: boolean;
  faultInjection: boolean;
  operator: { publicKey: string; key: KeyFileInfo };
  clients: { id: string; publicKey: string; key: KeyFileInfo }[];
  replicas: EffectiveReplica[];
}

async function keyInfo(file: string): Promise<KeyFileInfo> {
  try {
    const st = await stat(file);
    return { path: file, present: st.isFile(), mode: (st.mode & 0o777).toString(8).padStart(4, '0') };
  } catch {
    return { path: file, present: false, mode: null };
  }
}

/** The configuration in force. Secret keys are named (path, present, mode), never read. */
export async function effectiveConfig(cluster: LoadedCluster): Promise<EffectiveConfig> {
  const c = cluster.config;
  const q = quorums(cluster.params.n, cluster.params.f);
  const replicas = await Promise.all(
    c.replicas.map(async (r): Promise<EffectiveReplica> => {
      let overrides: Record<string, unknown> = {};
      let error: string | undefined;
      try {
        overrides = { ...(await loadReplicaOverrides(cluster, r.id)) };
        delete overrides.$comment;
      } catch (e) {
        error = isPbftError(e) ? e.message : describeError(e);
      }
      const settings = { ...REPLICA_DEFAULTS, ...overrides } as EffectiveReplica['settings'];
      return {
        id: r.id,
        host: r.host,
        port: r.port,
        publicKey: r.publicKey,
        key: await keyInfo(cluster.paths.replicaKey(r.id)),
        settings,
        overridden: Object.keys(overrides).filter((k) => (overrides[k] as unknown) !== (REPLICA_DEFAULTS as Record<string, unknown>)[k]),
        faultInjection: c.faultInjection && settings.faultInjection,
        ...(error ? { error } : {}),
      };
    }),
  );
  return {
    dir: cluster.dir,
    file: cluster.paths.config,
    name: c.name,
    n: cluster.params.n,
    f: cluster.params.f,
    quorum: q.quorum,
    replyQuorum: q.weak,
    // (batchHoldMs is optional in cluster.json: the value in force)
    protocol: { ...c.protocol, batchHoldMs: cluster.params.batchHoldMs },
    crypto: c.crypto,
    runtime: c.runtime,
    openClients: c.openClients,
    faultInjection: c.faultInjection,
    operator: { publicKey: c.operator.publicKey, key: await keyInfo(cluster.paths.operatorKey) },
    clients: await Promise.all(c.clients.map(async (x) => ({ id: x.id, publicKey: x.publicKey, key: await keyInfo(cluster.paths.clientKey(x.id)) }))),
    replicas,
  };
}

// ---------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------

/** "7000-7003" for consecutive ports, else a comma list. */
export function formatPorts(ports: readonly number[]): string {
  if (ports.length === 0) return '-';
  const consecutive = ports.every((p, i) => i === 0 || p === ports[i - 1]! + 1);
  return consecutive && ports.length > 1 ? `${ports[0]}-${ports[ports.length - 1]}` : ports.join(',');
}

export function formatClusterList(rows: ClusterEntry[], p: Palette, cwd = process.cwd()): string {
  if (rows.length === 0) return '(no cluster here: a cluster is a directory with a cluster.json; create one with pbft init)';
  const state = (r: ClusterEntry) =>
    r.state === 'up'
      ? p.paint('32', 'up')
      : r.state === 'partial'
        ? p.paint('33', 'partial')
        : r.state === 'invalid'
          ? p.paint('31', 'invalid')
          : p.paint('2', 'down');
  const lines = [
    table(
      ['directory', 'name', 'replicas', 'state', 'running', 'address'],
      rows.map((r) => [
        shortPath(r.dir, cwd) || '.',
        r.name ?? '-',
        r.n !== null ? `${r.n} (f=${r.f})` : '-',
        state(r),
        r.n !== null ? `${r.running.length}/${r.n}${r.paused.length ? ` (${r.paused.length} paused)` : ''}` : r.running.length ? String(r.running.length) : '-',
        r.host !== null ? `${r.host}:${formatPorts(r.ports)}` : '-',
      ]),
      ['l', 'l', 'r', 'l', 'r', 'l'],
    ),
  ];
  for (const r of rows) if (r.error) lines.push(p.paint('31', `${shortPath(r.dir, cwd)}: ${r.error}`));
  return lines.join('\n');
}

function keyLine(k: KeyFileInfo, cwd: string): string {
  return k.present ? `${shortPath(k.path, cwd)} (mode ${k.mode})` : `${shortPath(k.path, cwd)} (MISSING)`;
}

export function formatEffectiveConfig(e: EffectiveConfig, p: Palette, cwd = process.cwd()): string {
  const h = (s: string) => p.paint('1', s);
  const kv = (pairs: [string, string | number | boolean][]) => pairs.map(([k, v]) => `  ${k.padEnd(24)} ${v}`);
  const lines: string[] = [
    `${h('cluster')} ${e.name} in ${shortPath(e.dir, cwd) || '.'} (${shortPath(e.file, cwd)})`,
    ...kv([
      ['replicas', `n = ${e.n}, tolerating f = ${e.f} (quorums of ${e.quorum}; replies needed: ${e.replyQuorum})`],
      ['crypto', e.crypto],
      ['openClients', e.openClients],
      ['faultInjection', e.faultInjection],
    ]),
    '',
    h('protocol'),
    ...kv(Object.entries(e.protocol) as [string, number][]),
    '',
    h('runtime'),
    ...kv(Object.entries(e.runtime) as [string, number][]),
    '',
    h('replicas') + p.paint('2', '  (replica.json settings; * = set there, the rest are defaults)'),
    table(
      ['id', 'address', 'public key', 'fsync', 'faults', 'phaseLog', 'phaseLogMaxBytes', 'heap %', 'secret key'],
      e.replicas.map((r) => {
        const mark = (k: string, v: string) => (r.overridden.includes(k) ? `${v}*` : v);
        return [
          String(r.id),
          `${r.host}:${r.port}`,
          `${r.publicKey.slice(0, 16)}…`,
          mark('fsync', String(r.settings.fsync)),
          r.faultInjection ? mark('faultInjection', 'on') : mark('faultInjection', 'off'),
          mark('phaseLog', String(r.settings.phaseLog)),
          mark('phaseLogMaxBytes', String(r.settings.phaseLogMaxBytes)),
          mark('heapGrowthPercent', String(r.settings.heapGrowthPercent)),
          keyLine(r.key, cwd),
        ];
      }),
      ['r', 'l', 'l', 'l', 'l', 'l', 'r', 'r', 'l'],
    )
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
    '',
    h('clients'),
    ...(e.clients.length ? e.clients.map((c) => `  ${c.id.padEnd(24)} ${c.publicKey.slice(0, 16)}…  ${keyLine(c.key, cwd)}`) : ['  (none configured)']),
    '',
    h('operator'),
    `  ${'publicKey'.padEnd(24)} ${e.operator.publicKey.slice(0, 16)}…  ${keyLine(e.operator.key, cwd)}`,
  ];
  for (const r of e.replicas) if (r.error) lines.push(p.paint('31', `replica ${r.id}: ${r.error}`));
  lines.push('', p.paint('2', 'Secret keys are named, never shown. Public keys in full: pbft config --json.'));
  return lines.join('\n');
}
